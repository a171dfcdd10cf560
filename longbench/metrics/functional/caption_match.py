"""Pure tensor functions behind ``caption-match`` (definitions in :mod:`longbench.metrics.caption_match`).

A *text* is the caption prefix followed by a prompt (or one segment of it), tokenized with the captioner's
special tokens (``[CLS] a photography of … [SEP]`` for BLIP). Its *label positions* are the tokens after the
prefix that are not padding — the prompt's tokens and the end token. A text's score is minus the mean, over
its label positions, of the cross-entropy of the captioner's next-token distribution (optionally
label-smoothed), i.e. the mean log-likelihood per token when the smoothing is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from longbench.errors import LongbenchError


def caption_pixels(images: torch.Tensor, size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """The captioner's input: float (B,3,H,W) images in [0,1] resized to ``size``×``size`` (bicubic, antialiased,
    aspect ratio not kept, no crop, no clamping) and normalised per channel. Differentiable in ``images``."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    if images.ndim != 4 or images.shape[1] != 3:
        raise LongbenchError(f"caption-match: expected (B,3,H,W) images, got shape {tuple(images.shape)}")
    x = tvf.resize(images, [int(size), int(size)], interpolation=InterpolationMode.BICUBIC, antialias=True)
    return tvf.normalize(x, list(mean), list(std))


def label_mask(attention_mask: torch.Tensor, prefix_length: int) -> torch.Tensor:
    """(N,T) bool: the label positions of right-padded texts — not padding and not among the first
    ``prefix_length`` tokens (the start token and the prefix words)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return attention_mask.bool() & (positions >= int(prefix_length))


def caption_log_likelihood(logits: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor,
                           label_smoothing: float = 0.0) -> torch.Tensor:
    """Per text, minus the mean (label-smoothed) cross-entropy over its label positions.

    The token at position ``t`` is predicted from ``logits[:, t-1]``. With smoothing ``ε`` the cross-entropy
    of a position is ``(1−ε)·(−log p(y)) + ε·mean_v(−log p(v))`` (torch's ``label_smoothing``).

    Args:
        logits: (N,T,V) next-token logits of the captioner's text decoder.
        input_ids: (N,T) token ids.
        labels: (N,T) bool label positions (:func:`label_mask`); position 0 is never a label.
        label_smoothing: ``ε`` in [0, 1].

    Returns:
        (N,) float64 scores; differentiable in ``logits``.

    Raises:
        LongbenchError: a text without label positions, or shapes that do not match.
    """
    if logits.shape[:2] != input_ids.shape or labels.shape != input_ids.shape:
        raise LongbenchError(f"caption-match: logits {tuple(logits.shape)}, ids {tuple(input_ids.shape)} and "
                             f"labels {tuple(labels.shape)} do not match")
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise LongbenchError(f"caption-match: label_smoothing must be in [0, 1], got {label_smoothing}")
    mask = labels[:, 1:]
    counts = mask.sum(-1)
    if bool((counts == 0).any()):
        raise LongbenchError("caption-match: a text has no label token (nothing after the prefix)")
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    if label_smoothing:
        nll = (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
    return -(nll.double() * mask).sum(-1) / counts


def segment_means(segment_scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(N,) mean of each sample's segment scores; segments are grouped by sample, ``counts[i] >= 1``."""
    counts = counts.cpu()
    if int(counts.sum()) != segment_scores.numel():
        raise LongbenchError(f"caption-match: {segment_scores.numel()} segment scores for {int(counts.sum())} segments")
    if counts.numel() == 0:
        return torch.zeros(0, dtype=torch.float64)
    owners = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    sums = torch.zeros(counts.numel(), dtype=torch.float64).index_add_(0, owners, segment_scores.double().cpu())
    return sums / counts.double()


def caption_match(whole_scores: torch.Tensor, segment_scores: torch.Tensor,
                  counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """The per-image columns (float64, shape (N,)).

    Args:
        whole_scores: (N,) score of each whole prompt (NaN where the prompt does not fit the captioner).
        segment_scores: (S,) score of every segment, grouped by sample.
        counts: (N,) number of segments of each sample, every one at least 1.

    Returns:
        ``caption-match`` (the whole prompt) and ``caption-match-seg`` (the mean over segments).
    """
    return {"caption-match": whole_scores.double().cpu(), "caption-match-seg": segment_means(segment_scores, counts)}
