"""Preference pairs: the training data of the ``denscore`` stage (``pairs`` section).

JSONL, one object per line::

    {"caption": "...", "image_0": "a.png", "image_1": "b.png", "label": 0 | 1 | 0.5}

``label`` is the index of the preferred image, 0.5 for a tie. Image paths are relative to
``pairs.image_root`` (default: the file's directory); every row is checked when the file is read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longalign.data.tables import read_table
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from longalign.stages.denscore import PairsSection


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
        from longbench.images import open_image

        p = self.pairs[i]
        images = [open_image(path, f"{p.where}: image {path}") for path in (p.image_0, p.image_1)]
        return {"caption": p.caption, "image_0": images[0], "image_1": images[1], "label": p.label, "index": i}


def collate_preferences(examples: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch of pairs; ``segment_labels`` (one list per pair, when the data gives them) stay lists."""
    import torch

    extra = {"segment_labels": [e["segment_labels"] for e in examples]} if "segment_labels" in examples[0] else {}
    return {**extra,
        "caption": [e["caption"] for e in examples],
        "image_0": [e["image_0"] for e in examples],
        "image_1": [e["image_1"] for e in examples],
        "label": torch.tensor([e["label"] for e in examples], dtype=torch.float32),
        "index": torch.tensor([e["index"] for e in examples]),
    }
