"""The runner: suite × model × metrics → results.json + samples.jsonl.

Per model: build one request per item (seed from global seed, suite and item id), take images from the
on-disk cache or generate the missing ones in batches (PNG writes on a background thread), stream every
batch through the metrics, then compute values, bootstrap CIs and prompt-length buckets and write the
results atomically. Under ``accelerate launch`` each process generates a shard of the missing images;
the main process then scores everything, so the numbers do not depend on the number of processes.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import platform
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from longbench import __version__
from longbench.errors import LongbenchError

logger = logging.getLogger(__name__)

DEFAULT_METRICS = ("clipscore", "denscore", "segment-align", "count")
SYNTH_METRICS = ("synth",)


@dataclass
class EvalConfig:
    """Everything that defines an evaluation run (written into results.json)."""

    models: list[str] = field(default_factory=lambda: ["synth:oracle", "synth:clip77"])
    suite: str = "synth-v0"
    metrics: list[str] | None = None  # None: the suite's defaults
    model_args: dict[str, str] = field(default_factory=dict)
    metric_args: dict[str, dict[str, str]] = field(default_factory=dict)
    limit: int | None = None
    seed: int = 0
    batch_size: int = 8
    output: str = "runs"
    device: str = "cpu"
    n_bootstrap: int = 1000

    def validate(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise LongbenchError(f"--limit must be >= 1, got {self.limit}")
        if self.batch_size < 1:
            raise LongbenchError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.models:
            raise LongbenchError("no --model given")
        if self.seed < 0:
            raise LongbenchError(f"--seed must be >= 0, got {self.seed}")
        if self.n_bootstrap < 1:
            raise LongbenchError(f"n_bootstrap must be >= 1, got {self.n_bootstrap}")


class Progress:
    """Progress hooks; the CLI passes a rich implementation, the API default is silent."""

    def start(self, description: str, total: int) -> Any:
        return None

    def advance(self, task: Any, n: int = 1) -> None:
        pass

    def finish(self, task: Any) -> None:
        pass


@dataclass
class RunOutput:
    results: dict[str, Any]
    run_dir: Path
    images_generated: int
    images_cached: int


def default_metrics(suite: Any) -> list[str]:
    if any("scene" in it.meta for it in suite.items[:1]):
        return list(SYNTH_METRICS)
    return list(DEFAULT_METRICS)


def slug(text: str, max_len: int = 48) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return (s or "model")[:max_len]


def environment(device: str) -> dict[str, Any]:
    env: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(), "device": device}
    from importlib import metadata

    for pkg in ("torch", "diffusers", "transformers", "torchmetrics", "open_clip_torch", "numpy", "accelerate"):
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            env[pkg] = None
    return env


def _batches(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def _distributed_state() -> Any:
    """accelerate's PartialState when launched with more than one process, else None."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    # Without CUDA, accelerate joins the processes only when asked for CPU (gloo) explicitly.
    state = PartialState(cpu=not torch.cuda.is_available())
    return state if state.num_processes > 1 else None


class Runner:
    """Runs one EvalConfig. Use ``run()``; the CLI is a thin layer over it."""

    def __init__(self, config: EvalConfig, progress: Progress | None = None,
                 required_columns: dict[str, Sequence[str]] | None = None):
        config.validate()
        self.config = config
        self.progress = progress or Progress()
        # flag → metric columns it names (--fail-under, --max-regression): checked before any work
        self.required_columns = required_columns or {}
        self.output = Path(config.output)
        self.cache_root = self.output / "cache"
        self._lengths: dict[str, int] = {}  # item id → CLIP length, shared by all models of the run

    def prompt_lengths(self, suite: Any) -> dict[str, int]:
        """CLIP length (with start/end tokens) of every prompt, tokenized once per run."""
        if not self._lengths:
            from longbench.text.tokenizer import TokenCounter

            counts = TokenCounter().many([it.prompt for it in suite.items])
            self._lengths = {it.id: n + 2 for it, n in zip(suite.items, counts)}
        return self._lengths

    # -- setup -------------------------------------------------------------------------------
    def load_suite(self) -> Any:
        """The whole suite: metrics fix their suite-level constants on it, whatever ``--limit`` says."""
        from longbench.suites.loaders import load_suite

        return load_suite(self.config.suite)

    def scored_suite(self, suite: Any) -> Any:
        """The items generated and scored: the first ``--limit`` items of ``suite``, or all of them."""
        return suite.head(self.config.limit) if self.config.limit is not None else suite

    def metric_names(self, suite: Any) -> list[str]:
        from longbench.registry import METRICS

        names = list(self.config.metrics) if self.config.metrics else default_metrics(suite)
        for n in names:
            if n not in METRICS:
                raise METRICS.unknown(n)
        for n in self.config.metric_args:
            if n not in names:
                raise LongbenchError(f"--metric-arg for {n!r}, which is not among the metrics run ({', '.join(names)})")
        return names

    def planned_columns(self, metric_names: list[str]) -> dict[str, bool]:
        """Column → higher_is_better of every column the run will report, known before it runs."""
        from longbench.registry import METRICS

        cols: dict[str, bool] = {}
        for n in metric_names:
            cols.update(METRICS.get(n).output_columns(self.config.metric_args.get(n) or {}))
        return cols

    def run(self) -> list[RunOutput]:
        from longbench.devices import check_device
        from longbench.models.base import Request, build_model, request_seed

        check_device(self.config.device)

        full_suite = self.load_suite()
        suite = self.scored_suite(full_suite)
        metric_names = self.metric_names(suite)
        if any(self.required_columns.values()):  # flags naming columns: checked before any model loads
            check_columns(self.planned_columns(metric_names), self.required_columns)
        # Build every model first: a bad spec or argument fails before anything is generated.
        models = [build_model(spec, self.config.model_args) for spec in self.config.models]
        requests = [Request(item, request_seed(self.config.seed, suite.name, item.id)) for item in suite.items]
        for model in models:  # every model checks its inputs before any model runs
            model.prepare(requests)
        outputs = [self._run_model(suite, model, requests, metric_names, full_suite) for model in models]
        return [o for o in outputs if o is not None]  # other ranks of a multi-process run return nothing

    # -- one model ---------------------------------------------------------------------------
    def _run_model(self, suite: Any, model: Any, requests: list[Any], metric_names: list[str],
                   full_suite: Any = None) -> RunOutput | None:
        """Generate and score ``requests`` (the items of ``suite``, the scored part of ``full_suite``)."""
        from longbench.cache import BackgroundWriter, ImageCache

        t_start = time.perf_counter()
        cache = ImageCache(self.cache_root, model.identity_hash()) if model.cache_images else None
        state = _distributed_state()
        generated = 0
        gen_time = 0.0
        if cache is not None:
            if state is None or state.is_main_process:
                cache.sweep_temp_files()
            if state is not None:
                # Shard the full request list (not the missing ones: ranks check the cache at different
                # moments), then each rank makes what its shard still lacks.
                shard = requests[state.process_index::state.num_processes]
                missing = [r for r in shard if not cache.path(r).is_file()]
                if missing:
                    generated, gen_time = self._generate_into_cache(model, missing, cache)
            if state is not None:
                state.wait_for_everyone()
                if not state.is_main_process:
                    return None
        elif state is not None and not state.is_main_process:
            return None  # an uncached adapter (images:) is scored by the main process alone

        metrics = self._build_metrics(metric_names, suite if full_suite is None else full_suite)
        if state is not None:
            for m in metrics.values():
                # The main process holds every sample: nothing to gather (torchmetrics reads _to_sync).
                m.sync_on_compute = m._to_sync = False
        score_time = 0.0
        cached = 0
        sample_rows: list[dict[str, Any]] = []
        task_gen = self.progress.start(f"generate {model.spec}", len(requests))
        task_score = self.progress.start(f"score {model.spec}", len(requests))
        with BackgroundWriter() as writer:
            for batch in _batches(requests, self.config.batch_size):
                images: list[Any] = [None] * len(batch)
                if cache is not None:
                    for i, r in enumerate(batch):
                        images[i] = cache.load(r)
                todo = [i for i, im in enumerate(images) if im is None]
                cached += len(batch) - len(todo)
                if todo:
                    t0 = time.perf_counter()
                    new = model.generate([batch[i] for i in todo])
                    gen_time += time.perf_counter() - t0
                    if len(new) != len(todo):
                        raise LongbenchError(f"model {model.spec} returned {len(new)} images for {len(todo)} prompts")
                    for i, im in zip(todo, new):
                        images[i] = im
                        if cache is not None:
                            writer.submit(im, cache.path(batch[i]))
                    generated += len(todo)
                self.progress.advance(task_gen, len(batch))
                t0 = time.perf_counter()
                items = [r.item for r in batch]
                for m in metrics.values():
                    m.update(images, items)
                score_time += time.perf_counter() - t0
                self.progress.advance(task_score, len(batch))
                for r in batch:
                    path = cache.path(r) if cache is not None else model.image_path(r)
                    sample_rows.append({"item_id": r.item_id, "seed": r.seed, "image": str(Path(path).resolve())})
        self.progress.finish(task_gen)
        self.progress.finish(task_score)

        t0 = time.perf_counter()
        results = self._assemble(suite, model, metrics, sample_rows)
        score_time += time.perf_counter() - t0
        results["timings"] = {
            "generate_s": round(gen_time, 3), "score_s": round(score_time, 3),
            "total_s": round(time.perf_counter() - t_start, 3),
            "images_generated": generated, "images_cached": cached,
        }
        run_dir = self.run_dir(suite, model)
        from longbench.results import write_results

        write_results(run_dir, results, sample_rows)
        return RunOutput(results, run_dir, generated, cached)

    def _generate_into_cache(self, model: Any, requests: list[Any], cache: Any) -> tuple[int, float]:
        from longbench.cache import BackgroundWriter

        t0 = time.perf_counter()
        with BackgroundWriter() as writer:
            for batch in _batches(requests, self.config.batch_size):
                for r, im in zip(batch, model.generate(batch)):
                    writer.submit(im, cache.path(r))
        return len(requests), time.perf_counter() - t0

    def _build_metrics(self, names: list[str], suite: Any) -> dict[str, Any]:
        """Metrics prepared on the whole ``suite`` (direction V, reference statistics...), never on the
        ``--limit`` subset, so a limited run scores each image exactly as the full run does."""
        from longbench.metrics.base import MetricContext, build_metric

        ctx = MetricContext(suite=suite, device=self.config.device, cache_dir=self.cache_root / "metrics",
                            seed=self.config.seed)
        return {n: build_metric(n, ctx, self.config.metric_args.get(n)) for n in names}

    def run_dir(self, suite: Any, model: Any) -> Path:
        name = f"{slug(model.spec)}__{model.identity_hash()[:8]}__s{self.config.seed}"
        if self.config.limit is not None:
            name += f"__limit{self.config.limit}"
        return self.output / slug(suite.name) / name

    # -- results -----------------------------------------------------------------------------
    def _assemble(self, suite: Any, model: Any, metrics: dict[str, Any],
                  sample_rows: list[dict[str, Any]]) -> dict[str, Any]:
        from longbench.stats import bootstrap_mean_ci
        from longbench.text.tokenizer import length_bucket

        by_id = {item_id: (n, length_bucket(n)) for item_id, n in self.prompt_lengths(suite).items()}
        buckets = [by_id[row["item_id"]][1] for row in sample_rows]
        for row in sample_rows:
            row["prompt_tokens"], row["bucket"] = by_id[row["item_id"]]
            row["scores"] = {}
            row["segments"] = {}
        seed = self.config.seed
        out_metrics: dict[str, Any] = {}
        protocols: dict[str, Any] = {}
        reports: dict[str, Any] = {}
        for name, metric in metrics.items():
            values = metric.compute()
            per_sample = metric.per_sample()
            groups = metric.compute_groups(buckets) if set(values) - set(per_sample) else {}
            protocols[name] = metric.protocol()
            segs = metric.per_segment()
            if segs is not None:
                for row, s in zip(sample_rows, segs):
                    row["segments"][name] = s
            # Optional hooks: per-image details for samples.jsonl (e.g. a judge's answers) and a run report.
            details = getattr(metric, "per_sample_details", None)
            if details is not None:
                for row, d in zip(sample_rows, details()):
                    row.setdefault("details", {})[name] = d
            report = getattr(metric, "report", None)
            if report is not None:
                reports[name] = report()
            for col, value in values.items():
                entry: dict[str, Any] = {"metric": name, "higher_is_better": bool(metric.columns.get(col, True))}
                if col in per_sample:
                    scores = per_sample[col]
                    mean, ci, n = bootstrap_mean_ci(scores, n_resamples=self.config.n_bootstrap, seed=seed)
                    entry.update(value=mean, ci=ci, n=n, by_bucket={})
                    for b in sorted(set(buckets)):
                        sub = [s for s, g in zip(scores, buckets) if g == b]
                        bm, bci, bn = bootstrap_mean_ci(sub, n_resamples=self.config.n_bootstrap, seed=seed)
                        if bn:
                            entry["by_bucket"][b] = {"value": bm, "ci": bci, "n": bn}
                    for row, s in zip(sample_rows, scores):
                        row["scores"][col] = None if s is None or (isinstance(s, float) and math.isnan(s)) else s
                else:
                    entry.update(value=float(value), ci=None, n=len(sample_rows), by_bucket={
                        b: {"value": float(g[col]), "ci": None, "n": buckets.count(b)}
                        for b, g in groups.items() if col in g})
                out_metrics[col] = entry
        return {
            "schema_version": 1,
            "longbench_version": __version__,
            "run_id": f"{suite.name}@{suite.sha256[:8]}/{model.identity_hash()[:8]}/s{seed}"
                      + (f"/limit{self.config.limit}" if self.config.limit is not None else ""),
            "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "suite": suite.info(),
            "model": {**model.identity(), "identity_hash": model.identity_hash()},
            "seed": seed,
            "limit": self.config.limit,
            "n": len(sample_rows),
            "metrics": out_metrics,
            "protocols": protocols,
            **({"reports": reports} if reports else {}),
            "bootstrap": {"n_resamples": self.config.n_bootstrap, "confidence": 0.95, "seed": seed,
                          "method": "percentile"},
            "config": asdict(self.config),
            "environment": environment(self.config.device),
        }


def run_eval(config: EvalConfig, progress: Progress | None = None,
             required_columns: dict[str, Sequence[str]] | None = None) -> list[RunOutput]:
    """Evaluate every model of ``config`` on its suite; returns one RunOutput per model.

    ``required_columns``: flag → the metric columns it names (e.g. ``{"--fail-under": ["denscore"]}``);
    a column the run's metrics do not produce is a LongbenchError before anything is generated.
    """
    return Runner(config, progress, required_columns).run()


def check_columns(planned: dict[str, bool], required: dict[str, Sequence[str]]) -> None:
    """Raise a LongbenchError naming the flag when it names a column that ``planned`` lacks."""
    import difflib

    for flag, cols in required.items():
        for col in cols:
            if col not in planned:
                close = difflib.get_close_matches(col, list(planned), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise LongbenchError(f"{flag} {col}: no such metric column{hint} (the metrics of this run report: "
                                     f"{', '.join(planned) or 'none'})")


def check_thresholds(results: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Failures of ``--fail-under`` thresholds: a higher-is-better column below its value, or a
    lower-is-better column (FID, MAE) above it. Unknown columns are a LongbenchError."""
    failures = []
    metrics = results["metrics"]
    for col, limit in thresholds.items():
        if col not in metrics:
            raise LongbenchError(f"--fail-under {col}: no such metric column (available: {', '.join(sorted(metrics))})")
        m = metrics[col]
        value = m["value"]
        bad = value is None or (isinstance(value, float) and math.isnan(value)) or (
            value < limit if m["higher_is_better"] else value > limit)
        if bad:
            op = "<" if m["higher_is_better"] else ">"
            failures.append(f"{results['model']['spec']}: {col} = {value} {op} {limit}")
    return failures
