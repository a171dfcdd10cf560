"""``images:<dir>`` — score images generated elsewhere, one file per item named ``<item id>.<ext>``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.images import open_image
from longbench.models.base import Model, Request

if TYPE_CHECKING:
    from PIL import Image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class ImagesModel(Model):
    """Reads ``DIR/<item id>.{png,jpg,jpeg,webp,bmp}`` (extension in any case); the seed is ignored (images
    are fixed). Two files for one id (``a.png`` and ``a.jpg``) are an error naming both: picking one would
    score an image the user may not mean."""

    kind = "images"
    cache_images = False

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        super().__init__(arg, args)
        self.root = Path(arg).expanduser()
        if not arg:
            raise LongbenchError("images: needs a directory, e.g. --model images:./out")
        if not self.root.is_dir():
            raise LongbenchError(f"images:{arg}: directory does not exist")
        self._files: dict[str, Path] = {}
        self._by_id: dict[str, list[Path]] | None = None

    def identity(self) -> dict[str, Any]:
        return {"spec": self.spec, "args": self.args, "dir": str(self.root.resolve())}

    def _index(self) -> dict[str, list[Path]]:
        """Item id → image files of the directory (listed once; extensions in any case)."""
        if self._by_id is None:
            by_id: dict[str, list[Path]] = {}
            try:
                with os.scandir(self.root) as entries:
                    for entry in entries:
                        stem, dot, ext = entry.name.rpartition(".")
                        # the file may be a symlink to an image elsewhere: is_file() follows it
                        if dot and stem and f".{ext.lower()}" in EXTENSIONS and entry.is_file():
                            by_id.setdefault(stem, []).append(Path(entry.path))
            except OSError as e:
                raise LongbenchError(f"images:{self.arg}: cannot list the directory ({e.strerror or e})") from None
            self._by_id = by_id
        return self._by_id

    def _find(self, item_id: str) -> Path | None:
        """The one image file of ``item_id``, None when there is none.

        Raises:
            LongbenchError: several files for the id.
        """
        found = sorted(self._index().get(item_id, ()))
        if len(found) > 1:
            raise LongbenchError(f"images:{self.arg}: item {item_id!r} has {len(found)} image files "
                                 f"({' and '.join(p.name for p in found)}); keep the one to score")
        return found[0] if found else None

    def prepare(self, requests: Sequence[Request]) -> None:
        missing = []
        for r in requests:
            f = self._find(r.item_id)
            if f is None:
                missing.append(r.item_id)
            else:
                self._files[r.item_id] = f
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise LongbenchError(f"images:{self.arg}: no image for {len(missing)} of {len(requests)} items: {shown}")

    def image_path(self, request: Request) -> str:
        return str(self._files.get(request.item_id) or self._find(request.item_id))

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        out = []
        for r in requests:
            path = self._files.get(r.item_id) or self._find(r.item_id)
            if path is None:
                raise LongbenchError(f"images:{self.arg}: no image for item {r.item_id!r}")
            out.append(open_image(path))
        return out
