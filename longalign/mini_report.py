"""``longbench train mini-report``: the reproduction report of the miniature zoo (``docs/miniature.md``).

One command evaluates the world's reference models (``mini:oracle``, the ceiling, ``mini:clip77``, what a
77-position window can know, and ``mini:random``, the chance level) and every generator the zoo holds
(``mini:sd``, ``mini:longsd``, ``mini:naive``, ``mini:reward-w0``, ``mini:reward-w03``, ``mini:reward-w1``) on
the test split of the zoo's layout (``mini-v0`` for ``free``, ``mini-v1`` for ``homes``; :func:`longbench.mini.
zoo.suite_name`) through the evaluation API (:func:`longbench.evaluate.evaluate`), with the exact metric ``mini``,
``denscore`` on ``mini:denscore``, ``clipscore`` / ``segment-align`` on ``mini:clip`` and ``fid-clip`` on
``mini:clip``, and writes a Markdown report: the setup, one table per claim and a verdict per claim computed
from the numbers.

The claims, the statistics behind each number's interval and the verdict rules live in
:mod:`longalign.mini_claims`.

The FID reference is ``fid-clip``'s ``ref_model=mini:oracle``: the exact renderer's images of all 200 items of
that split, drawn with a seed stream apart from the runs' own, so ``mini:oracle``'s FID is the floor set by finite
samples and slot arrangements rather than 0, and the reference does not change with ``--limit``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from longalign.mini_claims import (
    CLAIMS,
    FID,
    N_RESAMPLES,
    Comparison,
    Estimate,
    FIDBootstrap,
    Test,
    claim_verdict,
    paired_difference,
)
from longbench.errors import LongbenchError

logger = logging.getLogger(__name__)

DEFAULT_OUT = "docs/miniature.md"
DEFAULT_RUNS = "runs/mini-report"
#: the world's reference models (no weights): the ceiling, the 77-position window and chance (a scene drawn
#: from the seed alone, ignoring the prompt)
WORLD_MODELS = ("oracle", "clip77", "random")
#: zoo models the report cannot run without: the learned metrics' weights and the generators' base
REQUIRED = ("clip", "denscore", "base")
METRICS = ("mini", "denscore", "clipscore", "segment-align", "fid-clip")
#: the FID reference set: the exact renderer's images of every item of the split (fid-clip's ``ref_model``)
REFERENCE_MODEL = "mini:oracle"
#: the exact columns, then the learned ones, as the report's tables show them
EXACT_COLUMNS = ("fact_recall", "fact_recall@<=77", "fact_recall@>77", "count_acc", "binding_acc", "position_acc")
LEARNED_COLUMNS = ("denscore", "denscore-o", "clipscore", "segment-align-mean", FID)



# ---------------------------------------------------------------------------------------------- runs
@dataclass
class ModelRun:
    """One evaluated model: its results, per-item scores (column → item id → score) and image files."""

    name: str
    results: dict[str, Any]
    scores: dict[str, dict[str, float | None]]
    images: dict[str, Path]

    def estimate(self, column: str) -> Estimate | None:
        m = self.results["metrics"].get(column)
        if m is None:
            return None
        ci = m.get("ci")
        return Estimate(m.get("value"), tuple(ci) if ci else None, int(m.get("n") or 0))


@dataclass
class ReportData:
    """Everything the Markdown is made of (kept apart from rendering so verdicts are testable)."""

    zoo: Path
    seed: int
    limit: int | None
    suite: dict[str, Any]
    zoo_models: list[dict[str, Any]]
    missing: list[str]
    runs: dict[str, ModelRun]
    estimates: dict[str, dict[str, Estimate]]
    comparisons: dict[tuple[str, str, str], Comparison]
    fid_reference: dict[str, Any]
    sampling: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the FIDs recomputed from per-image features, with their resamples (None in hand-made data)
    fid: FIDBootstrap | None = None


def check_zoo(zoo: str | Path | None) -> tuple[Path, list[str], list[str]]:
    """The zoo root, the generators it holds and those it lacks.

    Raises:
        LongbenchError: the zoo is not a directory, or lacks a model of :data:`REQUIRED`.
    """
    from longbench.mini import zoo as Z

    root = Z.zoo_root(zoo)
    flag = "--zoo" if zoo is not None else "the shipped zoo"
    if not root.is_dir():
        raise LongbenchError(f"{flag} {root}: not a directory (a zoo has <name>/ or <name>/final/ per model; "
                             "build one with `longbench train mini-reproduce`)")

    def present(name: str) -> bool:
        try:
            Z.model_dir(name, root)
        except LongbenchError:
            return False
        return True

    lacking = [n for n in REQUIRED if not present(n)]
    if lacking:
        raise LongbenchError(f"{flag} {root}: not a usable miniature zoo: {', '.join(lacking)} missing (the report "
                             f"needs {', '.join(REQUIRED)})")
    have = [g for g in Z.GENERATORS if present(g)]
    return root, have, [g for g in Z.GENERATORS if g not in have]


def zoo_inventory(root: Path) -> list[dict[str, Any]]:
    """Per zoo model present: steps and wall time (from the zoo's ``manifest.json``, either layout), bytes and a
    sha256 over its files (sorted ``path sha256`` lines, so it names the content, not the layout's paths)."""
    from longbench import jsonio
    from longbench.mini import zoo as Z
    from longbench.weights import file_sha256

    manifest_path = root / "manifest.json"
    manifest = jsonio.read_json(manifest_path) if manifest_path.is_file() else {}
    entries = manifest.get("models") if isinstance(manifest, dict) else None
    entries = entries if isinstance(entries, dict) else {}
    out = []
    for name in Z.NAMES:
        try:
            d = Z.model_dir(name, root)
        except LongbenchError:
            continue
        files = sorted(p for p in d.rglob("*") if p.is_file())
        h = hashlib.sha256("".join(f"{p.relative_to(d).as_posix()} {file_sha256(p)}\n" for p in files).encode())
        e = entries.get(name) or {}
        out.append({"name": name, "stage": e.get("stage"), "steps": e.get("steps"), "wall_s": e.get("wall_s"),
                    "bytes": sum(p.stat().st_size for p in files), "sha256": h.hexdigest()})
    return out


def _read_samples(run_dir: Path) -> tuple[dict[str, dict[str, float | None]], dict[str, Path]]:
    from longbench import jsonio

    scores: dict[str, dict[str, float | None]] = {}
    images: dict[str, Path] = {}
    for _, rec in jsonio.read_jsonl(run_dir / "samples.jsonl"):
        images[rec["item_id"]] = Path(rec["image"])
        for col, v in (rec.get("scores") or {}).items():
            scores.setdefault(col, {})[rec["item_id"]] = v
    return scores, images


def feature_metric(options: Mapping[str, str], device: str = "cpu") -> Any:
    """``fid-clip`` built from ``options`` without a reference: its feature network gives the report the
    per-image features behind the FID intervals (the run's own metric keeps only sums)."""
    from longbench.options import build_options, option_values
    from longbench.registry import METRICS

    cls = METRICS.get(FID)
    opts = option_values(build_options(cls.Options, dict(options), f"metric {FID!r}"))
    for key in ("ref", "ref_model"):
        opts.pop(key, None)
    return cls(**opts).to(device)


def reference_features(metric: Any, suite: Any, seed: int) -> np.ndarray:
    """Per-image features of the FID reference set: the images ``fid-clip`` itself compares with under
    ``ref_model`` (:class:`longbench.metrics.fid_reference.ModelReference`, not cached here), captured as its
    statistics are computed."""
    import torch

    from longbench.metrics.fid_reference import ModelReference
    from longbench.metrics.functional import fid as F

    captured: list[np.ndarray] = []

    def statistics_of(images: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
        feats = _features(metric, list(images))
        captured.append(feats)
        t = torch.from_numpy(feats)
        mu, sigma = F.gaussian_from_moments(t.sum(0), t.T @ t, t.shape[0])
        return mu, sigma, t.shape[0]

    ModelReference(suite, REFERENCE_MODEL, seed, None, FID).statistics(FID, metric.feature_protocol(), statistics_of)
    return captured[0]


def _features(metric: Any, images: Sequence[Any]) -> np.ndarray:
    """Per-image features of ``metric``'s feature network, ``batch_size`` images at a time in order (the chunks
    the metric itself runs in a run, so the features are the run's). ``images``: PIL images or file paths."""
    from longbench.images import open_image, to_uint8_tensors

    rows = []
    for start in range(0, len(images), metric.batch_size):
        chunk = [open_image(x) if isinstance(x, (str, Path)) else x for x in images[start:start + metric.batch_size]]
        rows.append(metric.extractor(to_uint8_tensors(chunk, where=f"{FID} image")).cpu().numpy())
    return np.concatenate(rows).astype(np.float64)


def collect(zoo: str | Path | None = None, *, runs: str | Path = DEFAULT_RUNS, limit: int | None = None, seed: int = 0,
            device: str = "cpu", batch_size: int = 8, progress: Any = None) -> ReportData:
    """Evaluate the world's models and the zoo's generators (one :func:`~longbench.evaluate.evaluate` call) and
    compute every estimate and comparison."""
    from longbench.evaluate import evaluate
    from longbench.mini.zoo import suite_name
    from longbench.runner import EvalConfig
    from longbench.suites.loaders import load_suite

    root, have, missing = check_zoo(zoo)
    suite = suite_name(root)
    if limit is not None and limit < 2:
        raise LongbenchError(f"--limit must be >= 2 (FID and every interval need two items), got {limit}")
    zoo_arg = str(root)
    clip_opts = {"model": "mini:clip", "zoo": zoo_arg}
    fid_opts = {**clip_opts, "ref_model": REFERENCE_MODEL}
    names = list(WORLD_MODELS) + have
    config = EvalConfig(
        models=[f"mini:{n}" for n in names], suite=suite, metrics=list(METRICS), model_args={"zoo": zoo_arg},
        metric_args={"denscore": {"model": "mini:denscore", "zoo": zoo_arg}, "clipscore": dict(clip_opts),
                     "segment-align": dict(clip_opts), FID: fid_opts},
        limit=limit, seed=seed, output=str(runs), device=device, batch_size=batch_size)
    ev = evaluate(config, progress=progress)
    model_runs: dict[str, ModelRun] = {}
    for name, out in zip(names, ev.runs):
        scores, images = _read_samples(out.run_dir)
        model_runs[name] = ModelRun(name, out.results, scores, images)
    item_ids = list(model_runs[WORLD_MODELS[0]].images)
    for name, r in model_runs.items():
        if list(r.images) != item_ids:
            raise RuntimeError(f"mini:{name} scored other items than mini:{WORLD_MODELS[0]}")

    metric = feature_metric(fid_opts, device)
    reference = reference_features(metric, load_suite(suite), seed)
    fid = FIDBootstrap({n: _features(metric, [r.images[i] for i in item_ids]) for n, r in model_runs.items()},
                       reference, seed=seed)
    estimates: dict[str, dict[str, Estimate]] = {}
    for name, r in model_runs.items():
        estimates[name] = {c: e for c in EXACT_COLUMNS + LEARNED_COLUMNS if (e := r.estimate(c)) is not None}
        run_fid = r.results["metrics"][FID]["value"]
        own = fid.estimate(name)
        if not math.isclose(own.value, run_fid, rel_tol=1e-6, abs_tol=1e-9):
            logger.warning("%s: FID from the report's features %.9g, the run's %.9g", name, own.value, run_fid)
        estimates[name][FID] = Estimate(run_fid, own.ci, own.n)

    comparisons: dict[tuple[str, str, str], Comparison] = {}
    for claim in CLAIMS:
        for t in claim.tests + claim.context:
            comparisons[(t.a, t.b, t.column)] = compare(t, model_runs, fid, seed=seed)
    first = model_runs[WORLD_MODELS[0]].results
    return ReportData(
        zoo=root, seed=seed, limit=limit, suite={**first["suite"], "n": first["n"]},
        zoo_models=zoo_inventory(root), missing=missing, runs=model_runs, estimates=estimates,
        comparisons=comparisons, fid_reference={"n": int(reference.shape[0]), "features": metric.feature_protocol()},
        sampling={n: r.results["model"].get("sampling") or {} for n, r in model_runs.items() if n in have}, fid=fid)


def compare(test: Test, runs: Mapping[str, ModelRun], fid: FIDBootstrap | None, *, seed: int) -> Comparison:
    """The comparison of ``test`` on the evaluated ``runs`` (missing models: a Comparison naming them)."""
    lacking = tuple(m for m in (test.a, test.b) if m not in runs)
    if lacking:
        return Comparison(test.a, test.b, test.column, test.expect, missing=lacking)
    if test.column == FID:
        if fid is None:
            raise LongbenchError("FID comparison without FID features")
        diff, ci, n = fid.difference(test.a, test.b)
    else:
        diff, ci, n = paired_difference(runs[test.a].scores.get(test.column, {}),
                                        runs[test.b].scores.get(test.column, {}), seed=seed)
    return Comparison(test.a, test.b, test.column, test.expect, diff, ci, n)



# ---------------------------------------------------------------------------------------------- Markdown
def fmt(x: float | None, signed: bool = False) -> str:
    """A number as the report prints it: 3 decimals (1 from 100 on; two significant digits below 0.001, so a
    small interval end that decides a verdict does not print as 0); ``n/a`` for none."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x != 0 and abs(x) < 0.001:
        text = f"{x:.1e}"
    else:
        text = f"{x:.3f}" if abs(x) < 100 else f"{x:.1f}"
    return f"+{text}" if signed and x >= 0 else text


def fmt_ci(ci: Sequence[float] | None) -> str:
    return "n/a" if ci is None else f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def _estimate_cell(e: Estimate | None) -> str:
    if e is None:
        return "-"
    return f"{fmt(e.value)} {fmt_ci(e.ci)}" if e.ci is not None else fmt(e.value)


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _model_rows(data: ReportData, models: Sequence[str], columns: Sequence[str]) -> list[list[str]]:
    rows = []
    for m in models:
        if m not in data.runs:
            rows.append([f"mini:{m}", *(["missing from the zoo"] + ["-"] * (len(columns) - 1))])
        else:
            rows.append([f"mini:{m}", *(_estimate_cell(data.estimates[m].get(c)) for c in columns)])
    return rows


def _stated(data: ReportData, column: str) -> bool:
    """Whether the suite states facts of the column's kind: the oracle scored any (mini-v1 states no places, so
    its quadrant columns are empty and left out of the tables)."""
    oracle = data.runs.get("oracle")
    e = oracle.estimate(column) if oracle is not None else None
    return e is None or e.n > 0  # a column the run does not have (FID's bootstrap) is always shown


def _comparison_rows(data: ReportData, tests: Sequence[Test], numbered: bool) -> list[list[str]]:
    rows = []
    for k, t in enumerate(tests, 1):
        c = data.comparisons[(t.a, t.b, t.column)]
        if c.missing:
            numbers = ["-", "-", "-"]
        else:
            numbers = [fmt(c.diff, signed=True), fmt_ci(c.ci), str(c.n)]
        rows.append(([str(k)] if numbered else []) + [f"{t.a} - {t.b}", f"`{t.column}`", *numbers,
                                                      {1: "> 0", -1: "< 0", 0: "0 (control)"}[t.expect], t.why,
                                                      f"{c.verdict}" + (f" ({', '.join(c.missing)} missing)"
                                                                        if c.missing else "")])
    return rows


def _sampling_text(sampling: Mapping[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in sampling.items()]
    return ", ".join(parts) if parts else "the checkpoint's defaults"


VERDICT_RULES = (
    "A verdict compares the 95% interval of a difference with 0 in the direction the claim expects: **holds** (the "
    "whole interval on the expected side), **does not hold** (the whole interval on the other side), **not "
    "distinguishable** (the interval contains 0), **not evaluated** (a model the test needs is missing from the "
    "zoo). Tests combine with three-valued AND / OR (a failed part fails an AND, a holding part makes an OR hold); "
    "there is no correction for multiple comparisons.")


def render(data: ReportData, command: str) -> str:
    """The report as Markdown (a pure function of ``data`` and ``command``: no dates, no timings)."""
    import longbench

    s = data.suite
    scored = f"`--limit {data.limit}`" if data.limit is not None else "all"
    feats = data.fid_reference["features"]
    lines = [
        "# LongAlign in miniature: the reproduction report", "",
        (f"Generated by `{command}` (longbench {longbench.__version__}). Every number, interval and verdict below "
         "is computed by that command from the zoo and the seed; nothing is written by hand. How to regenerate it "
         "and how long it takes: [docs/mini.md](mini.md#the-reproduction-report)."), "",
        "## Verdicts", ""]
    lines += _table(["claim", "verdict"], [[c.title, f"**{claim_verdict(c, data.comparisons)[0]}**"] for c in CLAIMS])
    lines += ["", VERDICT_RULES, "", "## Setup", "",
              (f"- World: suite `{s['name']}` v{s['version']} (sha256 `{s['sha256'][:16]}`), {s['n']} items scored "
               f"({scored}), global seed {data.seed} (per-item seeds derive from it, so a limited run draws the "
               "same images as a full one)."),
              f"- Zoo: {_zoo_name(data.zoo)}:", ""]
    zoo_rows = [[f"`{m['name']}`", m["stage"] or "-", m["steps"] if m["steps"] is not None else "-",
                 f"{m['wall_s']:.0f} s" if m["wall_s"] is not None else "-", f"{m['bytes'] / 1e6:.2f} MB",
                 f"`{m['sha256'][:12]}`"] for m in data.zoo_models]
    lines += _table(["model", "stage", "steps", "training wall time", "size", "sha256 (files)"], zoo_rows)
    lines += ["", ("sha256 (files): of the sorted `path sha256` lines of the model's files (their content, "
                   "whatever the layout). Steps and wall time: the zoo's `manifest.json`."), ""]
    if data.missing:
        lines.append(f"- **Missing generators**: {', '.join(f'`mini:{m}`' for m in data.missing)}. The zoo does not "
                     "hold them: their rows read *missing from the zoo* and the tests that need them are *not "
                     "evaluated*.")
    else:
        lines.append("- Every generator of the zoo contract is present.")
    for name, sampling in data.sampling.items():
        lines.append(f"- `mini:{name}` sampler: {_sampling_text(sampling)}.")
    lines += [
        ("- Metrics: `mini` (the exact reader: fact recall, counts, colour binding, quadrants; `@<=77` / `@>77`: "
         "facts whose every token lies within / beyond 77 positions); `denscore` (text-relevant part) and "
         "`denscore-o` (original score), x100, on `mini:denscore`; `clipscore` and `segment-align` on `mini:clip`; "
         f"`fid-clip`: FID on the image features of `mini:clip` ({feats.get('feature_dim', '?')} dimensions)."),
        (f"- FID reference (`fid-clip.ref_model={REFERENCE_MODEL}`): the exact renderer's images of all "
         f"{data.fid_reference['n']} `{s['name']}` items, drawn with a seed stream apart from the runs' own (other "
         "slot arrangements), so `mini:oracle`'s FID is the floor that finite samples and arrangements leave, not "
         "0. FID is biased upward with few images (below the feature dimension the covariance is singular): "
         "compare FIDs of the same items only."),
        (f"- Intervals: per-sample columns carry the run's 95% percentile bootstrap over items ({N_RESAMPLES} "
         f"resamples, seed {data.seed}); a difference of two models is the mean per-item difference over the items "
         "where both have a value, with a paired percentile bootstrap over items. FID has no per-sample score: "
         f"{N_RESAMPLES} resamples of the scored items (the same draw for every model) and of the reference set "
         "recompute FID from per-image features, and an FID or a difference of FIDs gets value -/+ 1.96 x the "
         "standard deviation of its resampled values (a single FID cut at 0). Not a percentile interval: a "
         "resample repeats images, which raises FID, so resampled FIDs sit above the value. The FID value is the "
         "run's."), ""]

    order = list(WORLD_MODELS) + [m for m in _generators() if m in data.runs or m in data.missing]
    exact = [c for c in EXACT_COLUMNS if _stated(data, c)]
    lines += ["## All models", "", "Exact metrics (higher is better):", ""]
    lines += _table(["model", *(f"`{c}`" for c in exact)], _model_rows(data, order, exact))
    lines += ["", "Learned metrics (higher is better, except `fid-clip`):", ""]
    lines += _table(["model", *(f"`{c}`" for c in LEARNED_COLUMNS)], _model_rows(data, order, LEARNED_COLUMNS))
    lines.append("")
    header = ["#", "difference", "column", "value", "95% CI", "n", "expected", "meaning", "result"]
    for claim in CLAIMS:
        lines += [f"## {claim.title}", "", claim.question, ""]
        lines += _table(["model", *(f"`{c}`" for c in claim.columns)], _model_rows(data, claim.models, claim.columns))
        lines += ["", "Tests:", ""]
        lines += _table(header, _comparison_rows(data, claim.tests, numbered=True))
        context = [t for t in claim.context if _stated(data, t.column)]
        if context:
            lines += ["", "Context (not part of the verdict):", ""]
            lines += _table(header[1:], _comparison_rows(data, context, numbered=False))
        lines += ["", f"**Verdict: {claim_verdict(claim, data.comparisons)[0]}** (rule: {claim.rule_text}).", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _generators() -> tuple[str, ...]:
    from longbench.mini import zoo as Z

    return Z.GENERATORS


def _zoo_name(zoo: Path) -> str:
    """The shipped zoo by name (its path depends on where the package is installed), another by its path."""
    from longbench.mini.zoo import ZOO_DIR

    return "the shipped zoo (`longbench/mini/weights`)" if zoo.resolve() == ZOO_DIR.resolve() else f"`{zoo}`"


def report_command(zoo: str | Path | None, out: str | Path, limit: int | None, seed: int) -> str:
    """The command line that regenerates the report (written into it)."""
    parts = ["longbench train mini-report"]
    if zoo is not None:
        parts.append(f"--zoo {zoo}")
    if str(out) != DEFAULT_OUT:
        parts.append(f"--out {out}")
    if limit is not None:
        parts.append(f"--limit {limit}")
    parts.append(f"--seed {seed}")
    return " ".join(parts)


def write_report(zoo: str | Path | None = None, out: str | Path = DEFAULT_OUT, *, limit: int | None = None,
                 seed: int = 0, runs: str | Path = DEFAULT_RUNS, device: str = "cpu", batch_size: int = 8,
                 progress: Any = None) -> tuple[Path, ReportData]:
    """Evaluate (:func:`collect`) and write the report to ``out`` atomically; return its path and the data.

    Raises:
        LongbenchError: a bad zoo, ``--out`` or ``--runs`` (checked before anything is evaluated), or a failure
            of a run.
    """
    from longbench.fileio import atomic_write_text, check_writable

    command = report_command(zoo, out, limit, seed)
    path = check_writable(out, "--out", directory=False)
    data = collect(zoo, runs=runs, limit=limit, seed=seed, device=device, batch_size=batch_size, progress=progress)
    atomic_write_text(path, render(data, command))
    return path, data
