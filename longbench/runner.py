"""The runner: suite × models × metrics → ``results.json`` + ``samples.jsonl`` per model.

Once per run: load the suite, choose the metrics (``--metric``, else the suite's declared defaults) and
check every column a gate names against the columns they declare, build every model (a bad spec or
argument fails before anything is generated), compute every prompt's CLIP length and length bucket, and
build each metric once (weights, suite constants such as Denscore's V or FID reference statistics).
Per model: reset the metrics, take the images from the model behind the image cache
(``longbench.generation``; under ``accelerate launch`` each process first fills its share of the cache and
the main process scores everything, so the numbers do not depend on the number of processes), stream each
batch, converted once to an image batch on the metric device, through the metrics on a scoring thread while
the next batch is made, then score (``longbench.scoring``) and write the results atomically
(``longbench.results``). Gates, leaderboard and viewer come after: ``longbench.evaluate``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench import __version__
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from longbench.generation import CachedModel
    from longbench.images import ImageBatch
    from longbench.metrics.base import LongbenchMetric
    from longbench.models.base import Model, Request
    from longbench.results import Results, SampleRecord, Timings
    from longbench.scoring import Scored
    from longbench.suites.base import Suite
    from longbench.text.tokenizer import PromptLengths

logger = logging.getLogger(__name__)

#: the metrics of a suite that declares none (``Suite.default_metrics``)
DEFAULT_METRICS = ("clipscore", "denscore", "segment-align", "count")


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
    #: batches made ahead (generated or read from the cache) on one worker thread while a batch is scored;
    #: 0 makes each batch in the runner's thread when it is needed. Results are the same either way.
    prefetch: int = 1

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
        if self.prefetch < 0:
            raise LongbenchError(f"--prefetch must be >= 0, got {self.prefetch}")


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


class Runner:
    """Runs one EvalConfig. Use ``run()``; ``longbench.evaluate`` and the CLI are layers over it."""

    def __init__(self, config: EvalConfig, progress: Progress | None = None,
                 required_columns: dict[str, Sequence[str]] | None = None):
        config.validate()
        self.config = config
        self.progress = progress or Progress()
        # flag → metric columns it names (--fail-under, --max-regression): checked before any work
        self.required_columns = required_columns or {}
        self.output = Path(config.output)
        self.cache_root = self.output / "cache"

    # -- setup -------------------------------------------------------------------------------
    def load_suite(self) -> Suite:
        """The whole suite: metrics fix their suite-level constants on it, whatever ``--limit`` says."""
        from longbench.suites.loaders import load_suite

        return load_suite(self.config.suite)

    def scored_suite(self, suite: Suite) -> Suite:
        """The items generated and scored: the first ``--limit`` items of ``suite``, or all of them."""
        return suite.head(self.config.limit) if self.config.limit is not None else suite

    def metric_names(self, suite: Suite) -> list[str]:
        """``--metric``, else the suite's declared defaults, else :data:`DEFAULT_METRICS`."""
        from longbench.registry import METRICS

        names = list(self.config.metrics or suite.default_metrics or DEFAULT_METRICS)
        for n in names:
            if n not in METRICS:
                raise METRICS.unknown(n)
        for n in self.config.metric_args:
            if n not in names:
                raise LongbenchError(f"--metric-arg for {n!r}, which is not among the metrics run ({', '.join(names)})")
        return names

    def metric_options(self, suite: Suite, name: str) -> dict[str, Any]:
        """The suite's option defaults for metric ``name`` overridden by ``--metric-arg``."""
        return {**suite.metric_args.get(name, {}), **self.config.metric_args.get(name, {})}

    def planned_columns(self, suite: Suite, metric_names: list[str]) -> dict[str, bool]:
        """Column → higher_is_better of every column the run will report, known before it runs."""
        from longbench.registry import METRICS

        cols: dict[str, bool] = {}
        for n in metric_names:
            cols.update(METRICS.get(n).output_columns(self.metric_options(suite, n)))
        return cols

    def build_metrics(self, names: list[str], suite: Suite, lengths: PromptLengths) -> dict[str, LongbenchMetric]:
        """Each metric once per run, prepared on the whole ``suite`` (direction V, reference statistics...),
        never on the ``--limit`` subset, so a limited run scores each image exactly as the full run does.
        Built with ``sync_on_compute=False``: the process that scores holds every sample."""
        from longbench.metrics.base import MetricContext, build_metric

        ctx = MetricContext(suite=suite, device=self.config.device, cache_dir=self.cache_root / "metrics",
                            seed=self.config.seed, lengths=lengths, metric_kwargs={"sync_on_compute": False})
        return {n: build_metric(n, ctx, self.metric_options(suite, n)) for n in names}

    def run(self) -> list[RunOutput]:
        from longbench.devices import check_device
        from longbench.gates import check_columns
        from longbench.generation import distributed_state
        from longbench.models.base import Request, build_model, request_seed
        from longbench.text.tokenizer import PromptLengths

        check_device(self.config.device)
        full_suite = self.load_suite()
        suite = self.scored_suite(full_suite)
        metric_names = self.metric_names(full_suite)
        if any(self.required_columns.values()):  # flags naming columns: checked before any model loads
            check_columns(self.planned_columns(full_suite, metric_names), self.required_columns)
        # Build every model first: a bad spec or argument fails before anything is generated.
        models = [build_model(spec, self.config.model_args) for spec in self.config.models]
        requests = [Request(item, request_seed(self.config.seed, suite.name, item.id)) for item in suite.items]
        for model in models:  # every model checks its inputs before any model runs
            model.prepare(requests)
        state = distributed_state()
        lengths = PromptLengths.of(suite.items)
        scoring = state is None or state.is_main_process  # other processes only generate
        metrics = self.build_metrics(metric_names, full_suite, lengths) if scoring else {}
        outputs = [self._run_model(suite, model, requests, metrics, lengths, state) for model in models]
        return [o for o in outputs if o is not None]

    # -- one model ---------------------------------------------------------------------------
    def _run_model(self, suite: Suite, model: Model, requests: list[Request], metrics: dict[str, LongbenchMetric],
                   lengths: PromptLengths, state: Any) -> RunOutput | None:
        """Generate and score ``requests`` (the items of ``suite``) with the run's metrics."""
        from longbench.cache import BackgroundWriter, ImageCache
        from longbench.generation import CachedModel, generate_shard
        from longbench.results import Timings, to_json, write_results
        from longbench.scoring import score_metrics

        t_start = time.perf_counter()
        cache = ImageCache(self.cache_root, model.identity_hash()) if model.cache_images else None
        if cache is not None and (state is None or state.is_main_process):
            cache.sweep_temp_files()
        with BackgroundWriter() as writer:
            source = CachedModel(model, cache, writer)
            if state is not None:
                generate_shard(source, requests, self.config.batch_size, state)
                if not state.is_main_process:
                    return None
            for m in metrics.values():  # built once per run; each model starts from empty states
                m.reset()
            rows, score_time, wait_time = self._stream(source, requests, metrics, lengths)
        t0 = time.perf_counter()
        scored = score_metrics(metrics, rows, n_bootstrap=self.config.n_bootstrap, seed=self.config.seed)
        score_time += time.perf_counter() - t0
        timings = Timings(generate_s=round(source.generate_s, 3), score_s=round(score_time, 3),
                          wait_s=round(wait_time, 3), total_s=round(time.perf_counter() - t_start, 3),
                          images_generated=source.generated, images_cached=source.cached)
        results = to_json(self._results(suite, model, scored, rows, timings))
        run_dir = self.run_dir(suite, model, list(metrics))
        write_results(run_dir, results, rows)
        return RunOutput(results, run_dir, source.generated, source.cached)

    def _stream(self, source: CachedModel, requests: list[Request], metrics: dict[str, LongbenchMetric],
                lengths: PromptLengths) -> tuple[list[SampleRecord], float, float]:
        """Every batch of images through every metric; the samples' records, the seconds spent scoring and the
        seconds spent waiting for images.

        Each batch is converted once into an ImageBatch on the metric device and that one batch goes to every
        metric, on a scoring thread while the next batch is made here (``EvalConfig.prefetch``)."""
        from longbench.generation import ImageBatches
        from longbench.results import SampleRecord

        score_time = 0.0
        rows: list[SampleRecord] = []
        spec = source.model.spec
        task_gen = self.progress.start(f"generate {spec}", len(requests))
        task_score = self.progress.start(f"score {spec}", len(requests))

        def made(batch: Sequence[Request]) -> None:
            self.progress.advance(task_gen, len(batch))
            for r in batch:
                rows.append(SampleRecord(
                    item_id=r.item_id, seed=r.seed, image=str(Path(source.image_path(r)).resolve()),
                    prompt_tokens=lengths.tokens[r.item_id], bucket=lengths.bucket(r.item_id), scores={},
                    segments={}, details=None))

        def score(batch: Sequence[Request], images: ImageBatch) -> None:  # on the scoring thread
            nonlocal score_time
            t0 = time.perf_counter()
            items = [r.item for r in batch]
            for m in metrics.values():
                m.update(images, items)
            score_time += time.perf_counter() - t0
            self.progress.advance(task_score, len(batch))

        with ImageBatches(source, requests, self.config.batch_size, self.config.device,
                          self.config.prefetch) as stream:
            stream.run(score, made)
        self.progress.finish(task_gen)
        self.progress.finish(task_score)
        return rows, score_time, stream.wait_s

    def run_dir(self, suite: Suite, model: Model, metric_names: list[str]) -> Path:
        """``OUTPUT/<suite>/<model>__<identity>__s<seed>[__limit<N>]__m<metrics>``: the last part hashes the
        metrics and their options, so two evals of one model with other ``--metric``s never overwrite
        each other's results (the image cache is shared by both)."""
        import hashlib
        import json

        chosen = {n: {k: str(v) for k, v in sorted(self.metric_options(suite, n).items())}
                  for n in sorted(metric_names)}
        tag = hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:6]
        name = f"{slug(model.spec)}__{model.identity_hash()[:8]}__s{self.config.seed}"
        if self.config.limit is not None:
            name += f"__limit{self.config.limit}"
        return self.output / slug(suite.name) / f"{name}__m{tag}"

    def _results(self, suite: Suite, model: Model, scored: Scored, rows: list[SampleRecord],
                 timings: Timings) -> Results:
        from longbench.results import SCHEMA_VERSION, Bootstrap, ModelInfo, Results, SuiteInfo

        seed, limit = self.config.seed, self.config.limit
        identity = dict(model.identity())
        spec, args = identity.pop("spec"), identity.pop("args", {})
        return Results(
            schema_version=SCHEMA_VERSION, longbench_version=__version__,
            run_id=f"{suite.name}@{suite.sha256[:8]}/{model.identity_hash()[:8]}/s{seed}"
                   + (f"/limit{limit}" if limit is not None else ""),
            date=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            suite=SuiteInfo(**suite.info()),
            model=ModelInfo(spec=spec, args=args, identity=identity, identity_hash=model.identity_hash()),
            seed=seed, limit=limit, n=len(rows), metrics=scored.metrics, protocols=scored.protocols,
            reports=scored.reports or None,
            bootstrap=Bootstrap(n_resamples=self.config.n_bootstrap, confidence=0.95, seed=seed, method="percentile"),
            config=asdict(self.config), environment=environment(self.config.device), timings=timings)


def run_eval(config: EvalConfig, progress: Progress | None = None,
             required_columns: dict[str, Sequence[str]] | None = None) -> list[RunOutput]:
    """Evaluate every model of ``config`` on its suite; returns one RunOutput per model (none on the other
    processes of a multi-process launch). Gates, leaderboard and viewer: ``longbench.evaluate.evaluate``.

    ``required_columns``: flag → the metric columns it names (e.g. ``{"--fail-under": ["denscore"]}``);
    a column the run's metrics do not produce is a LongbenchError before anything is generated.
    """
    return Runner(config, progress, required_columns).run()
