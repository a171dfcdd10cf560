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
class AlignSection:
    caption_dropout: float = 0.1
    loss: str = "l2"
    huber_c: float = 0.001
    train_adapter: bool = True

    def check(self) -> None:
        check_range(self.caption_dropout, "align.caption_dropout", 0, 1)
        require(self.loss in ("l2", "huber"), f"align.loss={self.loss!r}: expected l2 or huber")
        check_range(self.huber_c, "align.huber_c", 0, lo_open=True)


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
        import torch
        import torch.nn.functional as F

        from longalign.diffusion import huber, training_target

        a = self.cfg.align
        pixels = batch["pixel_values"]
        if self.cfg.data.random_flip:
            flip = torch.rand(pixels.shape[0], generator=generator) < 0.5
            pixels = torch.where(flip.view(-1, 1, 1, 1).to(pixels.device), pixels.flip(-1), pixels)
        latents = self.latents_of(pixels, generator)
        bsz = latents.shape[0]
        noise = self.randn(tuple(latents.shape), generator)
        t = torch.randint(0, self.num_train_timesteps, (bsz,), generator=generator).to(latents.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        drop = (torch.rand(bsz, generator=generator) < a.caption_dropout).tolist()
        captions = ["" if d else c for c, d in zip(batch["caption"], drop)]
        context = self.encoder(captions).to(self.weight_dtype)
        pred = self.unet_train(noisy, t, context).sample
        target = training_target(noise, latents, t, self.alphas_cumprod, self.prediction_type)
        if a.loss == "huber":
            loss = huber(pred, target, a.huber_c)
        else:
            loss = F.mse_loss(pred.float(), target.float())
        return loss, {"dropped": float(sum(drop)) / bsz}
