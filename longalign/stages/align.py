"""``align``: LoRA fine-tuning (SFT) of the UNet on long captions encoded by segments (DESIGN §4).

ε-prediction (or v-prediction, following the base scheduler) MSE at uniformly drawn timesteps; each caption
is replaced by ``""`` with probability ``align.caption_dropout`` so the model keeps an unconditional mode for
classifier-free guidance; the T5 adapter is trained too when the T5 branch is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.checks import check_range, require
from longalign.stages.common import DiffusionStage, DiffusionStageConfig

if TYPE_CHECKING:
    import torch


@dataclass
class DenoiseSection:
    """The denoising objective (``align``; the ``base`` stage's section too)."""

    caption_dropout: float = 0.1
    loss: str = "l2"
    huber_c: float = 0.001

    #: the section's name in the config, for error messages
    key: ClassVar[str] = "align"

    def check(self) -> None:
        check_range(self.caption_dropout, f"{self.key}.caption_dropout", 0, 1)
        require(self.loss in ("l2", "huber"), f"{self.key}.loss={self.loss!r}: expected l2 or huber")
        check_range(self.huber_c, f"{self.key}.huber_c", 0, lo_open=True)


@dataclass
class AlignSection(DenoiseSection):
    train_adapter: bool = True


@dataclass
class AlignConfig(DiffusionStageConfig):
    align: AlignSection = field(default_factory=AlignSection)

    def check(self) -> None:
        super().check()
        self.align.check()


class AlignStage(DiffusionStage):
    name: ClassVar[str] = "align"
    config_class: ClassVar[type] = AlignConfig
    trains_adapter: ClassVar[bool] = True

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        return denoising_step(self, self.cfg.align, batch, generator)


def denoising_step(stage: DiffusionStage, a: DenoiseSection, batch: dict[str, Any],
                   generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """ε- (or v-) prediction loss of ``stage``'s trained UNet on one batch, with caption dropout."""
    import torch
    import torch.nn.functional as F

    from longalign.diffusion import huber, training_target

    pixels = batch["pixel_values"]
    if stage.cfg.data.random_flip:
        flip = torch.rand(pixels.shape[0], generator=generator) < 0.5
        pixels = torch.where(flip.view(-1, 1, 1, 1).to(pixels.device), pixels.flip(-1), pixels)
    latents = stage.latents_of(pixels, generator)
    bsz = latents.shape[0]
    noise = stage.randn(tuple(latents.shape), generator)
    t = torch.randint(0, stage.num_train_timesteps, (bsz,), generator=generator).to(latents.device)
    noisy = stage.noise_scheduler.add_noise(latents, noise, t)
    drop = (torch.rand(bsz, generator=generator) < a.caption_dropout).tolist()
    captions = ["" if d else c for c, d in zip(batch["caption"], drop)]
    context = stage.encoder(captions).to(stage.weight_dtype)
    pred = stage.unet_train(noisy, t, context).sample
    target = training_target(noise, latents, t, stage.alphas_cumprod, stage.prediction_type)
    if a.loss == "huber":
        loss = huber(pred, target, a.huber_c)
    else:
        loss = F.mse_loss(pred.float(), target.float())
    return loss, {"dropped": float(sum(drop)) / bsz}
