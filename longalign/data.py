"""Training data: image-caption pairs and preference pairs.

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

Every image path and caption is checked when the dataset is opened, so a missing file or an empty caption
fails before the first training step with the row that caused it.

Preference pairs (``denscore`` stage): JSONL, one object per line::

    {"caption": "...", "image_0": "a.png", "image_1": "b.png", "label": 0 | 1 | 0.5}

``label`` is the index of the preferred image, 0.5 for a tie.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench import jsonio
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch

    from longalign.config import DataSection, PairsSection

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass(frozen=True)
class Pair:
    """One image-caption pair; ``where`` names its origin (file:row) for error messages."""

    image: str
    caption: str
    where: str


# ---------------------------------------------------------------------------------------------- tables
def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL / JSON (list of objects) / CSV / parquet file."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":  # the one JSONL reader of longbench (BOM, line limit, line-numbered errors)
        rows = []
        for i, row in jsonio.read_jsonl(path):
            if not isinstance(row, dict):
                raise LongbenchError(f"{path}:{i}: expected a JSON object per line")
            rows.append(row)
        return rows
    if suffix == ".json":
        data = jsonio.read_json(path)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise LongbenchError(f"{path}: expected a JSON list of objects")
        return data
    if suffix == ".csv":
        # a byte-order mark is dropped and bad bytes are a line-numbered error, as for JSON
        text = jsonio.decode_utf8(jsonio.strip_bom(jsonio.read_bytes(path)), str(path))
        return list(csv.DictReader(io.StringIO(text, newline="")))
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as e:
            raise LongbenchError(f"{path}: cannot read parquet ({type(e).__name__}: {e})") from None
    raise LongbenchError(f"{path}: unsupported table format {suffix!r} (use {', '.join(TABLE_SUFFIXES)})")


def _row_number(path: Path, i: int) -> str:
    # 1-based data rows; a CSV header is line 1 so its rows start at line 2
    return f"{path}:{i + (2 if path.suffix.lower() == '.csv' else 1)}"


def _pairs_from_table(path: Path, image_col: str, caption_col: str, root: Path,
                      clean: bool = False, require_images: bool = True) -> list[Pair]:
    rows = read_table(path)
    needed = [image_col, caption_col] if require_images else [caption_col]
    if rows and any(c not in rows[0] for c in needed):
        raise LongbenchError(f"{path}: needs column(s) {', '.join(map(repr, needed))} (found: "
                             f"{', '.join(map(str, rows[0]))})")
    out = []
    for i, row in enumerate(rows):
        where = _row_number(path, i)
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

    from longbench.models.base import open_image

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

    Item ``i`` is scene and prompt ``random.Random(f"{seed}:{i}")`` exactly as the synth suite builds its items
    (``longbench.synth.suite.make_items``), so a training seed different from the suite's
    (``synth-v0`` uses 20241015) never trains on evaluation scenes. Images are rendered at
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
        import random

        from longbench.synth.grammar import make_prompt
        from longbench.synth.sampler import sample_scene

        rng = random.Random(f"{self.seed}:{i}")
        scene = sample_scene(rng)
        return scene, make_prompt(scene, rng).text

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


def build_dataset(cfg: DataSection, load_images: bool = True) -> PairDataset | SynthDataset:
    """Open (and fully check) the configured dataset; ``load_images=False`` reads captions only."""
    if resolve_format(cfg) == "synth":
        return SynthDataset(cfg.synth_size, cfg.synth_seed, cfg.resolution, load_images)
    return PairDataset(load_pairs(cfg, require_images=load_images), cfg.resolution, load_images)


def collate_pairs(examples: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {
        "caption": [e["caption"] for e in examples],
        "index": torch.tensor([e["index"] for e in examples]),
    }
    if "pixel_values" in examples[0]:
        out["pixel_values"] = torch.stack([e["pixel_values"] for e in examples]).contiguous()
    return out


# ---------------------------------------------------------------------------------------------- order
class StreamBatchSampler:
    """Batches of a seeded stream of epoch permutations, starting at batch ``start``.

    The stream is a pure function of (n, seed): batch k is the same whether a run went straight or was
    resumed at k, which keeps resumed runs on the identical trajectory. Datasets smaller than a batch
    simply wrap into the next epoch. accelerate shards the batches across processes.
    """

    def __init__(self, n: int, batch_size: int, seed: int, num_batches: int, start: int = 0):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.num_batches, self.start = num_batches, start

    def __len__(self) -> int:
        return max(0, self.num_batches - self.start)

    def _epoch(self, epoch: int) -> list[int]:
        import torch

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        first = self.start * self.batch_size
        epoch, offset = divmod(first, self.n)
        order = self._epoch(epoch)
        for _ in range(len(self)):
            batch = []
            while len(batch) < self.batch_size:
                if offset == self.n:
                    epoch, offset = epoch + 1, 0
                    order = self._epoch(epoch)
                take = min(self.batch_size - len(batch), self.n - offset)
                batch.extend(order[offset:offset + take])
                offset += take
            yield batch


# ---------------------------------------------------------------------------------------------- preferences
@dataclass(frozen=True)
class PreferencePair:
    caption: str
    image_0: str
    image_1: str
    label: float
    where: str


def load_preference_pairs(cfg: PairsSection) -> list[PreferencePair]:
    """Read and check the preference JSONL (see module docstring)."""
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise LongbenchError(f"pairs.path {path} does not exist")
    if path.suffix.lower() != ".jsonl":
        raise LongbenchError(f"pairs.path {path}: expected a .jsonl file of {{caption, image_0, image_1, label}}")
    root = Path(cfg.image_root).expanduser() if cfg.image_root else path.parent
    out = []
    for i, row in enumerate(read_table(path)):
        where = f"{path}:{i + 1}"
        for key in ("caption", "image_0", "image_1", "label"):
            if key not in row:
                raise LongbenchError(f"{where}: missing {key!r}")
        caption = row["caption"]
        if not isinstance(caption, str) or not caption.strip():
            raise LongbenchError(f"{where}: empty caption")
        label = row["label"]
        if isinstance(label, bool) or label not in (0, 1, 0.5):
            raise LongbenchError(f"{where}: label must be 0, 1 or 0.5 (a tie), got {label!r}")
        images = []
        for key in ("image_0", "image_1"):
            value = row[key]
            if not isinstance(value, str) or not value:
                raise LongbenchError(f"{where}: {key!r} must be an image path")
            full = value if os.path.isabs(value) else str(root / value)
            if not os.path.isfile(full):
                raise LongbenchError(f"{where}: image file {full} not found ({key})")
            images.append(full)
        out.append(PreferencePair(caption, images[0], images[1], float(label), where))
    if cfg.limit:
        out = out[:cfg.limit]
    if not out:
        raise LongbenchError(f"pairs.path {path}: no preference pairs")
    return out


class PreferenceDataset:
    """Preference pairs → ``{"caption", "image_0", "image_1" (PIL RGB), "label"}``."""

    def __init__(self, pairs: Sequence[PreferencePair]):
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from longbench.models.base import open_image

        p = self.pairs[i]
        images = [open_image(path, f"{p.where}: image {path}") for path in (p.image_0, p.image_1)]
        return {"caption": p.caption, "image_0": images[0], "image_1": images[1], "label": p.label, "index": i}


def collate_preferences(examples: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    return {
        "caption": [e["caption"] for e in examples],
        "image_0": [e["image_0"] for e in examples],
        "image_1": [e["image_1"] for e in examples],
        "label": torch.tensor([e["label"] for e in examples], dtype=torch.float32),
        "index": torch.tensor([e["index"] for e in examples]),
    }
