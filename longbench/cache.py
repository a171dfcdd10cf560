"""On-disk image cache: ``<root>/images/<model identity hash>/<item id>__<seed>.png``.

Writes are atomic (temp file + rename) and happen on a background thread so PNG encoding stays off the
generation/scoring critical path. A killed run leaves only complete PNGs (and possibly stray
``.tmp`` files, ignored and swept by a later run once their writer is gone). Runs sharing one cache
at the same time are safe: each writes its own temporary files and renames complete PNGs into place.
"""

from __future__ import annotations

import io
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.fileio import atomic_write_bytes, sweep_stale_temps

if TYPE_CHECKING:
    from PIL import Image
    from typing_extensions import Self

logger = logging.getLogger(__name__)


class ImageCache:
    def __init__(self, root: str | os.PathLike, model_hash: str):
        self.dir = Path(root) / "images" / model_hash

    def path(self, request: Any) -> Path:
        """``<item id>__<seed>__<content hash>.png``: an edited prompt never reuses an old image."""
        return self.dir / f"{request.item_id}__{request.seed}__{request.content_hash()}.png"

    def sweep_temp_files(self) -> None:
        """Remove temporary files left by killed runs, never those of a run still writing (several runs
        may share one ``--output``): see ``longbench.fileio.is_stale_temp``."""
        sweep_stale_temps(self.dir)

    def load(self, request: Any) -> Image.Image | None:
        """The cached image, or None if absent or unreadable (then it is regenerated)."""
        from longbench.images import open_image

        p = self.path(request)
        if not p.is_file():
            return None
        try:
            return open_image(p)
        except LongbenchError as e:  # truncated/corrupt file from outside: regenerate it
            logger.warning("ignoring unreadable cached image (%s)", e)
            return None


def save_png_atomic(image: Image.Image, path: Path) -> None:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    atomic_write_bytes(path, buf.getvalue())


class BackgroundWriter:
    """Saves images on a worker thread; ``close()`` waits and re-raises the first failure."""

    def __init__(self, workers: int = 1):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="longbench-writer")
        self._futures: list[Future] = []

    def submit(self, image: Image.Image, path: Path) -> None:
        self._futures.append(self._pool.submit(save_png_atomic, image, path))
        self._futures = [f for f in self._futures if not f.done() or f.exception() is not None]

    def flush(self) -> None:
        """Wait until every image submitted so far is written; re-raise the first failure."""
        for f in self._futures:
            if f.exception() is not None:  # waits for the write to finish
                raise LongbenchError(f"could not write a cached image: {f.exception()}")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
