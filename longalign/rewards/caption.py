"""``reward.kind: caption`` — CoMat's concept-matching reward: the benchmark's ``caption-match`` made a loss.

A frozen BLIP-style captioner (:class:`longbench.metrics.caption_match.Captioner`, the metric's own) reads the
generated image and scores how likely each text is as its caption: ``prefix + " " + text.lower()``, minus the
mean over the text's label tokens (its words and the end token) of the (label-smoothed) cross-entropy of the
decoder (``longbench.metrics.functional.caption_match``). The image is cropped like the reference reward (one
random offset per batch, ``reward.crop_fraction`` of each side; 510/512 by default, the reference's
``resolution − resolution // 224`` at 512 px), then resized bicubic with antialiasing to the captioner's input
and normalised — the metric's preprocessing.

Texts (never truncated):

* ``reward.segments: true`` (default) — every prompt is scored by segments: the ``reward.splitter`` pieces
  (``default``: sentences, as the ``caption-match-seg`` metric), each cut at clauses and words when it exceeds
  the captioner's text positions; with ``reward.pooling: image`` and the ``default`` splitter the per-image
  reward *is* ``caption-match-seg`` with the reward's label smoothing;
* ``reward.segments: false`` — the whole prompt, as the reference (a prompt longer than the captioner's text
  positions is scored by segments instead of being truncated).

Pooling: ``image`` (default) — an image's reward is the mean of its texts' scores, the loss minus the mean over
images; ``token`` — the reference's ``−outputs.loss``: one number for the batch, the mean over every label
token of every text (a longer text weighs more). The per-image rewards logged under ``token`` are each image's
token-weighted mean.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.rewards.base import TrainingReward
from longbench.errors import LongbenchError
from longbench.metrics.options import CaptionMatchOptions

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

    from longbench.metrics.caption_match import Captioner

logger = logging.getLogger(__name__)

POOLINGS = ("image", "token")
#: The reference crops ``resolution // 224`` pixels off each side at a random offset: 510 of 512.
CAPTION_CROP_FRACTION = 510 / 512


class CaptionReward(TrainingReward):
    """Concept-matching reward (module docstring).

    Args:
        captioner: the frozen captioner (:func:`longbench.metrics.caption_match.load_captioner`).
        segments: score every prompt by segments (True) or whole prompts that fit (False).
        splitter: segment splitter (``default`` or ``longalign``).
        label_smoothing: ``ε`` of the cross-entropy (0.1: the reference's).
        pooling: ``image`` or ``token`` (module docstring).
        crop_fraction: fraction of each image side kept by the crop.
        random_crop: place the crop at random (one offset per batch) or centred.
        max_tokens: padded text tokens per decoder forward (memory bound; does not change the scores).
    """

    name: ClassVar[str] = "caption"
    default_model: ClassVar[str] = CaptionMatchOptions.model
    default_splitter: ClassVar[str] = "default"
    default_crop_fraction: ClassVar[float] = CAPTION_CROP_FRACTION

    def __init__(self, captioner: Captioner, *, segments: bool = True, splitter: str = "default",
                 label_smoothing: float = 0.1, pooling: str = "image", crop_fraction: float = CAPTION_CROP_FRACTION,
                 random_crop: bool = True, max_tokens: int = CaptionMatchOptions.max_tokens):
        if pooling not in POOLINGS:
            raise LongbenchError(f"caption reward: pooling {pooling!r}: expected one of {', '.join(POOLINGS)}")
        self.captioner = captioner
        self.segments = bool(segments)
        self.splitter = splitter
        self.label_smoothing = float(label_smoothing)
        self.pooling = pooling
        self.crop_fraction = float(crop_fraction)
        self.random_crop = bool(random_crop)
        self.max_tokens = int(max_tokens)
        self._texts: dict[str, list[str]] = {}  # prompt → its texts (splitting counts tokens: once per prompt)

    @classmethod
    def build(cls, cfg: Any, device: Any) -> CaptionReward:
        from longbench.metrics.caption_match import load_captioner

        captioner = load_captioner(cfg.model, cfg.processor or None, prefix=cfg.prefix, device=str(device),
                                   dtype=cfg.dtype, what="reward captioner")
        return cls(captioner, segments=cfg.segments, splitter=cfg.splitter, label_smoothing=cfg.label_smoothing,
                   pooling=cfg.pooling, crop_fraction=cfg.crop_fraction, random_crop=cfg.random_crop)

    # ------------------------------------------------------------------ texts
    def texts_of(self, prompt: str) -> list[str]:
        """The texts a prompt is scored by (module docstring); none is longer than the captioner's budget."""
        if prompt not in self._texts:
            from longbench.text.splitters import fit_segments, split_longalign

            cap = self.captioner
            whole = prompt.strip()
            if not self.segments and cap.fits(whole):
                texts = [whole]
            else:
                given = split_longalign(prompt) if self.splitter == "longalign" else None
                texts = fit_segments(prompt, given, cap.count_tokens, cap.segment_budget)
            if len(self._texts) > 4096:  # training sees each caption rarely: keep the memo bounded
                self._texts.clear()
            self._texts[prompt] = texts
        return self._texts[prompt]

    # ------------------------------------------------------------------ scoring
    def pixels(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The captioner's input: the reward's crop, then the metric's resize and normalisation."""
        from longbench.metrics.functional.denscore import crop_images

        x = crop_images(images, self.crop_fraction, random_crop=self.random_crop, generator=generator)
        return self.captioner.pixels(x)

    def __call__(self, images: torch.Tensor, prompts: Sequence[str], *, accelerator: Accelerator | None = None,
                 generator: torch.Generator | None = None) -> dict[str, Any]:
        """Per-image reward (differentiable) plus ``texts`` (texts per image) and, for ``token`` pooling, the
        batch reward ``batch`` (differentiable)."""
        import torch

        from longbench.metrics.functional.denscore import check_images

        check_images(images)
        prompts = list(prompts)
        if len(prompts) != images.shape[0]:
            raise LongbenchError(f"caption reward: {images.shape[0]} images but {len(prompts)} prompts")
        cap = self.captioner
        embeds = cap.image_embeds(self.pixels(images, generator))
        texts: list[str] = []
        owners: list[int] = []
        for i, p in enumerate(prompts):
            for t in self.texts_of(p):
                texts.append(t)
                owners.append(i)
        scores = cap.text_scores(embeds, texts, owners, label_smoothing=self.label_smoothing,
                                 max_tokens=self.max_tokens).float()
        owner = torch.tensor(owners, device=scores.device)
        n = len(prompts)
        if self.pooling == "image":
            weights = torch.ones_like(scores)
        else:  # label tokens of a text: its words and the end token
            weights = torch.tensor([cap.count_tokens(t) + 1 for t in texts], dtype=scores.dtype, device=scores.device)
        sums = torch.zeros(n, dtype=scores.dtype, device=scores.device).index_add(0, owner, scores * weights)
        totals = torch.zeros(n, dtype=scores.dtype, device=scores.device).index_add(0, owner, weights)
        out: dict[str, Any] = {"reward": sums / totals, "texts": totals.detach() if self.pooling == "image" else
                               torch.bincount(owner, minlength=n).to(scores.dtype)}
        if self.pooling == "token":
            out["batch"] = (scores * weights).sum() / weights.sum()
        return out

    def loss(self, out: dict[str, Any]) -> torch.Tensor:
        """Minus the mean reward over images (``image``), or minus the batch's token mean (``token``)."""
        return -(out["batch"] if self.pooling == "token" else out["reward"].mean())

    def log_values(self, out: dict[str, Any]) -> dict[str, float | str]:
        """``reward`` (mean over images of the per-image reward) and ``texts`` (texts scored per image)."""
        return {"reward": float(out["reward"].detach().mean()), "texts": float(out["texts"].mean())}
