"""CLIPScore as users know it: the prompt truncated at 77 tokens, ``max(100·cos(image, text), 0)``.

The baseline column next to the long-prompt metrics: everything a prompt says after token 77 is invisible to
it. Images get the model's standard preprocessing (the transformers image processor: resize the shortest
side, centre crop, normalise), exactly as torchmetrics' ``CLIPScore`` does, so on prompts within 77 tokens
the per-image scores equal torchmetrics' on the same model and processor. Unlike torchmetrics, which clamps
only the final mean, every per-image score is clamped at 0 (the definition in Hessel et al. and in
torchmetrics' own docstring); the two means agree whenever no image scores below zero, as with real CLIP
models.

The metric defers its text side: ``update`` embeds the images and keeps each prompt's token ids (tensor states,
synced like any other); the scores are formed when read, with one text-tower pass over the run's unique
prompts (batched across updates, so a fast model is not held back by one small text forward per batch).
Batch composition of that pass moves a score by float32 rounding only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from longbench.errors import LongbenchError
from longbench.images import ImageBatch, as_image_batch
from longbench.metrics.base import PerSampleMetric, cat_state
from longbench.metrics.clip_models import ClipScorer, load_clip_scorer
from longbench.metrics.functional.clipscore import clip_score
from longbench.metrics.functional.denscore import l2_normalize
from longbench.metrics.options import ClipScoreOptions

DEFAULT_MODEL = ClipScoreOptions.model


def clip_scores(images: ImageBatch | Sequence[Any], prompts: Sequence[str], scorer: ClipScorer) -> torch.Tensor:
    """Per-image CLIPScore (B,): ``max(100·cos, 0)``, prompts truncated to the model's context.

    ``images``: an :class:`~longbench.images.ImageBatch` (used as is) or images ``to_rgb`` accepts (converted
    once); preprocessed as one batch on the model's device."""
    if len(images) != len(prompts):
        raise LongbenchError(f"clipscore: {len(images)} images but {len(prompts)} prompts")
    pixels = scorer.standard_pixels(as_image_batch(images, device=scorer.device, where="clipscore image"))
    x = l2_normalize(scorer.image_features(pixels).float())
    return clip_score(x, scorer.normalized_text_features(list(prompts)))


class ClipScore(PerSampleMetric):
    """``clipscore``: per-image ``max(100·cos, 0)`` with the prompt truncated at 77 tokens.

    Args:
        model: spec (HF id, directory, ``open_clip:ARCH:PATH``) or a loaded model / :class:`ClipScorer`.
        processor: processor spec or object (defaults to the model's own).
        device: torch device for loading a spec.
        dtype: model dtype for loading a spec.
        tokenizer_fallback: use the bundled CLIP tokenizer when the processor is not available offline.
        trust_remote_code: passed to transformers when loading a spec.
        zoo: the zoo directory of a ``mini:`` model spec (default: the shipped weights).
    """

    name: ClassVar[str] = "clipscore"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {"clipscore": True}
    higher_is_better = True
    Options = ClipScoreOptions

    def __init__(self, model: Any = DEFAULT_MODEL, processor: Any = None, *, device: str = "cpu",
                 dtype: str = "float32", tokenizer_fallback: bool = False, trust_remote_code: bool = False,
                 zoo: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(model, str):
            self.scorer = load_clip_scorer(model, processor, device=device, dtype=dtype,
                                           tokenizer_fallback=tokenizer_fallback,
                                           trust_remote_code=trust_remote_code, what="clipscore model", zoo=zoo)
        else:
            self.scorer = ClipScorer.wrap(model, processor)
        self.add_state("image_features", default=[], dist_reduce_fx="cat")
        self.add_state("prompt_tokens", default=[], dist_reduce_fx="cat")
        self.add_state("prompt_mask", default=[], dist_reduce_fx="cat")
        #: normalised text features by token row: a pure function of the row for these weights
        self._text_by_tokens: dict[bytes, torch.Tensor] = {}

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        from longbench.metrics.weights_status import clipscore

        return clipscore()

    @torch.inference_mode()
    def score(self, images: ImageBatch | Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]]:
        return {"clipscore": clip_scores(images, _prompts(items), self.scorer).tolist()}

    def update(self, images: ImageBatch | Sequence[Any], items: Sequence[Any]) -> None:
        prompts = _prompts(items)
        if len(images) != len(prompts):
            raise LongbenchError(f"clipscore: {len(images)} images but {len(prompts)} prompts")
        with torch.inference_mode():
            pixels = self.scorer.standard_pixels(as_image_batch(images, device=self.scorer.device,
                                                                where="clipscore image"))
            features = l2_normalize(self.scorer.image_features(pixels).float())
        ids, mask = fixed_tokens(self.scorer, prompts)
        self.image_features.append(features.clone())  # a normal tensor: states are concatenated later
        self.prompt_tokens.append(ids)
        self.prompt_mask.append(mask)

    def _values(self, col: str) -> torch.Tensor:
        images = cat_state(self.image_features, torch.zeros(0, 0))
        if images.shape[0] == 0:
            return torch.zeros(0, dtype=torch.float64)
        ids = cat_state(self.prompt_tokens, torch.zeros(0, 0, dtype=torch.long))
        mask = cat_state(self.prompt_mask, torch.zeros(0, 0, dtype=torch.long))
        text = self._text_features(ids.cpu(), mask.cpu())
        return clip_score(images.to(text.device), text).double().cpu()

    def _text_features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalised text features of every token row, one text-tower pass over the rows not seen yet."""
        keys = [row.numpy().tobytes() for row in ids]
        first: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self._text_by_tokens:
                first.setdefault(k, i)
        todo = list(first.values())
        step = self.scorer.text_batch_size
        for a in range(0, len(todo), step):
            rows = torch.tensor(todo[a:a + step])
            enc = trimmed(self.scorer, ids[rows], mask[rows])
            feats = l2_normalize(self.scorer.token_features(enc).float())
            for k, f in zip((keys[i] for i in todo[a:a + step]), feats):
                self._text_by_tokens[k] = f
        return torch.stack([self._text_by_tokens[k] for k in keys])

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "model": self.scorer.describe(),
                "text": f"full prompt truncated to {self.scorer.context_length} tokens",
                "image": "model's standard preprocessing (image processor)",
                "formula": "max(100 * cos(image, text), 0) per image"}


def _prompts(items: Sequence[Any]) -> list[str]:
    return [it if isinstance(it, str) else it.prompt for it in items]


def fixed_tokens(scorer: ClipScorer, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of ``prompts`` as the scorer tokenizes them, padded on the tokenizer's side
    to the full context so that rows of different batches stack (open_clip: its (B, context) ids, mask of ones)."""
    enc = scorer.tokenize(prompts)
    ids = enc["text"] if scorer.kind == "open_clip" else enc["input_ids"]
    mask = enc.get("attention_mask", torch.ones_like(ids))
    missing = scorer.context_length - ids.shape[1]
    if missing > 0:
        pad = getattr(scorer.tokenizer, "pad_token_id", None) or 0
        left = getattr(scorer.tokenizer, "padding_side", "right") == "left"
        ids = torch.nn.functional.pad(ids, (missing, 0) if left else (0, missing), value=pad)
        mask = torch.nn.functional.pad(mask, (missing, 0) if left else (0, missing), value=0)
    return ids.long().cpu(), mask.long().cpu()


def trimmed(scorer: ClipScorer, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The model input for rows of :func:`fixed_tokens`: cut to the longest row where the scorer pads to the
    longest text (CLIP pools its end token under a causal mask, so padding after it changes nothing)."""
    if scorer.kind == "open_clip":
        return {"text": ids}
    if scorer.padding == "longest" and getattr(scorer.tokenizer, "padding_side", "right") != "left":
        width = max(int(mask.sum(1).max()), 1)
        ids, mask = ids[:, :width], mask[:, :width]
    enc = {"input_ids": ids}
    if "attention_mask" in getattr(scorer.tokenizer, "model_input_names", ("input_ids", "attention_mask")):
        enc["attention_mask"] = mask
    return enc
