"""Meta-evaluation of metrics on the miniature world (``longbench meta-eval``): does a metric rank images
the way their exact fact recall does, and does it still when the broken facts lie beyond CLIP's 77
positions?

Protocol (docs/mini.md, "Meta-evaluation"):

* **Sides.** Each fact of an item is ``in`` (every token stating it lies inside 77 positions: the split of
  the ``mini`` metric's ``@<=77`` columns) or ``beyond``.
* **Ladders.** For every item and side, images with k = 0..K of that side's facts broken, by the rules of
  ``mini:corrupt-K`` (``World.corrupt_scene`` with a fact filter): the side's facts are shuffled with the
  item's request seed (the one ``longbench eval`` gives the item) and the first k are broken, so the set for
  k contains the set for k-1; every rung is rendered with that same seed (same object arrangement), so
  rung 0 is the ``mini:oracle`` image. An item with fewer than K facts on a side is left out of that
  side (counted as ``skipped``), so every level of a side averages the same items. Breaking a presence
  fact drops its group, so other facts of the group fail too, and breaking a fact of a group already
  dropped changes nothing: the exact recall of a ladder is non-increasing, not always strictly.
* **Truth.** The exact fact recall of every image (``mini`` metric, column ``fact_recall``: all of the
  item's facts, read back from the pixels).
* **Scoring.** Each rung of a side is scored like one model of ``longbench eval``: the metrics are built
  once on the whole suite (``build_metric``), reset before each rung, updated with its images in batches,
  and read with ``per_sample()``. Every per-image column of every metric is ranked; a lower-is-better
  column is negated first, so a positive tau always means agreement.
* **System level.** Per level k, the mean of the column over the side's items (NaN-ignoring) and the
  mean exact recall: Kendall's tau-b (``scipy.stats.kendalltau``) over the K+1 levels. CI: percentile
  bootstrap over items (the items are resampled, the means and tau recomputed).
* **Per prompt.** Per item, tau-b between the column and the exact recall over its K+1 rungs, averaged
  over items; CI: percentile bootstrap of that mean over items. A tau that is undefined (a column that is
  constant or missing along the ladder) counts as 0 and is reported as a count (``undefined``); so is a
  system-level tau (``undefined: true``).
* **Steps, by kind of fact.** Where a tau falls short, what it misses: over every step k-1 → k of every
  ladder where the exact recall drops (a step that breaks a fact of a group already dropped changes nothing
  and is left out) and the column is finite on both rungs, grouped by the type of the fact the step breaks
  (``World.corruption_order``): the number of steps, the share where the oriented column drops too
  (``right``), the share where it stays equal (``tied``) and its mean drop. No interval: a diagnostic.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from longbench import __version__
from longbench.errors import LongbenchError
from longbench.mini.world import MINI

if TYPE_CHECKING:
    from longbench.metrics.base import LongbenchMetric
    from longbench.runner import Progress
    from longbench.suites.base import Item, Suite
    from longbench.text.tokenizer import TokenCounter

logger = logging.getLogger(__name__)

SIDES = ("in", "beyond")
#: the metrics ranked when none is named
DEFAULT_METRICS = ("clipscore", "segment-align", "denscore")
#: meta-eval's defaults for these metrics' options: the miniature zoo's weights (``longbench.mini.zoo``);
#: the suite's option defaults and ``--metric-arg`` override them
DEFAULT_OPTIONS: dict[str, dict[str, str]] = {
    "clipscore": {"model": "mini:clip"},
    "segment-align": {"model": "mini:clip"},
    "denscore": {"model": "mini:denscore"},
}
#: the exact truth every column is ranked against
REFERENCE_METRIC, REFERENCE_COLUMN = "mini", "fact_recall"
CONFIDENCE = 0.95
OUTPUT_FILE = "meta_eval.json"
SCHEMA_VERSION = 1


@dataclass
class MetaEvalConfig:
    """Everything that defines a meta-evaluation (written into ``meta_eval.json``).

    Attributes:
        suite: a suite of the miniature world (name or JSONL file); None: the test split of the zoo's layout
            (``longbench.mini.zoo.suite_name``), the split its scorers were trained for.
        levels: K, the most facts broken per side (ladder 0..K).
        metrics: registry names; None: :data:`DEFAULT_METRICS`.
        metric_args: metric → option → value (``--metric-arg``), over :data:`DEFAULT_OPTIONS`.
        zoo: the zoo ``mini:<name>`` weights resolve in (``longbench.mini.zoo``); None: the shipped one.
        limit: only the first N items of the suite.
        seed: global seed: the items' request seeds (as in ``longbench eval``) and the bootstrap.
        n_bootstrap: bootstrap resamples of every interval.
        device: torch device of the metrics.
        batch_size: images per metric update.
    """

    suite: str | None = None
    levels: int = 4
    metrics: list[str] | None = None
    metric_args: dict[str, dict[str, str]] = field(default_factory=dict)
    zoo: str | None = None
    limit: int | None = None
    seed: int = 0
    n_bootstrap: int = 1000
    device: str = "cpu"
    batch_size: int = 64

    def validate(self) -> None:
        if self.levels < 1:
            raise LongbenchError(f"--levels must be >= 1, got {self.levels}")
        if self.limit is not None and self.limit < 1:
            raise LongbenchError(f"--limit must be >= 1, got {self.limit}")
        if self.seed < 0:
            raise LongbenchError(f"--seed must be >= 0, got {self.seed}")
        if self.n_bootstrap < 1:
            raise LongbenchError(f"--bootstrap must be >= 1, got {self.n_bootstrap}")
        if self.batch_size < 1:
            raise LongbenchError(f"batch_size must be >= 1, got {self.batch_size}")


# -- ladders --------------------------------------------------------------------------------------
def side_facts(item: Item, counter: TokenCounter | None = None) -> dict[str, list[int]]:
    """Indices of the item's facts per side: ``in`` (every token inside 77 positions) and ``beyond``."""
    from longbench.worlds.tokens import fact_last_tokens, visible

    inside = [visible(t) for t in fact_last_tokens(item, counter)]
    return {"in": [i for i, v in enumerate(inside) if v], "beyond": [i for i, v in enumerate(inside) if not v]}


def ladder_scene(item: Item, facts: Sequence[int], k: int, seed: int) -> Any:
    """The scene of rung ``k``: ``k`` of ``facts`` broken by the ``mini:corrupt-K`` rules."""
    return MINI.corrupt_scene(item, k, seed, facts=facts)


@dataclass(frozen=True)
class Ladder:
    """One item's ladder on one side: the facts that may be broken and the request seed."""

    item: Item
    facts: tuple[int, ...]
    seed: int


def step_kinds(ladder: Ladder, levels: int) -> list[str]:
    """The type of the fact broken at each step k-1 → k (k = 1..``levels``) of ``ladder``."""
    order = MINI.corruption_order(ladder.item, ladder.seed, ladder.facts)
    return [ladder.item.facts[i].type for i in order[:levels]]


def build_ladders(items: Sequence[Item], suite_name: str, seed: int, levels: int,
                  counter: TokenCounter | None = None) -> tuple[dict[str, list[Ladder]], dict[str, int]]:
    """Per side, the ladders of the items with at least ``levels`` facts on it, and the number skipped."""
    from longbench.models.base import request_seed

    ladders: dict[str, list[Ladder]] = {s: [] for s in SIDES}
    skipped = dict.fromkeys(SIDES, 0)
    for item in items:
        MINI.check_facts(item, MINI.item_scene(item))
        rseed = request_seed(seed, suite_name, item.id)
        for side, idx in side_facts(item, counter).items():
            if len(idx) >= levels:
                ladders[side].append(Ladder(item, tuple(idx), rseed))
            else:
                skipped[side] += 1
    return ladders, skipped


# -- statistics -----------------------------------------------------------------------------------
def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two equally long sequences (``scipy.stats.kendalltau``, rounded to 12 decimals);
    NaN when undefined (either sequence constant, or a NaN in either)."""
    from scipy.stats import kendalltau

    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"kendall_tau: shapes {a.shape} and {b.shape}")
    if a.size < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()) or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    # rounded: tau-b's square root leaves float noise (0.9999999999999999 for a perfect ranking)
    return round(float(kendalltau(a, b, variant="b").statistic), 12)


def _level_means(values: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # a level with no finite value is NaN, and so is the tau
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=0)


def system_tau(metric: np.ndarray, recall: np.ndarray) -> float:
    """Tau-b between the per-level means of ``metric`` (items × levels, NaN-ignoring) and of ``recall``."""
    return kendall_tau(_level_means(metric), recall.mean(axis=0))


def per_prompt_taus(metric: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """Per item (row), tau-b between its metric and its recall over the levels; NaN where undefined."""
    return np.array([kendall_tau(m, r) for m, r in zip(metric, recall)], dtype=np.float64)


def step_stats(metric: np.ndarray, recall: np.ndarray, kinds: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Per kind of fact broken, over the steps where ``recall`` drops and ``metric`` (oriented, items × levels)
    is finite on both rungs: ``{n, right, tied, mean_drop}`` (module docstring); ``kinds``: per item,
    :func:`step_kinds`."""
    drops: dict[str, list[float]] = {}
    for m, r, row in zip(metric, recall, kinds):
        for k, kind in enumerate(row, start=1):
            if r[k] < r[k - 1] and np.isfinite(m[k - 1]) and np.isfinite(m[k]):
                drops.setdefault(kind, []).append(float(m[k - 1] - m[k]))
    out = {}
    for kind, d in sorted(drops.items()):
        a = np.asarray(d)
        out[kind] = {"n": int(a.size), "right": float(np.mean(a > 0)), "tied": float(np.mean(a == 0)),
                     "mean_drop": float(a.mean())}
    return out


def _zero_nan(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def summarize(metric: np.ndarray, recall: np.ndarray, *, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """System-level and per-prompt tau of one column on one side, with bootstrap CIs over items.

    Args:
        metric: items × levels values of the column (oriented: higher is better).
        recall: items × levels exact fact recall.
        n_bootstrap: resamples per interval.
        seed: seed of the resampling.
    """
    from longbench.stats import bootstrap_ci, bootstrap_mean_ci

    n = metric.shape[0]
    if n == 0:
        return {"system": {"tau": None, "ci": None, "undefined": True, "by_level": []},
                "per_prompt": {"tau": None, "ci": None, "n": 0, "undefined": 0}}
    sys_tau = system_tau(metric, recall)
    sys_ci = bootstrap_ci(n, lambda idx: _zero_nan(system_tau(metric[idx], recall[idx])),
                          n_resamples=n_bootstrap, confidence=CONFIDENCE, seed=seed)
    taus = per_prompt_taus(metric, recall)
    undefined = int(np.isnan(taus).sum())
    mean, ci, _ = bootstrap_mean_ci(np.nan_to_num(taus, nan=0.0), n_resamples=n_bootstrap,
                                    confidence=CONFIDENCE, seed=seed)
    return {"system": {"tau": _zero_nan(sys_tau), "ci": sys_ci, "undefined": math.isnan(sys_tau),
                       "by_level": _level_means(metric).tolist()},
            "per_prompt": {"tau": mean, "ci": ci, "n": n, "undefined": undefined}}


# -- metrics --------------------------------------------------------------------------------------
def metric_options(config: MetaEvalConfig, suite: Suite, name: str) -> dict[str, Any]:
    """The options of metric ``name``: :data:`DEFAULT_OPTIONS`, over them the suite's option defaults, over
    those ``--metric-arg`` (as ``longbench eval`` layers the last two); every ``mini:<name>`` value is resolved
    to its directory (``zoo.resolve_weights``) in the metric's own ``zoo`` option, else in ``--zoo``."""
    from longbench.mini.zoo import resolve_weights

    opts = {**DEFAULT_OPTIONS.get(name, {}), **suite.metric_args.get(name, {}), **config.metric_args.get(name, {})}
    zoo = opts.get("zoo") or config.zoo
    return {k: resolve_weights(v, zoo) if isinstance(v, str) else v for k, v in opts.items()}


def metric_names(config: MetaEvalConfig) -> list[str]:
    """The metrics ranked (``--metric`` or the defaults), checked against the registry and ``--metric-arg``."""
    from longbench.registry import METRICS

    names = list(dict.fromkeys(config.metrics or DEFAULT_METRICS))
    for n in names:
        if n not in METRICS:
            raise METRICS.unknown(n)
    for n in config.metric_args:
        if n not in names:
            raise LongbenchError(f"--metric-arg for {n!r}, which is not among the metrics ranked ({', '.join(names)})")
    return names


def load_mini_suite(spec: str) -> Suite:
    """The suite, refused unless every item is a miniature item (one line naming ``--suite``)."""
    from longbench.suites.loaders import load_suite

    suite = load_suite(spec)
    for item in suite.items:
        if not isinstance(item.meta, dict) or MINI.scene_key not in item.meta:
            raise LongbenchError(f"--suite {spec}: meta-eval needs a suite of the miniature world such as "
                                 f"{MINI.suite} (item {item.id!r} has no meta.{MINI.scene_key})")
    return suite


# -- the run --------------------------------------------------------------------------------------
def meta_evaluate(config: MetaEvalConfig, progress: Progress | None = None,
                  metrics: dict[str, LongbenchMetric] | None = None) -> dict[str, Any]:
    """Render the ladders, score them and rank every column against the exact recall (module docstring).

    Args:
        config: the run.
        progress: progress hooks (``longbench.runner.Progress``); None: silent.
        metrics: already built metrics to rank instead of ``config.metrics`` (name → metric; the API's way
            to rank a metric that is not registered).

    Returns:
        The content of ``meta_eval.json`` (JSON-ready apart from NaN, which the writer turns into null).
    """
    from longbench.devices import check_device
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.mini.zoo import suite_name
    from longbench.results import to_json
    from longbench.runner import Progress
    from longbench.text.tokenizer import PromptLengths, TokenCounter

    t_start = time.perf_counter()
    config.validate()
    progress = progress or Progress()
    check_device(config.device)
    suite_spec = config.suite if config.suite is not None else suite_name(config.zoo)
    full = load_mini_suite(suite_spec)
    items = full.items if config.limit is None else full.head(config.limit).items
    counter = TokenCounter()
    ladders, skipped = build_ladders(items, full.name, config.seed, config.levels, counter)
    if not any(ladders.values()):
        raise LongbenchError(f"--levels {config.levels}: no item of {full.name} has that many facts on either "
                             "side of 77 positions; use a smaller K")

    if metrics is None:
        names = metric_names(config)
        options = {n: metric_options(config, full, n) for n in names}
        ctx = MetricContext(suite=full, device=config.device, seed=config.seed,
                            lengths=PromptLengths.of(items, counter), metric_kwargs={"sync_on_compute": False})
        ranked = {n: build_metric(n, ctx, options[n]) for n in names}
        make_reference = functools.partial(build_metric, REFERENCE_METRIC, ctx)
    else:
        from longbench.mini.metric import MiniFactsMetric

        options = {n: {} for n in metrics}
        ranked = dict(metrics)
        make_reference = MiniFactsMetric
    # the exact truth: the ranked `mini` metric when there is one, else one more instance of it
    scorers = ranked if REFERENCE_METRIC in ranked else {**ranked, REFERENCE_METRIC: make_reference()}

    logger.info("meta-eval: %d ladders in, %d beyond (%d and %d items with fewer than %d such facts skipped)",
                len(ladders["in"]), len(ladders["beyond"]), skipped["in"], skipped["beyond"], config.levels)
    values, render_s, score_s = _score(ladders, scorers, config, progress)
    t0 = time.perf_counter()
    results = _rank(ladders, ranked, values, config)
    sides_out: dict[str, Any] = {}
    for side in SIDES:
        recall = values[side].get(REFERENCE_METRIC, {}).get(REFERENCE_COLUMN)
        sides_out[side] = {
            "facts": "every token inside 77 positions" if side == "in" else "a token beyond 77 positions",
            "items": len(ladders[side]), "skipped": skipped[side],
            "fact_recall_by_level": recall.mean(axis=0).tolist() if recall is not None else []}
    stats_s = time.perf_counter() - t0
    return {
        "kind": "longbench-meta-eval", "schema_version": SCHEMA_VERSION, "longbench_version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "suite": full.info(), "config": {
            "suite": suite_spec, "levels": config.levels, "metrics": list(ranked), "metric_args":
            config.metric_args, "zoo": config.zoo, "limit": config.limit, "seed": config.seed,
            "n_bootstrap": config.n_bootstrap, "device": config.device, "batch_size": config.batch_size},
        "reference": {"metric": REFERENCE_METRIC, "column": REFERENCE_COLUMN},
        "bootstrap": {"n_resamples": config.n_bootstrap, "confidence": CONFIDENCE, "seed": config.seed,
                      "method": "percentile, items resampled"},
        "metrics": {n: {"options": {k: str(v) for k, v in options[n].items()}, "protocol": to_json(m.protocol())}
                    for n, m in ranked.items()},
        "sides": sides_out, "results": results,
        "images": sum(len(v) for v in ladders.values()) * (config.levels + 1),
        "timings": {"render_s": round(render_s, 3), "score_s": round(score_s, 3), "stats_s": round(stats_s, 3),
                    "total_s": round(time.perf_counter() - t_start, 3)},
    }


def _score(ladders: dict[str, list[Ladder]], scorers: dict[str, LongbenchMetric], config: MetaEvalConfig,
           progress: Progress) -> tuple[dict[str, dict[str, dict[str, np.ndarray]]], float, float]:
    """Render every rung and score it with every metric; side → metric → column → items × levels values, and
    the seconds spent rendering and scoring."""
    from longbench.images import as_image_batch
    from longbench.mini.render import Renderer

    renderer = Renderer()
    n_levels = config.levels + 1
    values: dict[str, dict[str, dict[str, np.ndarray]]] = {side: {} for side in SIDES}
    render_s = score_s = 0.0
    task = progress.start("meta-eval: render and score", sum(len(v) for v in ladders.values()) * n_levels)
    for side in SIDES:
        rows = ladders[side]
        for k in range(n_levels if rows else 0):
            for m in scorers.values():  # each rung is scored like one model of an eval run
                m.reset()
            for start in range(0, len(rows), config.batch_size):
                batch = rows[start:start + config.batch_size]
                t0 = time.perf_counter()
                images = [renderer.render(ladder_scene(r.item, r.facts, k, r.seed), r.seed) for r in batch]
                t1 = time.perf_counter()
                image_batch = as_image_batch(images, device=config.device)
                batch_items = [r.item for r in batch]
                for m in scorers.values():
                    m.update(image_batch, batch_items)
                render_s += t1 - t0
                score_s += time.perf_counter() - t1
                progress.advance(task, len(batch))
            t0 = time.perf_counter()
            for name, m in scorers.items():
                per = m.per_sample()
                if not per:
                    raise LongbenchError(f"metric {name!r} has no per-image scores: meta-eval ranks images")
                cols = values[side].setdefault(name, {})
                for col, vals in per.items():
                    cols.setdefault(col, np.full((len(rows), n_levels), np.nan))[:, k] = vals
            score_s += time.perf_counter() - t0
    progress.finish(task)
    return values, render_s, score_s


def _rank(ladders: dict[str, list[Ladder]], ranked: dict[str, LongbenchMetric],
          values: dict[str, dict[str, dict[str, np.ndarray]]], config: MetaEvalConfig) -> list[dict[str, Any]]:
    """One entry per ranked column and side: :func:`summarize` of the (oriented) column against the recall."""
    empty = np.zeros((0, config.levels + 1))
    kinds = {side: [step_kinds(lad, config.levels) for lad in rows] for side, rows in ladders.items()}
    results = []
    for name, m in ranked.items():
        for col in _columns(name, values):
            hib = bool(m.columns.get(col, True))
            for side in SIDES:
                if ladders[side]:
                    recall = values[side][REFERENCE_METRIC][REFERENCE_COLUMN]
                    raw = values[side][name][col]
                    oriented = raw if hib else -raw
                    stats = summarize(oriented, recall, n_bootstrap=config.n_bootstrap, seed=config.seed)
                    stats["system"]["by_level"] = _level_means(raw).tolist()  # as measured, not negated
                    stats["steps"] = step_stats(oriented, recall, kinds[side])
                else:
                    stats = summarize(empty, empty, n_bootstrap=config.n_bootstrap, seed=config.seed)
                    stats["steps"] = {}
                results.append({"metric": name, "column": col, "side": side, "higher_is_better": hib, **stats})
    return results


def _columns(name: str, values: dict[str, dict[str, dict[str, np.ndarray]]]) -> list[str]:
    """The columns metric ``name`` gave per-image scores for, in its order."""
    return list(dict.fromkeys(col for per_side in values.values() for col in per_side.get(name, {})))


def write_meta_eval(output: str | Path, result: dict[str, Any]) -> Path:
    """Write ``meta_eval.json`` into ``output`` atomically; returns its path."""
    from longbench.fileio import atomic_write_text
    from longbench.results import dumps

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / OUTPUT_FILE
    atomic_write_text(path, dumps(result))
    return path
