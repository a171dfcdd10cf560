"""Pure tensor functions behind Denscore (DESIGN §4 "Denscore" and "Decomposition and reweighting").

Notation: image features ``x`` and segment features are L2-normalised; the prompt vector ``c`` is the mean of
the prompt's normalised segment vectors (not re-normalised); ``V`` is a unit "mean text" direction;
``η = c·V``; ``c⊥ = c − ηV``. The plain score is ``x·c``; the reweighted score is ``x·(c⊥ + ωηV)``
``= x·(c − (1−ω)(c·V)V)``; ``ω = 1`` gives the plain score and ``ω = 0`` the text-relevant part ``x·c⊥``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

from longbench.errors import LongbenchError

#: The reference reward crops 504 of 512 pixels per side before resizing; other sizes crop the same fraction.
CROP_FRACTION = 504 / 512


def check_images(images: torch.Tensor, where: str = "images") -> None:
    """Validate a float (B,3,H,W) batch in [0,1].

    Raises:
        LongbenchError: wrong type/shape, NaN/inf values, or values clearly outside [0,1].
    """
    if not isinstance(images, torch.Tensor):
        raise LongbenchError(f"{where}: expected a float tensor (B,3,H,W) in [0,1], got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise LongbenchError(f"{where}: expected shape (B,3,H,W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise LongbenchError(f"{where}: expected a float tensor in [0,1], got dtype {images.dtype}")
    if images.shape[0] == 0:
        raise LongbenchError(f"{where}: empty batch")
    detached = images.detach()
    if not torch.isfinite(detached).all():
        raise LongbenchError(f"{where}: contains NaN or inf values")
    from longbench.images import FLOAT_RANGE_TOLERANCE  # the one rule for float images

    lo, hi = float(detached.min()), float(detached.max())
    if lo < -FLOAT_RANGE_TOLERANCE or hi > 1 + FLOAT_RANGE_TOLERANCE:
        raise LongbenchError(f"{where}: values must lie in [0,1] (got min {lo:.3g}, max {hi:.3g}); clamp first")


def crop_box(height: int, width: int, fraction: float = CROP_FRACTION) -> tuple[int, int]:
    """Crop size (h, w) that keeps ``fraction`` of each side (504 of 512 by default)."""
    return max(1, round(height * fraction)), max(1, round(width * fraction))


def crop_images(images: torch.Tensor, fraction: float, *, random_crop: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep ``fraction`` of each side of a (..., H, W) batch: centred, or at one uniformly random offset for the
    whole batch (drawn from ``generator``: top, then left), as the training rewards crop."""
    from torchvision.transforms.v2 import functional as tvf

    h, w = images.shape[-2:]
    ch, cw = crop_box(h, w, fraction)
    if random_crop:
        top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
        return images[..., top:top + ch, left:left + cw]
    return tvf.center_crop(images, [ch, cw])


def reward_preprocess(images: torch.Tensor, *, image_size: int = 224,
                      mean: Sequence[float] = (0.48145466, 0.4578275, 0.40821073),
                      std: Sequence[float] = (0.26862954, 0.26130258, 0.27577711),
                      fraction: float = CROP_FRACTION, random_crop: bool = False,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Denscore's image preprocessing, differentiable in ``images``.

    Crop ``fraction`` of each side (centred for evaluation; a uniformly random offset, as the reference reward
    does in training, with ``random_crop``), resize to ``image_size`` square with torchvision's tensor resize
    (bilinear, antialias=True: the default of ``transforms.Resize`` on tensors since torchvision 0.17, the
    version the reference pins), then normalise with ``mean``/``std``.
    """
    from torchvision.transforms.v2 import functional as tvf

    x = crop_images(images, fraction, random_crop=random_crop, generator=generator)
    x = tvf.resize(x, [image_size, image_size], interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
    return tvf.normalize(x, list(mean), list(std))



def eval_preprocess(images: torch.Tensor, *, image_size: int = 224,
                    mean: Sequence[float] = (0.48145466, 0.4578275, 0.40821073),
                    std: Sequence[float] = (0.26862954, 0.26130258, 0.27577711),
                    fraction: float = CROP_FRACTION) -> torch.Tensor:
    """Denscore's evaluation preprocessing of a uint8 (B,3,H,W) batch: the same values as
    ``reward_preprocess(images / 255)`` with the centred crop, computed with less work: the crop is taken
    before the float conversion, and the float copy is contiguous (torch's antialiased float resize is
    faster on it than on a channels-last batch, with the same arithmetic per output pixel)."""
    from torchvision.transforms.v2 import functional as tvf

    if images.dtype != torch.uint8:
        raise LongbenchError(f"eval_preprocess: expected a uint8 batch, got {images.dtype}")
    ch, cw = crop_box(*images.shape[-2:], fraction)
    x = tvf.center_crop(images, [ch, cw]).to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
    return reward_preprocess(x, image_size=image_size, mean=mean, std=std, fraction=1.0)

def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def prompt_vectors(segment_features: torch.Tensor, owners: torch.Tensor | Sequence[int], n: int) -> torch.Tensor:
    """Mean of normalised segment vectors per prompt: (S,D) features, owner index per segment → (n,D).

    ``segment_features`` must already be L2-normalised; the mean is not re-normalised.
    """
    owners = torch.as_tensor(owners, dtype=torch.long, device=segment_features.device)
    counts = torch.bincount(owners, minlength=n)
    if (counts == 0).any():
        raise LongbenchError(f"prompt {int((counts == 0).nonzero()[0])} has no segments")
    sums = torch.zeros(n, segment_features.shape[-1], dtype=segment_features.dtype, device=segment_features.device)
    sums.index_add_(0, owners, segment_features)
    return sums / counts.unsqueeze(-1).to(sums.dtype)


def unit_direction(direction: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Validate a direction vector and return it with unit norm."""
    v = torch.as_tensor(direction).detach().float().flatten()
    if dim is not None and v.numel() != dim:
        raise LongbenchError(f"direction has {v.numel()} values, the text features have {dim}")
    norm = float(v.norm())
    if not torch.isfinite(v).all() or norm == 0.0:
        raise LongbenchError("direction must be a finite, non-zero vector")
    return v / norm


def reweight(c: torch.Tensor, direction: torch.Tensor, omega: float) -> torch.Tensor:
    """``c − (1−ω)(c·V)V`` for prompt vectors ``c`` (N,D) and a unit direction ``V`` (D,)."""
    v = direction.to(c)
    eta = c @ v
    return c - (1.0 - omega) * eta.unsqueeze(-1) * v


def text_relevant(c: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """``c⊥ = c − (c·V)V``: the part of ``c`` orthogonal to the mean text direction."""
    return reweight(c, direction, 0.0)


def denscore_scores(image_features: torch.Tensor, segment_features: torch.Tensor,
                    owners: torch.Tensor | Sequence[int], direction: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The evaluation columns of Denscore (×100) from normalised features: ``(denscore, denscore-o, per_segment)``.

    Args:
        image_features: (B, D) L2-normalised image vectors ``x``.
        segment_features: (S, D) L2-normalised segment vectors.
        owners: (S,) index of the image/prompt each segment belongs to (every prompt has at least one).
        direction: unit mean text direction V (D,).

    Returns:
        ``100·x·c⊥`` (B,), ``100·x·c`` (B,) and each segment's ``100·x·s`` (S,), in the dtype of ``x``,
        with ``c`` the mean of a prompt's segment vectors (:func:`prompt_vectors`).

    Raises:
        LongbenchError: ``direction`` does not match the feature dimension, or a prompt has no segments.
    """
    x = image_features
    c = prompt_vectors(segment_features, owners, x.shape[0]).to(x)
    v = direction.to(x)
    if v.numel() != c.shape[-1]:
        raise LongbenchError(f"denscore: direction has {v.numel()} values, the text features {c.shape[-1]}")
    dense_o = 100.0 * (x * c).sum(-1)
    dense = 100.0 * (x * text_relevant(c, v)).sum(-1)
    owners_t = torch.as_tensor(owners, device=x.device)
    per_segment = 100.0 * (x[owners_t] * segment_features.to(x)).sum(-1)
    return dense, dense_o, per_segment


def mean_direction(prompt_vecs: torch.Tensor) -> torch.Tensor:
    """Unit mean of prompt vectors (N,D) → V (D,)."""
    if prompt_vecs.shape[0] == 0:
        raise LongbenchError("cannot compute the mean text direction of zero prompts")
    return unit_direction(prompt_vecs.double().mean(dim=0))


def direction_hash(direction: torch.Tensor) -> str:
    """A short, device-independent identity of V: sha256 of its values rounded to 6 decimals."""
    values = torch.round(direction.detach().double().cpu().flatten() * 1e6).to(torch.int64)
    return hashlib.sha256(values.numpy().tobytes()).hexdigest()[:16]
