"""Results files: ``results.json`` (one run) and ``samples.jsonl`` (one line per image).

Schema (``schema_version`` 1)::

    results.json
      schema_version: 1
      longbench_version: str
      run_id: str                     # "<suite>@<suite sha[:8]>/<model hash>/s<seed>"
      date: str                       # ISO 8601, UTC
      suite: {name, version, sha256, n_items}
      model: {spec, args, identity_hash}
      seed: int
      limit: int | null
      n: int                          # images scored
      metrics: {column: {value, ci: [lo, hi] | null, n, higher_is_better, metric,
                         by_bucket: {bucket: {value, ci, n}}}}
      protocols: {metric name: {...}}
      bootstrap: {n_resamples, confidence, seed}
      environment: {python, platform, torch, ...}
      timings: {generate_s, score_s, total_s, images_generated, images_cached}

    samples.jsonl — one object per image:
      {item_id, seed, image, prompt_tokens, bucket, scores: {column: float | null},
       segments: {metric: [float, ...]}}

The leaderboard reads only these files; ``validate_results`` is its gate.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError

SCHEMA_VERSION = 1
BUCKETS = ("<=77", "78-154", "155-240", ">240")
MAX_RESULTS_BYTES = 20 * 1024 * 1024


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file the normal permissions (mkstemp makes it 0600) and rename it
    into place atomically."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text atomically (see ``atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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


def write_results(out_dir: str | os.PathLike, results: dict[str, Any], samples: Iterable[dict[str, Any]]) -> None:
    """Write samples.jsonl then results.json, each atomically (results.json last marks a complete run)."""
    validate_results(results)
    out_dir = Path(out_dir)
    lines = "".join(json.dumps(_json_safe(s), ensure_ascii=False, allow_nan=False) + "\n" for s in samples)
    atomic_write_text(out_dir / "samples.jsonl", lines)
    atomic_write_text(out_dir / "results.json", dumps(results))


def _require(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise LongbenchError(f"{where}: {msg}")


def _is_num(x: Any) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def validate_results(r: Any, where: str = "results.json") -> dict[str, Any]:
    """Check a parsed results.json against the schema; raise LongbenchError naming the first problem."""
    _require(isinstance(r, dict), where, "not a JSON object")
    _require("schema_version" in r, where, "missing schema_version")
    _require(r["schema_version"] == SCHEMA_VERSION, where,
             f"schema_version {r['schema_version']!r} is not supported (expected {SCHEMA_VERSION})")
    for key, typ in (("longbench_version", str), ("run_id", str), ("date", str), ("suite", dict),
                     ("model", dict), ("seed", int), ("n", int), ("metrics", dict), ("protocols", dict)):
        _require(key in r, where, f"missing {key}")
        _require(isinstance(r[key], typ) and not isinstance(r[key], bool), where,
                 f"{key} must be {typ.__name__}, got {type(r[key]).__name__}")
    for key in ("name", "version", "sha256"):
        _require(isinstance(r["suite"].get(key), str), where, f"suite.{key} missing or not a string")
    _require(len(r["suite"]["sha256"]) == 64 and all(c in "0123456789abcdef" for c in r["suite"]["sha256"]),
             where, "suite.sha256 is not a sha256 hex digest")
    _require(isinstance(r["model"].get("spec"), str), where, "model.spec missing or not a string")
    for col, m in r["metrics"].items():
        w = f"{where}: metrics.{col}"
        _require(isinstance(m, dict), w, "not an object")
        _require(_is_num(m.get("value")), w, "value must be a number or null")
        _require(isinstance(m.get("higher_is_better"), bool), w, "higher_is_better must be a boolean")
        ci = m.get("ci")
        _require(ci is None or (isinstance(ci, list) and len(ci) == 2 and all(_is_num(v) for v in ci)), w,
                 "ci must be [lo, hi] or null")
        _require(isinstance(m.get("n"), int), w, "n must be an integer")
        for b, bv in (m.get("by_bucket") or {}).items():
            _require(b in BUCKETS, w, f"unknown bucket {b!r}")
            _require(isinstance(bv, dict) and _is_num(bv.get("value")), w, f"by_bucket.{b}.value must be a number")
    return r


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
    try:
        data = json.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise LongbenchError(f"{p}: not UTF-8 ({e.reason})") from e
    except json.JSONDecodeError as e:
        raise LongbenchError(f"{p}: not valid JSON ({e.msg}, line {e.lineno})") from e
    return validate_results(data, str(p))


def load_samples(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    p = Path(run_dir)
    p = p / "samples.jsonl" if p.is_dir() else p.with_name("samples.jsonl")
    if not p.is_file():
        return []
    out = []
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise LongbenchError(f"{p}:{i}: invalid JSON ({e.msg})") from e
    return out
