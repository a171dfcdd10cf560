"""CLIPScore as users know it: the prompt truncated at 77 tokens, ``max(100·cos(image, text), 0)``.

The baseline column next to the long-prompt metrics: everything a prompt says after token 77 is invisible to
it. Images get the model's standard preprocessing (the transformers image processor: resize the shortest
side, centre crop, normalise), exactly as torchmetrics' ``CLIPScore`` does, so on prompts within 77 tokens
the per-image scores equal torchmetrics' on the same model and processor. Unlike torchmetrics, which clamps
only the final mean, every per-image score is clamped at 0 (the definition in Hessel et al. and in
torchmetrics' own docstring); the two means agree whenever no image scores below zero, as with real CLIP
models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from longbench.errors import LongbenchError
from longbench.images import ImageBatch, as_image_batch
from longbench.metrics.base import PerSampleMetric
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
    """

    name: ClassVar[str] = "clipscore"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {"clipscore": True}
    higher_is_better = True
    Options = ClipScoreOptions

    def __init__(self, model: Any = DEFAULT_MODEL, processor: Any = None, *, device: str = "cpu",
                 dtype: str = "float32", tokenizer_fallback: bool = False, trust_remote_code: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(model, str):
            self.scorer = load_clip_scorer(model, processor, device=device, dtype=dtype,
                                           tokenizer_fallback=tokenizer_fallback,
                                           trust_remote_code=trust_remote_code, what="clipscore model")
        else:
            self.scorer = ClipScorer.wrap(model, processor)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        from longbench.metrics.weights_status import clipscore

        return clipscore()

    @torch.inference_mode()
    def score(self, images: ImageBatch | Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]]:
        prompts = [it if isinstance(it, str) else it.prompt for it in items]
        return {"clipscore": clip_scores(images, prompts, self.scorer).tolist()}

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "model": self.scorer.describe(),
                "text": f"full prompt truncated to {self.scorer.context_length} tokens",
                "image": "model's standard preprocessing (image processor)",
                "formula": "max(100 * cos(image, text), 0) per image"}
