"""``images:<dir>`` — score images generated elsewhere, one file per item named ``<item id>.<ext>``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.models.base import Model, Request, open_image

if TYPE_CHECKING:
    from PIL import Image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class ImagesModel(Model):
    """Reads ``DIR/<item id>.{png,jpg,jpeg,webp,bmp}``; the seed is ignored (images are fixed)."""

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

    def identity(self) -> dict[str, Any]:
        return {"spec": self.spec, "args": self.args, "dir": str(self.root.resolve())}

    def _find(self, item_id: str) -> Path | None:
        for ext in EXTENSIONS:
            for cand in (self.root / f"{item_id}{ext}", self.root / f"{item_id}{ext.upper()}"):
                # Item ids are validated (no separators, no ".."), so the name stays in the directory;
                # the file itself may be a symlink to an image elsewhere.
                if cand.is_file():
                    return cand
        return None

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
