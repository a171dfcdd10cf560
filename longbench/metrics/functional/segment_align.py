"""Pure tensor functions behind ``segment-align`` (definitions in :mod:`longbench.metrics.segment_align`).

Samples are images; segments are stored flat, the segments of sample ``i`` being the ``counts[i]`` rows after
those of samples ``0..i-1``. Which other samples an image is compared against (``others``) is a suite-level
choice made by :func:`longbench.metrics.segment_align.other_sets`; these functions only do the arithmetic.
"""

from __future__ import annotations

import math

import torch


def own_segment_scores(image_features: torch.Tensor, segment_features: torch.Tensor,
                       counts: torch.Tensor) -> torch.Tensor:
    """Every segment's score on its own image, ``100·s·x`` (S,) float64.

    Args:
        image_features: (N, D) L2-normalised image vectors.
        segment_features: (S, D) L2-normalised segment vectors, grouped by sample.
        counts: (N,) number of segments of each sample (summing to S).
    """
    owners = torch.repeat_interleave(torch.arange(image_features.shape[0]), counts.cpu())
    return 100.0 * (segment_features.double() * image_features.double()[owners]).sum(-1)


def segment_coverage(image_feats: torch.Tensor, seg_feats: torch.Tensor, owners: torch.Tensor,
                     others: list[list[int]]) -> torch.Tensor:
    """Per-image coverage: mean over the image's segments of their win rate against the images ``others``.

    A segment ``s`` of image ``i`` wins against image ``o`` when ``s·x_i > s·x_o``; a tie counts ½.

    Args:
        image_feats: (N,D) normalised image features.
        seg_feats: (S,D) normalised segment features.
        owners: (S,) owning image of each segment.
        others: per image, the indices of the images it is compared against.

    Returns:
        (N,) float64; NaN for an image with no others or no segments.
    """
    n, d = image_feats.shape
    k = max((len(o) for o in others), default=0)
    if n == 0 or k == 0:
        return torch.full((n,), math.nan, dtype=torch.float64)
    idx = torch.full((n, k), -1, dtype=torch.long)
    for i, o in enumerate(others):
        idx[i, :len(o)] = torch.tensor(o, dtype=torch.long)
    x = image_feats.double()
    win_sum = torch.zeros(n, dtype=torch.float64)
    seg_count = torch.zeros(n, dtype=torch.float64)
    chunk = max(1, (1 << 22) // (k * d))  # bounds the (chunk, K, D) gather to ~32 MB
    for a in range(0, seg_feats.shape[0], chunk):
        s = seg_feats[a:a + chunk].double()
        o = owners[a:a + chunk]
        own = (s * x[o]).sum(-1, keepdim=True)  # (c,1)
        oi = idx[o]  # (c,K)
        valid = oi >= 0
        other = torch.einsum("cd,ckd->ck", s, x[oi.clamp_min(0)])
        wins = ((own > other).double() + 0.5 * (own == other).double()) * valid
        rate = wins.sum(-1) / valid.sum(-1).clamp_min(1)
        has = valid.any(-1)
        win_sum.index_add_(0, o[has], rate[has])
        seg_count.index_add_(0, o[has], torch.ones(int(has.sum()), dtype=torch.float64))
    out = win_sum / seg_count
    out[seg_count == 0] = math.nan
    return out


def segment_align(image_features: torch.Tensor, segment_features: torch.Tensor, counts: torch.Tensor,
                  others: list[list[int]]) -> dict[str, torch.Tensor]:
    """The three per-image columns (float64, shape (N,)).

    Args:
        image_features: (N, D) L2-normalised image vectors (float32 or float64).
        segment_features: (S, D) L2-normalised segment vectors, grouped by sample.
        counts: (N,) number of segments of each sample, every one at least 1.
        others: per sample, the indices of the samples it is compared against for coverage.

    Returns:
        ``segment-align-mean`` / ``segment-align-min`` (mean / worst own-image segment score, ×100) and
        ``segment-coverage`` (:func:`segment_coverage`).
    """
    x, s, counts = image_features.cpu(), segment_features.cpu(), counts.cpu()
    n = x.shape[0]
    if n == 0:
        empty = torch.zeros(0, dtype=torch.float64)
        return {"segment-align-mean": empty, "segment-align-min": empty.clone(), "segment-coverage": empty.clone()}
    chunks = torch.split(own_segment_scores(x, s, counts), counts.tolist())
    owners = torch.repeat_interleave(torch.arange(n), counts)
    return {
        "segment-align-mean": torch.stack([c.mean() for c in chunks]),
        "segment-align-min": torch.stack([c.min() for c in chunks]),
        "segment-coverage": segment_coverage(x, s, owners, others),
    }
