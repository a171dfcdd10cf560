"""Attribute concentration: TokenCompose's token and pixel losses on recorded cross-attention maps.

For one image, one recorded UNet call and one group of layers of the same place and resolution ``r``
(:data:`longalign.comat.attention.AttentionMaps`), with entities ``e`` whose tokens sit at context rows ``T_e``
and whose binary masks ``M_e`` are resized to ``r × r`` (bilinear with antialiasing, then any positive value
is 1):

* token loss — ``(1/E) Σ_e Σ_layers (1/|T_e|) Σ_{k∈T_e} (1 − mean_heads(Σ_{p∈M_e} A[h,p,k] / Σ_p A[h,p,k]))²``:
  the share of each entity token's attention mass inside its mask, pushed to 1 (a sum over the group's
  layers, a mean over tokens and entities);
* pixel loss — ``(1/E) Σ_e BCE(Σ_{k∈T_e} Ā[·,k], M_e)`` with ``Ā`` the attention averaged over heads and then
  over the group's layers, and BCE the mean binary cross-entropy over the ``r × r`` positions (log clamped at
  −100, as ``torch.nn.BCELoss``).

The losses of an image are summed over recorded calls and layer groups; the batch loss is that sum divided by
the batch size (images without entities count in the denominator), as the reference code does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from longalign.comat.attention import AttentionMaps


def resize_masks(masks: torch.Tensor, res: int) -> torch.Tensor:
    """(E, H, W) masks → (E, res, res) float {0, 1}: bilinear antialiased resize, then any positive value is 1."""
    from torchvision.transforms.v2 import functional as tvf

    x = tvf.resize(masks.float()[:, None], [res, res], interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
    return (x[:, 0] > 0).float()


def token_loss(maps: Sequence[torch.Tensor], rows: Sequence[Sequence[int]], masks: torch.Tensor) -> torch.Tensor:
    """Token loss of one image and layer group (module docstring).

    Args:
        maps: per layer, (heads, res, res, keys) attention probabilities.
        rows: per entity, its context rows (non-empty).
        masks: (E, res, res) binary masks.
    """
    total = maps[0].new_zeros((), dtype=torch.float32)
    for a in maps:
        a = a.float()
        for r, m in zip(rows, masks):
            att = a[..., list(r)]  # (heads, res, res, tokens)
            inside = (att * m[None, :, :, None]).sum(dim=(1, 2)) / att.sum(dim=(1, 2))  # (heads, tokens)
            total = total + ((1.0 - inside.mean(dim=0)) ** 2).mean()
    return total / len(rows)


def pixel_loss(maps: Sequence[torch.Tensor], rows: Sequence[Sequence[int]], masks: torch.Tensor) -> torch.Tensor:
    """Pixel loss of one image and layer group (module docstring); arguments as :func:`token_loss`."""
    mean = torch.stack([a.float().mean(dim=0) for a in maps]).mean(dim=0)  # (res, res, keys)
    total = mean.new_zeros(())
    for r, m in zip(rows, masks):
        # float rounding can lift a sum of probabilities a hair above 1, where BCE is undefined
        p = mean[..., list(r)].sum(dim=-1).clamp(0.0, 1.0)
        total = total + F.binary_cross_entropy(p, m)
    return total / len(rows)


def attention_losses(recorded: Sequence[AttentionMaps], rows: Sequence[Sequence[Sequence[int]]],
                     masks: Sequence[torch.Tensor | None], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(token loss, pixel loss) of a batch (module docstring).

    Args:
        recorded: per recorded UNet call, its maps (each tensor (B, heads, res, res, keys)).
        rows: per image, per entity, the entity's context rows; an entity without rows is skipped.
        masks: per image, (E, H, W) masks of its entities (None: the image has no entity).
        batch_size: the denominator.
    """
    device = next(t for maps in recorded for layers in maps.values() for t in layers).device
    token = torch.zeros((), device=device)
    pixel = torch.zeros((), device=device)
    for i in range(batch_size):
        if masks[i] is None:
            continue
        keep = [e for e, r in enumerate(rows[i]) if r]
        if not keep:
            continue
        ent_rows = [rows[i][e] for e in keep]
        ent_masks = masks[i][keep]
        for maps in recorded:
            for (_, res), layers in maps.items():
                m = resize_masks(ent_masks, res).to(device)
                per_image = [layer[i] for layer in layers]
                token = token + token_loss(per_image, ent_rows, m)
                pixel = pixel + pixel_loss(per_image, ent_rows, m)
    return token / batch_size, pixel / batch_size
