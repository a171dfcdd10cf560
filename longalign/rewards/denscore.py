"""``reward.kind: denscore`` — LongAlign's training reward: the benchmark's Denscore (``longbench.metrics.denscore``)
made a loss.

One definition: prompt vectors come from the metric's splitter and scorer (mean of L2-normalised segment
features), images go through the metric's preprocessing (``reward_preprocess``; here with the random
504/512 crop the reference reward uses in training), and the reweighting is the metric's
``x·(c − (1−ω)(c·V)V)``. What the trainer adds is the direction V of a *training batch*: the unit mean of
the batch's prompt vectors, averaged across processes (accelerate ``gather``) so every process uses the
same V. With ``random_crop=False`` the reward equals ``longbench.metrics.denscore.score`` exactly.

Any CLIP-style preference model loads through ``longbench.metrics.clip_models.load_clip_scorer``
(Denscore, PickScore, CLIP, open_clip models such as HPSv2); ``segments=False`` scores whole prompts
(truncated to the model's context), as PickScore and CLIP rewards do. The loss is 0.5·(1 − mean reward).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.rewards.base import TrainingReward
from longbench.metrics.denscore import split_prompts
from longbench.metrics.functional import denscore as F
from longbench.metrics.options import DenscoreOptions

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

    from longbench.metrics.clip_models import ClipScorer

logger = logging.getLogger(__name__)


class PreferenceReward(TrainingReward):
    """Reweighted preference reward of images against their prompts.

    Args:
        scorer: the CLIP-style model (frozen).
        omega: weight ω of the text-irrelevant component (1: the plain score).
        splitter: segment splitter (``longalign`` or ``default``).
        segments: score prompt segments (Denscore) or whole prompts (PickScore/CLIP style).
        crop_fraction: fraction of each image side kept by the crop before resizing.
        random_crop: place the crop at random (training) or centred (evaluation).
    """

    name: ClassVar[str] = "denscore"
    default_model: ClassVar[str] = DenscoreOptions.model
    default_splitter: ClassVar[str] = "longalign"
    default_crop_fraction: ClassVar[float] = F.CROP_FRACTION

    def __init__(self, scorer: ClipScorer, *, omega: float = 0.3, splitter: str = "longalign",
                 segments: bool = True, crop_fraction: float = F.CROP_FRACTION, random_crop: bool = True):
        self.scorer = scorer
        self.omega = float(omega)
        self.splitter = splitter
        self.segments = segments
        self.crop_fraction = crop_fraction
        self.random_crop = random_crop

    def prompt_vectors(self, prompts: Sequence[str]) -> torch.Tensor:
        """c: mean of the normalised segment features of each prompt, (B, D) float32, no gradient."""
        prompts = list(prompts)
        if self.segments:
            segments, owners = split_prompts(prompts, self.scorer, self.splitter)
        else:
            segments, owners = prompts, list(range(len(prompts)))
        features = self.scorer.normalized_text_features(segments)
        self.scorer.clear_cache()  # training sees each caption rarely: do not grow the cache
        return F.prompt_vectors(features, owners, len(prompts)).detach()

    @staticmethod
    def batch_direction(c: torch.Tensor, accelerator: Accelerator | None = None) -> torch.Tensor:
        """V: unit mean of the prompt vectors of the batch, averaged over every process's batch."""
        local = c.detach().float().mean(dim=0, keepdim=True)
        if accelerator is not None and accelerator.num_processes > 1:
            local = accelerator.gather(local.to(accelerator.device))
        return F.unit_direction(local.mean(dim=0))

    def image_vectors(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x: normalised image features, differentiable in ``images`` (B,3,H,W) in [0,1]."""
        s = self.scorer
        pixels = F.reward_preprocess(images, image_size=s.image_size, mean=s.image_mean, std=s.image_std,
                                     fraction=self.crop_fraction, random_crop=self.random_crop, generator=generator)
        return F.l2_normalize(s.image_features(pixels).float())

    def score_vectors(self, x: torch.Tensor, c: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        """x·(c − (1−ω)(c·V)V) per row."""
        return (x * F.reweight(c.to(x), direction.to(x), self.omega)).sum(dim=-1)

    def __call__(self, images: torch.Tensor, prompts: Sequence[str], *, accelerator: Accelerator | None = None,
                 generator: torch.Generator | None = None) -> dict[str, Any]:
        """Reweighted reward (differentiable), plus the plain score and the η = c·V statistics (detached)."""
        F.check_images(images)
        c = self.prompt_vectors(prompts).to(images.device)
        v = self.batch_direction(c, accelerator).to(images.device)
        x = self.image_vectors(images, generator)
        reward = self.score_vectors(x, c, v)
        import torch

        with torch.no_grad():
            plain = (x * c.to(x)).sum(dim=-1)
            eta = c.to(x) @ v.to(x)
        return {"reward": reward, "score": plain, "eta": eta, "direction": v}

    def loss(self, out: dict[str, Any]) -> torch.Tensor:
        """0.5·(1 − mean reward); the reference's extra constant term has no gradient and is dropped."""
        return 0.5 * (1.0 - out["reward"].mean())

    def log_values(self, out: dict[str, Any]) -> dict[str, float | str]:
        """``reward`` (reweighted), ``score`` (plain), ``eta`` (mean c·V) and ``direction`` (a hash of V)."""
        from longbench.metrics.functional.denscore import direction_hash

        return {"reward": float(out["reward"].detach().mean()), "score": float(out["score"].mean()),
                "eta": float(out["eta"].mean()), "direction": direction_hash(out["direction"])}

    @classmethod
    def build(cls, cfg: Any, device: Any) -> PreferenceReward:
        """The reward of a resolved ``reward`` config section (loads the preference model offline)."""
        from longbench.metrics.clip_models import load_clip_scorer
        from longbench.metrics.denscore import DEFAULT_MODEL, DEFAULT_PROCESSOR

        # the released Denscore has no processor files of its own; other models carry theirs
        processor = cfg.processor or (DEFAULT_PROCESSOR if cfg.model == DEFAULT_MODEL else None)
        scorer = load_clip_scorer(cfg.model, processor, device=str(device), dtype=cfg.dtype, what="reward model")
        return cls(scorer, omega=cfg.omega, splitter=cfg.splitter, segments=cfg.segments,
                   crop_fraction=cfg.crop_fraction, random_crop=cfg.random_crop)
