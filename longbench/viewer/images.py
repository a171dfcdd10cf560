"""Images of a viewer: full-size copies and thumbnails, named by the content hash of the image file.

``images/<hash>.<ext>`` is the original file (hard-linked when the file system allows, else copied);
``thumbs/<hash>.<ext>`` is the same file when its longer side is at most ``THUMB_SIZE`` pixels, else a JPEG
of that size (``thumbs/<hash>.jpg``). A file already present under its hash is never written again, so
building a viewer again re-encodes nothing and an unchanged image keeps its URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from longbench.fileio import atomic_write_bytes, publish, temp_path
from longbench.models.images import EXTENSIONS

logger = logging.getLogger(__name__)

THUMB_SIZE = 256
HASH_CHARS = 24  # 96 bits of the sha256: names stay short, collisions stay impossible in practice
THUMB_QUALITY = 88
IMAGES_DIR = "images"
THUMBS_DIR = "thumbs"


@dataclass(frozen=True)
class ViewerImage:
    """Paths (relative to the viewer folder) of one image's full-size file and thumbnail."""

    full: str
    thumb: str


@dataclass(frozen=True)
class ImageGap:
    """Why an image is not shown."""

    reason: str


def _link_or_copy(src: Path, dest: Path) -> None:
    """Place ``src`` at ``dest`` atomically: a hard link when possible, else a copy."""
    tmp = temp_path(dest)
    try:
        try:
            os.link(src, tmp)
            os.replace(tmp, dest)
            return
        except OSError:  # other file system, or links not allowed: copy
            shutil.copyfile(src, tmp)
        publish(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _thumbnail_jpeg(src: Path) -> bytes:
    import io

    from PIL import Image

    from longbench.images import to_rgb

    with Image.open(src) as im:
        im.draft("RGB", (THUMB_SIZE, THUMB_SIZE))  # JPEG: decode at a reduced scale directly
        rgb = to_rgb(im)
        # reducing_gap 1: an integer box reduction first (512 → 256 is a 2x2 mean), Lanczos for any rest
        rgb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS, reducing_gap=1.0)
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=THUMB_QUALITY, optimize=False)
    return buf.getvalue()


class ImageStore:
    """Adds run images to a viewer folder ``out`` (see module docstring)."""

    def __init__(self, out: Path):
        self.out = out
        self.images = out / IMAGES_DIR
        self.thumbs = out / THUMBS_DIR
        self.written = 0  # thumbnails encoded by this build
        self.reused = 0  # images whose files were already there
        self._lock = threading.Lock()

    def add(self, path: str | None) -> ViewerImage | ImageGap:
        """Hash, copy and thumbnail one image file (``None``: no image recorded)."""
        if not path:
            return ImageGap("no image recorded")
        src = Path(path)
        ext = src.suffix.lower()
        if ext not in EXTENSIONS:
            return ImageGap(f"not an image file ({src.name})")
        try:
            data = src.read_bytes()
        except FileNotFoundError:
            return ImageGap("image file missing")
        except OSError as e:
            return ImageGap(f"image file unreadable ({e.strerror})")
        name = hashlib.sha256(data).hexdigest()[:HASH_CHARS]
        full = self.images / f"{name}{ext}"
        small, big = self.thumbs / f"{name}{ext}", self.thumbs / f"{name}.jpg"
        if full.is_file() and (small.is_file() or big.is_file()):
            with self._lock:
                self.reused += 1
            return ViewerImage(f"{IMAGES_DIR}/{full.name}", f"{THUMBS_DIR}/{(small if small.is_file() else big).name}")
        from longbench.errors import LongbenchError
        from longbench.images import image_file

        try:
            with image_file(src) as im:  # the one image opener: also refuses decompression bombs
                size = im.size
                im.verify()
        except LongbenchError as e:
            return ImageGap(f"image file unreadable ({str(e).removeprefix(f'{src}: ')})")
        if not full.is_file():
            _link_or_copy(src, full)
        if max(size) <= THUMB_SIZE:
            if not small.is_file():
                _link_or_copy(full, small)
            return ViewerImage(f"{IMAGES_DIR}/{full.name}", f"{THUMBS_DIR}/{small.name}")
        if not big.is_file():
            try:
                atomic_write_bytes(big, _thumbnail_jpeg(full))
            except (OSError, ValueError) as e:
                return ImageGap(f"image file unreadable ({type(e).__name__})")
            with self._lock:
                self.written += 1
        return ViewerImage(f"{IMAGES_DIR}/{full.name}", f"{THUMBS_DIR}/{big.name}")

    def add_many(self, paths: Sequence[str | None], workers: int | None = None) -> list[ViewerImage | ImageGap]:
        """``add`` for every path (in parallel threads: hashing, file I/O and PIL release the GIL); each
        distinct path is processed once."""
        self.images.mkdir(parents=True, exist_ok=True)
        self.thumbs.mkdir(parents=True, exist_ok=True)
        unique = list(dict.fromkeys(p for p in paths))
        workers = workers or min(8, (os.cpu_count() or 1) + 2)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="longbench-viewer") as pool:
            done = dict(zip(unique, pool.map(self.add, unique)))
        return [done[p] for p in paths]
