"""The leaderboard store: a directory of validated runs, one sub-directory per run.

``add_run(store, run_dir)`` copies only ``results.json`` and ``samples.jsonl`` (never images or other
files) after checking them: regular files (no symlinks, FIFOs or devices), size limits, UTF-8 JSON,
``validate_results``, a run id that cannot be used for path tricks, every samples line well formed
and one per scored image, every value that the per-sample scores determine recomputed and equal to
what results.json claims (``leaderboard.runs.verify_run``), and no run with the same id already stored. The copy is written into a
hidden temporary directory of the store and renamed into place, so a rejected or interrupted ingest
leaves the store exactly as it was. ``longbench leaderboard build STORE`` reads the store back.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from leaderboard.runs import MAX_SAMPLES_BYTES, RESULTS_NAME, SAMPLES_NAME, check_samples, verify_run
from leaderboard.table import slug
from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.fileio import normal_permissions
from longbench.results import MAX_RESULTS_BYTES, validate_results

logger = logging.getLogger(__name__)

MAX_RUN_ID_CHARS = 256


def _read_regular(path: Path, max_bytes: int) -> bytes:
    """Read a regular file without following symlinks or blocking on FIFOs, refusing more than ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise LongbenchError(f"{path}: missing (a run directory holds {RESULTS_NAME} and {SAMPLES_NAME})") from None
    except OSError as e:
        if path.is_symlink():
            raise LongbenchError(f"{path}: is a symbolic link; the store only accepts regular files") from e
        raise LongbenchError(f"{path}: cannot open ({e.strerror})") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LongbenchError(f"{path}: not a regular file")
        if st.st_size > max_bytes:
            raise LongbenchError(f"{path}: {st.st_size:,} bytes is over the limit of {max_bytes:,}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:  # grew while we were reading
            raise LongbenchError(f"{path}: more than {max_bytes:,} bytes")
        return data
    finally:
        os.close(fd)


def _decode_json(data: bytes, where: str) -> Any:
    return jsonio.parse_json(data, where)


def check_run_id(run_id: str, where: str) -> None:
    """Refuse run ids that could act as paths elsewhere: control characters, backslashes, absolute
    paths, ``.``/``..`` segments, empty segments, or over ``MAX_RUN_ID_CHARS`` characters."""
    if not run_id or len(run_id) > MAX_RUN_ID_CHARS:
        raise LongbenchError(f"{where}: run_id must have 1 to {MAX_RUN_ID_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in run_id) or "\\" in run_id:
        raise LongbenchError(f"{where}: run_id {run_id!r} contains control characters or backslashes")
    parts = run_id.split("/")
    if run_id.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise LongbenchError(f"{where}: run_id {run_id!r} looks like a path traversal (absolute, '.', '..' or '//')")


def _parse_samples(data: bytes, where: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    if data and not data.endswith(b"\n"):
        raise LongbenchError(f"{where}: last line has no newline (truncated file?)")
    samples = [obj for _, obj in jsonio.parse_jsonl(data, where)]
    check_samples(samples, where, set(results["metrics"]))
    if len(samples) != results["n"]:
        raise LongbenchError(f"{where}: {len(samples)} samples but results.json says n={results['n']} (truncated?)")
    return samples


def store_name(run_id: str) -> str:
    """Directory name of a run in the store: a safe rendering of its run id (plus a hash when altered)."""
    return slug(run_id, max_len=120)


def stored_run_ids(store_dir: Path) -> dict[str, Path]:
    """Run id -> directory of every run already in the store (unreadable entries are skipped with a warning)."""
    out: dict[str, Path] = {}
    if not store_dir.is_dir():
        return out
    for child in sorted(store_dir.iterdir()):
        f = child / RESULTS_NAME
        if child.name.startswith(".") or child.is_symlink() or not f.is_file():
            continue
        try:
            run_id = _decode_json(_read_regular(f, MAX_RESULTS_BYTES), str(f)).get("run_id")
        except (LongbenchError, AttributeError) as e:
            logger.warning("store entry %s is unreadable: %s", child, e)
            continue
        if isinstance(run_id, str):
            out[run_id] = child
    return out


def add_run(store_dir: str | os.PathLike, run_dir: str | os.PathLike, *,
            max_results_bytes: int = MAX_RESULTS_BYTES, max_samples_bytes: int = MAX_SAMPLES_BYTES) -> Path:
    """``ingest_run`` without telling whether the run was new: the run's directory inside the store."""
    return ingest_run(store_dir, run_dir, max_results_bytes=max_results_bytes,
                      max_samples_bytes=max_samples_bytes)[0]


# Relative tolerance of "the same number" between two runs with one run id: re-scoring the same images in
# float32 with another batch size or thread count moves values by ~1e-7 relative.
SAME_RUN_RTOL = 1e-6


def _same_numbers(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
                and not isinstance(b, bool) and math.isclose(a, b, rel_tol=SAME_RUN_RTOL, abs_tol=1e-12))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_numbers(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _scores(samples: list[dict[str, Any]]) -> list[Any]:
    return [[s.get("item_id"), s.get("seed"), s.get("scores"), s.get("segments")] for s in samples]


def same_run(results: dict[str, Any], samples: list[dict[str, Any]], stored_dir: Path) -> bool:
    """Whether the stored run in ``stored_dir`` is the same run: the same run id, suite, model, seed and
    limit, and the same metric values and per-sample scores (to ``SAME_RUN_RTOL``). Dates, timings,
    environment, run configuration and image paths may differ."""
    try:
        old = validate_results(_decode_json(_read_regular(stored_dir / RESULTS_NAME, MAX_RESULTS_BYTES),
                                            str(stored_dir / RESULTS_NAME)))
        old_samples = _parse_samples(_read_regular(stored_dir / SAMPLES_NAME, MAX_SAMPLES_BYTES),
                                     str(stored_dir / SAMPLES_NAME), old)
    except LongbenchError:
        return False
    keys = ("run_id", "suite", "model", "seed", "limit", "n", "metrics")
    return (_same_numbers({k: results.get(k) for k in keys}, {k: old.get(k) for k in keys})
            and _same_numbers(_scores(samples), _scores(old_samples)))


def ingest_run(store_dir: str | os.PathLike, run_dir: str | os.PathLike, *,
               max_results_bytes: int = MAX_RESULTS_BYTES,
               max_samples_bytes: int = MAX_SAMPLES_BYTES) -> tuple[Path, bool]:
    """Validate a run and copy its results.json and samples.jsonl into the store.

    Adding a run that the store already holds (``same_run``) is a no-op: it returns the stored entry and
    ``False``. A *different* run with an id already stored is an error.

    Args:
        store_dir: the store (created if missing).
        run_dir: the run directory (or its results.json).
        max_results_bytes: size limit of results.json.
        max_samples_bytes: size limit of samples.jsonl.

    Returns:
        The run's directory inside the store, and whether it was added (False: already there).

    Raises:
        LongbenchError: with the reason, when the run is malformed, truncated, too large, hostile, or
            another run with its run id is already in the store. Nothing in the store is changed then.
    """
    src = Path(run_dir)
    if src.name == RESULTS_NAME and not src.is_dir():
        src = src.parent
    if not src.is_dir():
        raise LongbenchError(f"{src}: no such run directory")
    results_bytes = _read_regular(src / RESULTS_NAME, max_results_bytes)
    samples_bytes = _read_regular(src / SAMPLES_NAME, max_samples_bytes)
    where = str(src / RESULTS_NAME)
    results = validate_results(_decode_json(results_bytes, where), where)
    run_id = results["run_id"]
    check_run_id(run_id, where)
    samples = _parse_samples(samples_bytes, str(src / SAMPLES_NAME), results)
    verify_run(results, samples, where)  # a value edited in results.json disagrees with samples.jsonl

    store = Path(store_dir)
    if store.exists() and not store.is_dir():
        raise LongbenchError(f"{store}: exists and is not a directory")
    store.mkdir(parents=True, exist_ok=True)
    final = store / store_name(run_id)
    existing = stored_run_ids(store)
    if run_id in existing:
        if same_run(results, samples, existing[run_id]):
            logger.info("run %s is already in %s (identical): nothing to add", run_id, existing[run_id])
            return existing[run_id], False
        raise LongbenchError(f"{where}: run id {run_id!r} is already in the store at {existing[run_id]} "
                             "with different results")
    if final.exists() or final.is_symlink():
        raise LongbenchError(f"{where}: store entry {final} already exists")

    tmp = Path(tempfile.mkdtemp(dir=store, prefix=".incoming-"))
    try:
        normal_permissions(tmp)  # mkdtemp makes it 0700; it becomes the stored run's directory
        for name, data in ((SAMPLES_NAME, samples_bytes), (RESULTS_NAME, results_bytes)):
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        try:
            # Renaming onto a non-empty directory fails, so a concurrent ingest of the same id loses cleanly.
            os.rename(tmp, final)
        except OSError as e:
            if final.is_dir() and same_run(results, samples, final):  # the same run, added concurrently
                shutil.rmtree(tmp, ignore_errors=True)
                return final, False
            raise LongbenchError(f"{where}: cannot move the run into {final} ({e.strerror}); is it already stored?") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(store)
    logger.info("added run %s to %s", run_id, final)
    return final, True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
