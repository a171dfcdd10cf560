"""Results files: ``results.json`` (one run) and ``samples.jsonl`` (one line per image).

The schema (``schema_version`` 1) is one definition, the dataclasses :class:`Results` and :class:`SampleRecord`
below: the runner builds the files from them, ``validate_results`` / ``validate_sample`` check files
against them (the leaderboard's gate), and ``schema_text()`` documents them (docs/results.md). The files
are written atomically through :mod:`longbench.fileio`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from longbench import jsonio, typed_json
from longbench.errors import LongbenchError
from longbench.fileio import atomic_write_text
from longbench.text.tokenizer import BUCKET_LABELS
from longbench.typed_json import Check, doc

SCHEMA_VERSION = 1
MAX_RESULTS_BYTES = 20 * 1024 * 1024


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def dumps(obj: Any) -> str:
    return json.dumps(_json_safe(obj), indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n"


def write_results(out_dir: str | os.PathLike, results: Results | dict[str, Any],
                  samples: Iterable[SampleRecord | dict[str, Any]]) -> None:
    """Validate, then write samples.jsonl and results.json, each atomically (results.json last marks a
    complete run)."""
    results = validate_results(to_json(results))
    out_dir = Path(out_dir)
    lines = "".join(json.dumps(_json_safe(to_json(s)), ensure_ascii=False, allow_nan=False) + "\n" for s in samples)
    atomic_write_text(out_dir / "samples.jsonl", lines)
    atomic_write_text(out_dir / "results.json", dumps(results))


# ---------------------------------------------------------------------- the schema
# One definition: the runner fills these dataclasses to write the files, ``validate_results`` /
# ``validate_sample`` check files against them, ``schema_text`` documents them (docs/results.md, kept in
# step by a test). Readers accept keys they do not know; an optional field may be absent from a file
# (older writers, hand-made runs) and reads as null. Mechanics: ``longbench.typed_json``.

Bucket = Literal[BUCKET_LABELS]  # the length buckets of longbench.text.tokenizer
BUCKETS: tuple[str, ...] = get_args(Bucket)
#: a 95% interval ``[lo, hi]`` (an end is null when no resample had a value)
CI = Annotated[tuple[float | None, float | None], Check(lambda v: True, "[lo, hi]")]
Sha256 = Annotated[str, Check(lambda s: len(s) == 64 and all(c in "0123456789abcdef" for c in s),
                              "a sha256 hex digest")]


@dataclass(kw_only=True)
class BucketValue:
    """A column over the images of one prompt-length bucket."""

    value: float | None = field(metadata=doc(
        "mean of the bucket's per-sample scores, or the metric's value on the bucket; null when undefined",
        optional=True))
    ci: CI | None = field(metadata=doc("95% bootstrap interval; null for columns without per-sample scores",
                                       optional=True))
    n: int = field(metadata=doc("images of the bucket with a value", optional=True))


@dataclass(kw_only=True)
class MetricEntry:
    """One reported column."""

    metric: str = field(metadata=doc("the metric reporting the column (its key in protocols)", optional=True))
    higher_is_better: bool = field(metadata=doc("direction of the column"))
    value: float | None = field(metadata=doc(
        "mean of the per-sample scores (NaN ignored), or the metric's run-level value (FID); null when undefined",
        optional=True))
    ci: CI | None = field(metadata=doc(
        "95% percentile-bootstrap interval of the mean; null without per-sample scores", optional=True))
    n: int = field(metadata=doc("images with a value"))
    by_bucket: dict[Bucket, BucketValue] = field(metadata=doc(
        "per prompt-length bucket (CLIP tokens of the prompt, start and end tokens included)", optional=True))


@dataclass(kw_only=True)
class SuiteInfo:
    name: str = field(metadata=doc("suite name"))
    version: str = field(metadata=doc("suite version"))
    sha256: Sha256 = field(metadata=doc("sha256 of the suite's canonical item JSON"))
    n_items: int = field(metadata=doc("items of the whole suite (also under --limit)", optional=True))


@dataclass(kw_only=True)
class ModelInfo:
    spec: str = field(metadata=doc("model spec, e.g. diffusers:ORG/NAME"))
    args: dict[str, Any] = field(metadata=doc("resolved --model-arg values", optional=True))
    identity: dict[str, Any] = field(metadata=doc("further keys of the adapter's identity", optional=True,
                                                  flatten=True))
    identity_hash: str = field(metadata=doc("hash of the identity (the image cache key)", optional=True))


@dataclass(kw_only=True)
class Bootstrap:
    n_resamples: int = field(metadata=doc("resamples"))
    confidence: float = field(metadata=doc("interval confidence (0.95)"))
    seed: int = field(metadata=doc("seed of the resampling (the run's --seed)"))
    method: str = field(metadata=doc("interval method (percentile)"))


@dataclass(kw_only=True)
class Timings:
    generate_s: float = field(metadata=doc("seconds generating"))
    score_s: float = field(metadata=doc("seconds scoring (metrics and results)"))
    wait_s: float = field(metadata=doc(
        "seconds the scorer waited for images (generation and cache reads overlap scoring, so generate_s + "
        "score_s may exceed total_s)", optional=True))
    total_s: float = field(metadata=doc("seconds for the model, end to end"))
    images_generated: int = field(metadata=doc("images generated by this run"))
    images_cached: int = field(metadata=doc("images taken from the cache"))


@dataclass(kw_only=True)
class Results:
    """``results.json``: one model on one suite."""

    schema_version: int = field(metadata=doc(f"{SCHEMA_VERSION}"))
    longbench_version: str = field(metadata=doc("longbench version that wrote the run"))
    run_id: str = field(metadata=doc("<suite>@<suite sha256[:8]>/<model hash[:8]>/s<seed>[/limit<N>]"))
    date: str = field(metadata=doc("ISO 8601, UTC"))
    suite: SuiteInfo = field(metadata=doc("the suite"))
    model: ModelInfo = field(metadata=doc("the model"))
    seed: int = field(metadata=doc("global seed"))
    limit: int | None = field(metadata=doc("--limit; null for the whole suite", optional=True))
    n: int = field(metadata=doc("images scored"))
    metrics: dict[str, MetricEntry] = field(metadata=doc("column -> its values"))
    protocols: dict[str, dict[str, Any]] = field(metadata=doc(
        "metric -> what defines its number (weights id/hash, preprocessing, dtype, thresholds)"))
    reports: dict[str, dict[str, Any]] | None = field(metadata=doc(
        "metric -> what it must tell about the run (e.g. vqa's answer counts); absent when none", optional=True))
    bootstrap: Bootstrap = field(metadata=doc("how the intervals were drawn", optional=True))
    config: dict[str, Any] = field(metadata=doc("the run configuration (EvalConfig)", optional=True))
    environment: dict[str, Any] = field(metadata=doc("python, platform, device and library versions", optional=True))
    timings: Timings = field(metadata=doc("where the time went", optional=True))


@dataclass(kw_only=True)
class SampleRecord:
    """One line of ``samples.jsonl``: one image."""

    item_id: str = field(metadata=doc("suite item id"))
    seed: int = field(metadata=doc("the image's seed (from the global seed, the suite name and the item id)"))
    image: str = field(metadata=doc("absolute path of the image", optional=True))
    prompt_tokens: int = field(metadata=doc("CLIP tokens of the prompt, start and end tokens included",
                                            optional=True))
    bucket: Bucket = field(metadata=doc("prompt-length bucket", optional=True))
    scores: dict[str, float | None] = field(metadata=doc("column -> the image's score (null: none)"))
    segments: dict[str, list[float | None]] = field(metadata=doc(
        "metric -> per-segment scores, one per sentence", optional=True))
    details: dict[str, Any] | None = field(metadata=doc(
        "metric -> per-image details (e.g. vqa's questions and answers); absent when none", optional=True))


#: optional keys a writer leaves out rather than writing null
_OMIT_WHEN_NONE = frozenset({"reports", "details"})


def to_json(obj: Any) -> Any:
    """A :class:`Results` / :class:`SampleRecord` (or a dict already in JSON form) as written to the files."""
    return typed_json.to_json(obj, _OMIT_WHEN_NONE)


def validate_results(r: Any, where: str = "results.json") -> dict[str, Any]:
    """Check a parsed results.json against :class:`Results`; raise LongbenchError naming the first problem."""
    if not isinstance(r, dict):
        raise LongbenchError(f"{where}: not a JSON object")
    if "schema_version" not in r:
        raise LongbenchError(f"{where}: missing schema_version")
    if r["schema_version"] != SCHEMA_VERSION:
        raise LongbenchError(f"{where}: schema_version {r['schema_version']!r} is not supported "
                             f"(expected {SCHEMA_VERSION})")
    found = typed_json.problem(r, Results)
    if found:
        raise LongbenchError(f"{where}: {found}")
    return r


def validate_sample(s: Any, where: str = "samples.jsonl") -> dict[str, Any]:
    """Check one parsed samples.jsonl record against :class:`SampleRecord`."""
    if not isinstance(s, dict):
        raise LongbenchError(f"{where}: sample is not a JSON object")
    found = typed_json.problem(s, SampleRecord)
    if found:
        raise LongbenchError(f"{where}: {found}")
    return s


def schema_text() -> str:
    """The schema, one line per field (docs/results.md shows it)."""
    return "\n".join(["results.json", *typed_json.doc_lines(Results, "    "), "",
                      "samples.jsonl (one object per line)", *typed_json.doc_lines(SampleRecord, "    ")]) + "\n"


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a results.json (path to the file or to its run directory)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise LongbenchError(f"{p}: no such results file")
    size = p.stat().st_size
    if size > MAX_RESULTS_BYTES:
        raise LongbenchError(f"{p}: {size:,} bytes is too large for a results file (max {MAX_RESULTS_BYTES:,})")
    data = jsonio.parse_json(jsonio.read_bytes(p), str(p))
    return validate_results(data, str(p))


def load_samples(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    p = Path(run_dir)
    p = p / "samples.jsonl" if p.is_dir() else p.with_name("samples.jsonl")
    if not p.is_file():
        return []
    return [obj for _, obj in jsonio.read_jsonl(p)]
