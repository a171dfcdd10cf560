"""Finding and reading runs: ``results.json`` files, run directories, and stores of runs.

A run is the pair ``results.json`` + ``samples.jsonl`` written by ``longbench eval``; only these files
are read. Paths given to the leaderboard may be a results file, a run directory, or any directory
holding run directories (a store made by ``leaderboard.store.add_run``, or an output folder).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError
from longbench.results import load_results, load_samples

logger = logging.getLogger(__name__)

RESULTS_NAME = "results.json"
SAMPLES_NAME = "samples.jsonl"
# samples.jsonl holds one line per image (a few hundred bytes): 64 MB is ~150k images.
MAX_SAMPLES_BYTES = 64 * 1024 * 1024
# How deep below a given directory to look for results.json (store/run, out/suite/model/run).
MAX_SEARCH_DEPTH = 4


@dataclass
class Run:
    """One loaded run.

    Attributes:
        path: the results.json file.
        results: the validated results dict.
    """

    path: Path
    results: dict[str, Any]
    _samples: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.results["run_id"]

    @property
    def suite_key(self) -> tuple[str, str, str]:
        s = self.results["suite"]
        return (s["name"], s["version"], s["sha256"])

    def samples(self) -> list[dict[str, Any]]:
        """Per-image records of ``samples.jsonl`` next to results.json (empty list when absent)."""
        if self._samples is None:
            self._samples = read_samples(self.path.with_name(SAMPLES_NAME), self.results)
        return self._samples

    def per_sample_scores(self, column: str) -> dict[tuple[str, int], float]:
        """``(item_id, seed) -> score`` of one column, skipping null scores."""
        out: dict[tuple[str, int], float] = {}
        for s in self.samples():
            v = s["scores"].get(column)
            if v is not None and not math.isnan(v):
                out[(s["item_id"], s["seed"])] = float(v)
        return out


def read_samples(path: Path, results: dict[str, Any], max_bytes: int = MAX_SAMPLES_BYTES) -> list[dict[str, Any]]:
    """Read and check a samples.jsonl (missing file: empty list).

    Raises:
        LongbenchError: too large, not UTF-8, a line that is not JSON, or a record failing
            ``check_samples``.
    """
    if not path.is_file():
        return []
    size = path.stat().st_size
    if size > max_bytes:
        raise LongbenchError(f"{path}: {size:,} bytes is too large for a samples file (max {max_bytes:,})")
    samples = load_samples(path.parent)
    check_samples(samples, str(path), set(results["metrics"]))
    return samples


def check_samples(samples: list[Any], where: str, columns: set[str]) -> None:
    """Check samples.jsonl records: ``item_id`` (str), ``seed`` (int), ``scores`` (column -> number
    or null, columns known to results.json), and each ``(item_id, seed)`` at most once.

    Raises:
        LongbenchError: naming the file and line of the first bad record.
    """
    seen: set[tuple[str, int]] = set()
    for i, s in enumerate(samples, 1):
        w = f"{where}:{i}"
        key = sample_key(s, w)
        if key in seen:
            raise LongbenchError(f"{w}: duplicate sample {key[0]!r} seed {key[1]}")
        seen.add(key)
        scores = s.get("scores")
        if not isinstance(scores, dict):
            raise LongbenchError(f"{w}: scores must be an object")
        for col, v in scores.items():
            if col not in columns:
                raise LongbenchError(f"{w}: score column {col!r} is not a metric of results.json")
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise LongbenchError(f"{w}: score {col!r} must be a number or null")


def sample_key(s: Any, where: str) -> tuple[str, int]:
    """The pairing key of a samples.jsonl record: ``(item_id, seed)``."""
    if not isinstance(s, dict):
        raise LongbenchError(f"{where}: sample is not a JSON object")
    item_id, seed = s.get("item_id"), s.get("seed")
    if not isinstance(item_id, str) or not isinstance(seed, int) or isinstance(seed, bool):
        raise LongbenchError(f"{where}: sample needs a string item_id and an integer seed")
    return item_id, seed


def _find_results(d: Path, depth: int) -> list[Path]:
    if (d / RESULTS_NAME).is_file():
        return [d / RESULTS_NAME]
    if depth == 0:
        return []
    found: list[Path] = []
    try:
        children = sorted(d.iterdir())
    except OSError as e:
        raise LongbenchError(f"{d}: cannot list directory ({e.strerror})") from e
    for child in children:
        # Hidden directories are the store's half-written imports and caches: never read them.
        if child.name.startswith(".") or child.is_symlink() or not child.is_dir():
            continue
        found.extend(_find_results(child, depth - 1))
    return found


def discover(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand results files, run directories and stores into a list of results.json paths.

    Raises:
        LongbenchError: when a path does not exist or a directory holds no run at all.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            found = _find_results(p, MAX_SEARCH_DEPTH)
            if not found:
                raise LongbenchError(f"{p}: no {RESULTS_NAME} found in this directory or below it")
            out.extend(found)
        else:
            raise LongbenchError(f"{p}: no such file or directory")
    return out


def load_runs(paths: Iterable[str | os.PathLike]) -> list[Run]:
    """Load and validate every run under ``paths``.

    The same file reached twice (e.g. a run directory and the store holding it) is read once; two
    different files claiming the same ``run_id`` are an error, since rows are keyed by run id.
    """
    runs: dict[str, Run] = {}
    for p in discover(paths):
        run = Run(path=p, results=load_results(p))
        prev = runs.get(run.run_id)
        if prev is not None:
            if _same_content(prev.results, run.results):
                logger.info("%s: same run as %s, read once", p, prev.path)
                continue
            raise LongbenchError(f"{p}: run id {run.run_id!r} also used by a different run at {prev.path}")
        runs[run.run_id] = run
    return list(runs.values())


def _same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
