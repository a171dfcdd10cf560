"""Resolve model weights offline: a local directory/file, or a Hugging Face id already in the HF cache.

Nothing here downloads. A missing checkpoint raises MissingWeightsError with one line saying which
weights, where they were looked for, and how to provide them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from longbench.errors import MissingWeightsError


def hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def resolve(spec: str, what: str = "weights", filename: str | None = None) -> Path:
    """Return a local path for ``spec`` (a directory, a file, or a Hugging Face repo id).

    With ``filename`` the file inside the directory/repo is returned.
    """
    p = Path(spec).expanduser()
    if p.exists():
        if filename is None:
            return p
        if (p / filename).exists():
            return p / filename
        raise MissingWeightsError(f"{what}: {p} has no file {filename!r}")
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise MissingWeightsError(f"{what}: path {spec!r} does not exist")
    try:
        if filename is None:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(spec, local_files_only=True))
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(spec, filename, local_files_only=True))
    except Exception as e:  # LocalEntryNotFoundError, RepositoryNotFoundError, offline errors, ...
        raise MissingWeightsError(
            f"{what} {spec!r}{' file ' + repr(filename) if filename else ''} not found offline: not a local path "
            f"and not in the Hugging Face cache {hf_cache_dir()} ({type(e).__name__}); on a machine with network "
            f"run `hf download {spec}` and copy the cache here, or pass a local directory"
        ) from None


def is_available(spec: str, filename: str | None = None) -> bool:
    try:
        resolve(spec, filename=filename)
        return True
    except MissingWeightsError:
        return False


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def dir_fingerprint(path: str | os.PathLike) -> str:
    """A cheap identity of a weights directory: sha256 over (relative path, size, mtime_ns) of its files."""
    root = Path(path)
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(q for q in root.rglob("*") if q.is_file())
    for q in files:
        st = q.stat()
        h.update(f"{q.relative_to(root) if q != root else q.name}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]
