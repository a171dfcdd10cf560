"""Image-caption pairs: the training data of the diffusion stages (``data`` section).

Formats of ``data.format`` (``auto`` picks by the path: a directory → ``folder``, else by suffix):

* ``folder`` — a directory of images; each image's caption is the sidecar ``<stem>.txt``, or the
  ``metadata.jsonl`` / ``metadata.csv`` of the directory (Hugging Face imagefolder layout: a ``file_name``
  column and the caption column).
* ``jsonl`` / ``csv`` / ``parquet`` — one row per pair: ``data.image_column`` (default ``image``, a path
  relative to ``data.image_root`` or to the table's directory) and ``data.caption_column`` (``caption``).
* ``longalign`` — the LongAlign dataset layout (``luping-liu/LongAlign``): tables (parquet/jsonl/json/csv,
  a file or every such file under a directory) with columns ``path`` (relative to ``data.image_root``) and
  ``caption``; captions are cleaned as the reference does (paragraph breaks removed, stripped).
* ``synth`` — scenes of the synthetic world rendered on the fly (``longbench.synth``), with their long
  prompts as captions.
* ``mini`` — scenes of the miniature world rendered on the fly at 32 px (``longalign.data.mini``), with
  long prompts, short complete captions or single sentences as captions.

Every image path and caption is checked when the dataset is opened, so a missing file or an empty caption
fails before the first training step with the row that caused it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longalign.data.tables import TABLE_SUFFIXES, read_table, row_number
from longbench import jsonio
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch

    from longalign.sections import DataSection

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass(frozen=True)
class Pair:
    """One image-caption pair; ``where`` names its origin (file:row) for error messages."""

    image: str
    caption: str
    where: str


def _pairs_from_table(path: Path, image_col: str, caption_col: str, root: Path,
                      clean: bool = False, require_images: bool = True) -> list[Pair]:
    rows = read_table(path)
    needed = [image_col, caption_col] if require_images else [caption_col]
    if rows and any(c not in rows[0] for c in needed):
        raise LongbenchError(f"{path}: needs column(s) {', '.join(map(repr, needed))} (found: "
                             f"{', '.join(map(str, rows[0]))})")
    out = []
    for i, row in enumerate(rows):
        where = row_number(path, i)
        image, caption = row.get(image_col) or "", row.get(caption_col)
        if require_images and (not isinstance(image, str) or not image):
            raise LongbenchError(f"{where}: missing {image_col!r}")
        if not isinstance(image, str):
            raise LongbenchError(f"{where}: {image_col!r} must be a path")
        if caption is None:
            caption = ""
        if not isinstance(caption, str):
            raise LongbenchError(f"{where}: {caption_col!r} must be a string")
        if clean:
            caption = caption.replace("\n\n", "").strip()
        full = "" if not image else (image if os.path.isabs(image) else str(root / image))
        out.append(Pair(full, caption, where))
    return out


def _pairs_from_folder(folder: Path, caption_col: str) -> list[Pair]:
    for meta in ("metadata.jsonl", "metadata.csv"):
        if (folder / meta).is_file():
            return _pairs_from_table(folder / meta, "file_name", caption_col, folder)
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    out = []
    for img in images:
        txt = img.with_suffix(".txt")
        if not txt.is_file():
            raise LongbenchError(f"{img}: no caption file {txt.name} (folder datasets pair each image with a "
                                 "same-named .txt, or provide metadata.jsonl)")
        out.append(Pair(str(img), jsonio.decode_utf8(jsonio.strip_bom(jsonio.read_bytes(txt)), str(txt)).strip(),
                        str(txt)))
    return out


def _longalign_tables(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    tables = sorted(p for p in path.rglob("*") if p.suffix.lower() in TABLE_SUFFIXES and p.is_file())
    if not tables:
        raise LongbenchError(f"{path}: no parquet/jsonl/json/csv tables found (LongAlign layout: columns path, "
                             "caption)")
    return tables


def resolve_format(cfg: DataSection) -> str:
    if cfg.format != "auto":
        return cfg.format
    p = Path(cfg.path)
    if p.is_dir():
        return "folder"
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".csv", ".parquet"):
        return suffix[1:]
    raise LongbenchError(f"data.path={cfg.path!r}: cannot tell the format; set data.format to one of folder, "
                         "jsonl, csv, parquet, longalign, synth")


def load_pairs(cfg: DataSection, require_images: bool = True) -> list[Pair]:
    """Read and check every pair of the configured dataset (not for ``synth``).

    With ``require_images=False`` (stages that only read captions) image paths are optional and unchecked.
    """
    fmt = resolve_format(cfg)
    path = Path(cfg.path).expanduser()
    if not path.exists():
        raise LongbenchError(f"data.path {path} does not exist")
    if fmt == "folder":
        if not path.is_dir():
            raise LongbenchError(f"data.path {path}: format folder needs a directory")
        pairs = _pairs_from_folder(path, cfg.caption_column)
    elif fmt in ("jsonl", "csv", "parquet"):
        root = Path(cfg.image_root).expanduser() if cfg.image_root else path.parent
        pairs = _pairs_from_table(path, cfg.image_column, cfg.caption_column, root,
                                  require_images=require_images)
    elif fmt == "longalign":
        pairs = []
        for table in _longalign_tables(path):
            root = Path(cfg.image_root).expanduser() if cfg.image_root else table.parent
            pairs.extend(_pairs_from_table(table, "path", "caption", root, clean=True,
                                           require_images=require_images))
    else:
        raise LongbenchError(f"data.format={fmt!r} has no pair files")
    if cfg.limit:
        pairs = pairs[:cfg.limit]
    if not pairs:
        raise LongbenchError(f"data.path {path}: no image-caption pairs found")
    check_pairs(pairs, require_images)
    return pairs


def check_pairs(pairs: Sequence[Pair], require_images: bool = True) -> None:
    """Raise on the first empty caption or missing image file, naming the row (and counting the others)."""
    empty = [p for p in pairs if not p.caption.strip()]
    if empty:
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise LongbenchError(f"{empty[0].where}: empty caption{more}")
    if not require_images:
        return
    missing = [p for p in pairs if not os.path.isfile(p.image)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise LongbenchError(f"{missing[0].where}: image file {missing[0].image} not found{more}")


# ---------------------------------------------------------------------------------------------- images
def load_image(path: str, resolution: int, where: str) -> torch.Tensor:
    """RGB image → shorter side resized to ``resolution`` (bilinear, antialiased), centre-cropped, in [-1, 1]."""
    from torchvision.transforms.v2 import functional as tvf

    from longbench.images import open_image

    image = open_image(path, f"{where}: image {path}")
    x = tvf.pil_to_tensor(image).float().div(255.0)
    x = tvf.resize(x, resolution, interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
    x = tvf.center_crop(x, [resolution, resolution])
    return x * 2.0 - 1.0


class PairDataset:
    """Map-style dataset of image-caption pairs → ``{"pixel_values", "caption", "index"}``
    (no ``pixel_values`` when ``load_images`` is false)."""

    def __init__(self, pairs: Sequence[Pair], resolution: int, load_images: bool = True):
        self.pairs = list(pairs)
        self.resolution = resolution
        self.load_images = load_images

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        p = self.pairs[i]
        item: dict[str, Any] = {"caption": p.caption, "index": i}
        if self.load_images:
            item["pixel_values"] = load_image(p.image, self.resolution, p.where)
        return item

    def describe(self) -> dict[str, Any]:
        return {"n": len(self.pairs), "first": self.pairs[0].where if self.pairs else None}


class SynthDataset:
    """Scenes of the synthetic world rendered on the fly, captioned by their long prompts.

    Item ``i`` is scene and prompt ``longbench.synth.suite.draft(seed, i)``, exactly as the synth suite builds
    its items, so a training seed different from the suite's (``synth-v0`` uses 20241015) never trains on
    evaluation scenes. Images are rendered at
    ``max(resolution, 128)`` pixels (the renderer's minimum) and resized to ``resolution``.
    """

    def __init__(self, size: int, seed: int, resolution: int, load_images: bool = True):
        from longbench.synth.suite import SYNTH_V0_SEED

        if size < 1:
            raise LongbenchError(f"data.synth_size={size} must be ≥ 1")
        if seed == SYNTH_V0_SEED:
            logger.warning("data.synth_seed=%d is the synth-v0 suite's seed: training scenes are evaluation scenes",
                           seed)
        self.size, self.seed, self.resolution, self.load_images = size, seed, resolution, load_images
        self._renderer: Any = None

    def __len__(self) -> int:
        return self.size

    def draw(self, i: int) -> tuple[Any, str]:
        """(scene, prompt text) of item ``i``."""
        from longbench.synth.suite import draft

        scene, prompt = draft(self.seed, i)
        return scene, prompt.text

    def __getitem__(self, i: int) -> dict[str, Any]:
        scene, caption = self.draw(i)
        item: dict[str, Any] = {"caption": caption, "index": i}
        if self.load_images:
            from torchvision.transforms.v2 import functional as tvf

            from longbench.synth.render import MIN_IMAGE_SIZE, Renderer

            if self._renderer is None:
                self._renderer = Renderer(max(self.resolution, MIN_IMAGE_SIZE))
            x = tvf.pil_to_tensor(self._renderer.render(scene, seed=i)).float().div(255.0)
            if x.shape[-1] != self.resolution:
                x = tvf.resize(x, [self.resolution, self.resolution],
                               interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
            item["pixel_values"] = x * 2.0 - 1.0
        return item

    def describe(self) -> dict[str, Any]:
        return {"n": self.size, "format": "synth", "synth_seed": self.seed}


def build_dataset(cfg: DataSection, load_images: bool = True) -> Any:
    """Open (and fully check) the configured dataset; ``load_images=False`` reads captions only."""
    if resolve_format(cfg) == "synth":
        return SynthDataset(cfg.synth_size, cfg.synth_seed, cfg.resolution, load_images)
    if cfg.format == "mini":
        from longalign.data.mini import MiniDataset

        return MiniDataset(cfg.mini_size, cfg.mini_seed, cfg.resolution, cfg.mini_captions, load_images,
                           twins=cfg.mini_twins, layout=cfg.mini_layout)
    return PairDataset(load_pairs(cfg, require_images=load_images), cfg.resolution, load_images)


def collate_pairs(examples: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {
        "caption": [e["caption"] for e in examples],
        "index": torch.tensor([e["index"] for e in examples]),
    }
    for key in ("pixel_values", "twin_pixel_values"):
        if key in examples[0]:
            out[key] = torch.stack([e[key] for e in examples]).contiguous()
    return out
