"""Pure tensor function behind CLIPScore (``longbench.metrics.clipscore``)."""

from __future__ import annotations

import torch

from longbench.errors import LongbenchError


def clip_score(image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """Per-image CLIPScore ``max(100·x·t, 0)`` (Hessel et al.: every score clamped, not only the mean).

    Args:
        image_features: (B, D) L2-normalised image embeddings.
        text_features: (B, D) L2-normalised embeddings of each image's (truncated) prompt.

    Returns:
        (B,) scores in the dtype of ``image_features``.

    Raises:
        LongbenchError: the two batches differ in shape.
    """
    if image_features.shape != text_features.shape:
        raise LongbenchError(f"clipscore: image features {tuple(image_features.shape)} but text features "
                             f"{tuple(text_features.shape)}")
    return (100.0 * (image_features * text_features.to(image_features)).sum(-1)).clamp_min(0.0)
