"""File output: atomic writes, directory swaps and normal permissions — every writer of the project uses these.

Nothing half-written is ever visible under a final name: a file is written to a temporary name in the same
directory and renamed (``atomic_write_bytes`` / ``atomic_write_text``, or ``temp_path`` + ``publish`` for a
writer that streams), a directory is built under a temporary name and swapped into place (``atomic_dir`` /
``swap_dir``). Published outputs get the permissions a plain ``open``/``mkdir`` would give (0666/0777 less
the umask), not tempfile's private 0600/0700. ``check_writable`` checks an output location before any
work. Reading JSON is :mod:`longbench.jsonio`'s job.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from longbench.errors import LongbenchError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask. Read from /proc where the OS has it: ``os.umask`` can only be read by setting it,
    and a thread creating a file meanwhile would get the temporary mask."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)  # meanwhile a racing thread gets a private file, never a world-writable one
        os.umask(mask)
    return mask


def normal_permissions(path: str | os.PathLike, recursive: bool = False) -> None:
    """Give ``path`` (and, with ``recursive``, everything under it) the mode a plain ``open``/``mkdir`` would
    give: 0666/0777 less the umask. ``tempfile`` makes files 0600 and directories 0700, which an output
    published under its final name must not keep. Symbolic links are left alone."""
    mask = current_umask()
    root = Path(path)
    for p in [root, *(root.rglob("*") if recursive and root.is_dir() else ())]:
        if not p.is_symlink():
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file the normal permissions (``normal_permissions``) and rename it into
    place atomically."""
    normal_permissions(tmp)
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text atomically (see ``atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode("utf-8"))


# Temporary files are named ``.<name>.<host tag>-<pid>-<random>.tmp``: unique per process and per call, so
# any number of processes may write the same file at once (each renames its own complete copy; the last
# rename wins), and a sweep can tell whether a temporary file's writer is still alive.
TEMP_SUFFIX = ".tmp"
#: A temporary file this old is stale whoever wrote it (another host, or a pid that was reused).
STALE_TEMP_AGE_S = 24 * 3600
_HOST_TAG = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_TEMP_RE = re.compile(r"^\..+\.([0-9a-f]{8})-(\d+)-[0-9a-f]+\.tmp$")


def temp_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name next to ``path`` that no other process or call uses."""
    p = Path(path)
    return p.with_name(f".{p.name}.{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # it exists but belongs to someone else (or is not a pid we can ask about)
    return True


def is_stale_temp(path: Path, now: float | None = None) -> bool:
    """Whether a temporary file left in a directory can be removed without harming a live writer:
    written by a process of this host that is gone, or older than ``STALE_TEMP_AGE_S``."""
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_TEMP_AGE_S:
        return True
    m = _TEMP_RE.match(path.name)
    return bool(m) and m.group(1) == _HOST_TAG and not _pid_alive(int(m.group(2)))


def sweep_stale_temps(directory: str | os.PathLike) -> int:
    """Remove the stale temporary files (``is_stale_temp``) of a directory; the number removed.
    Another process's file in flight is left alone."""
    d = Path(directory)
    if not d.is_dir():
        return 0
    removed = 0
    now = time.time()
    for tmp in d.glob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file() and not tmp.is_symlink() and is_stale_temp(tmp, now):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename: readers never see half a file.

    Safe under concurrency: each call writes its own temporary file (``temp_path``); writers of the
    same content to the same path all succeed. The file gets the normal permissions (0666 less the
    umask). Failure to write is a LongbenchError naming ``path``.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:
        raise LongbenchError(f"cannot write {path}: {_os_reason(e, path)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise LongbenchError(f"cannot write {path}: {_os_reason(e, path)}") from None
        raise


def check_writable(path: str | os.PathLike, what: str, *, directory: bool) -> Path:
    """Before any work, check that an output can be written: ``path`` (a directory when ``directory``, else
    a file) or, when it does not exist yet, its nearest existing ancestor, must be a writable directory.
    Nothing is created. ``what`` names the flag in the error (e.g. ``--output``).

    Raises:
        LongbenchError: naming ``what`` and the path at fault (not a directory, read-only, no permission).
    """
    p = Path(path)
    if p.exists() or p.is_symlink():
        if directory and not p.is_dir():
            raise LongbenchError(f"{what} {p}: exists and is not a directory")
        if not directory and p.is_dir():
            raise LongbenchError(f"{what} {p}: is a directory, expected a file")
    base = p if directory and p.is_dir() else p.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise LongbenchError(f"{what} {p}: {base} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise LongbenchError(f"{what} {p}: cannot write in {base} (permission denied or read-only file system)")
    return p


def _os_reason(e: OSError, path: Path) -> str:
    """The reason of an OSError, naming the directory at fault when it is not ``path`` itself."""
    reason = e.strerror or str(e)
    culprit = e.filename
    if isinstance(e, FileExistsError) and culprit is not None:  # from mkdir: a file where a folder must be
        return f"{culprit} exists and is not a directory"
    if culprit is not None and Path(str(culprit)) not in (path, path.parent) and not str(culprit).endswith(TEMP_SUFFIX):
        return f"{culprit}: {reason}"
    return reason


def swap_dir(src: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the finished directory ``src`` to ``target``, replacing any previous one (kept aside as
    ``.<name>.old`` until the new one is in place, so a crash never leaves neither).

    Raises:
        LongbenchError: ``target`` is a file or a symbolic link (nothing is moved).
    """
    src, target = Path(src), Path(target)
    if target.is_symlink() or target.is_file():
        raise LongbenchError(f"{target}: exists and is not a directory; refusing to replace it")
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(src, target)
    if old.exists():
        shutil.rmtree(old)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Write a directory under a temporary name and swap it into place when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        normal_permissions(tmp, recursive=True)  # mkdtemp made the directory private
        swap_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
