"""Pure functions behind ``count`` (definitions in :mod:`longbench.metrics.count`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def count_boxes(boxes: torch.Tensor, scores: torch.Tensor, score_threshold: float, iou_threshold: float) -> int:
    """Boxes (N,4 xyxy) scoring above ``score_threshold`` that survive NMS at ``iou_threshold``."""
    from torchvision.ops import nms

    if boxes.numel() == 0:
        return 0
    keep = scores > score_threshold
    if not bool(keep.any()):
        return 0
    return int(nms(boxes[keep].float(), scores[keep].float(), iou_threshold).numel())


def count_scores(stated: Sequence[int | None], predicted: Sequence[int]) -> dict[str, float]:
    """The three per-image columns of one image (NaN when undefined).

    Args:
        stated: per entity, the count the prompt states (None when it states no number; 0 = must be absent).
        predicted: per entity, the detected count.

    Returns:
        ``count-acc`` (share of stated counts met exactly), ``count-mae`` (mean |predicted − stated| over the
        same entities) and ``presence-recall`` (share of the entities that must appear detected at least once).
    """
    counted = [(c, p) for c, p in zip(stated, predicted) if c is not None]
    present = [p for c, p in zip(stated, predicted) if c is None or c > 0]
    return {
        "count-acc": sum(p == c for c, p in counted) / len(counted) if counted else math.nan,
        "count-mae": sum(abs(p - c) for c, p in counted) / len(counted) if counted else math.nan,
        "presence-recall": sum(p > 0 for p in present) / len(present) if present else math.nan,
    }
