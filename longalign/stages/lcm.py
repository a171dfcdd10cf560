"""``lcm``: latent consistency distillation of the (SFT) model into a fresh LoRA (few-step sampling).

The teacher is the base UNet with the parent checkpoint fused in (the fresh LoRA switched off); it takes
one DDIM step of ``T / lcm.num_ddim_timesteps`` from a noised training latent with classifier-free guidance
``w`` (LCM formulation: guidance applied to x̂0 and ε̂). The student (teacher + LoRA) maps the start point,
and the same student without gradient maps the teacher's DDIM point; both through the consistency
boundary (c_skip, c_out). Loss: pseudo-Huber (default) or MSE between the two. No EMA target network, as in
LCM-LoRA and the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.checks import check_range, require
from longalign.stages.common import LCM_SAMPLING, DiffusionStage, DiffusionStageConfig

if TYPE_CHECKING:
    import torch


@dataclass
class LcmSection:
    num_ddim_timesteps: int = 50
    guidance_scale: float = 7.5
    #: smallest start timestep sampled (the reference uses 10)
    min_timestep: int = 10
    timestep_scaling: float = 10.0
    loss: str = "huber"
    huber_c: float = 0.001

    def check(self) -> None:
        require(self.loss in ("l2", "huber"), f"lcm.loss={self.loss!r}: expected l2 or huber")
        check_range(self.num_ddim_timesteps, "lcm.num_ddim_timesteps", 1)
        check_range(self.guidance_scale, "lcm.guidance_scale", 0, why="classifier-free guidance weight w")
        check_range(self.min_timestep, "lcm.min_timestep", 0)
        check_range(self.timestep_scaling, "lcm.timestep_scaling", 0, lo_open=True)
        check_range(self.huber_c, "lcm.huber_c", 0, lo_open=True)


@dataclass
class LcmConfig(DiffusionStageConfig):
    lcm: LcmSection = field(default_factory=LcmSection)

    def check(self) -> None:
        super().check()
        self.lcm.check()

    def check_schedule(self, num_train_timesteps: int) -> None:
        T = num_train_timesteps
        where = f"the base scheduler has {T} training timesteps"
        check_range(self.lcm.num_ddim_timesteps, "lcm.num_ddim_timesteps", 1, T, why=f"{where}; each teacher step "
                    "spans num_train_timesteps // num_ddim_timesteps of them")
        check_range(self.lcm.min_timestep, "lcm.min_timestep", 0, T, hi_open=True, why=where)


class LcmStage(DiffusionStage):
    name: ClassVar[str] = "lcm"
    config_class: ClassVar[type] = LcmConfig
    inference_defaults = LCM_SAMPLING

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        import torch
        import torch.nn.functional as F

        from longalign.diffusion import ddim_step, huber, lcm_boundary, split_prediction

        c = self.cfg.lcm
        acp, ptype = self.alphas_cumprod, self.prediction_type
        latents = self.latents_of(batch["pixel_values"], generator)
        bsz, ndim = latents.shape[0], latents.ndim
        k = self.num_train_timesteps // c.num_ddim_timesteps
        start = torch.randint(c.min_timestep, self.num_train_timesteps, (bsz,), generator=generator).to(latents.device)
        prev = (start - k).clamp(min=0)
        noise = self.randn(tuple(latents.shape), generator)
        noisy = self.noise_scheduler.add_noise(latents, noise, start)
        cond, uncond = self.encode(batch["caption"])

        def boundary(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            skip, out = lcm_boundary(t, timestep_scaling=c.timestep_scaling)
            shape = (-1,) + (1,) * (ndim - 1)
            return skip.view(shape).to(latents.dtype), out.view(shape).to(latents.dtype)

        unet = self.unwrapped_unet()
        with torch.no_grad(), self.accelerator.autocast():
            unet.disable_adapters()  # the teacher: base + parent, without the LoRA being trained
            try:
                both = unet(torch.cat([noisy, noisy]), torch.cat([start, start]), torch.cat([cond, uncond])).sample
            finally:
                unet.enable_adapters()
            out_c, out_u = both.float().chunk(2)
            x0_c, eps_c = split_prediction(out_c, start, noisy.float(), acp, ptype)
            x0_u, eps_u = split_prediction(out_u, start, noisy.float(), acp, ptype)
            x0 = x0_u + c.guidance_scale * (x0_c - x0_u)
            eps = eps_u + c.guidance_scale * (eps_c - eps_u)
            x_prev = ddim_step(x0, eps, prev, acp)
            target_out = unet(x_prev.to(self.weight_dtype), prev, cond).sample.float()
            x0_t, _ = split_prediction(target_out, prev, x_prev, acp, ptype)
            skip, out = boundary(prev)
            target = skip * x_prev + out * x0_t

        pred_out = self.unet_train(noisy, start, cond).sample.float()
        x0_s, _ = split_prediction(pred_out, start, noisy.float(), acp, ptype)
        skip_s, out_s = boundary(start)
        pred = skip_s * noisy.float() + out_s * x0_s
        loss = huber(pred, target, c.huber_c) if c.loss == "huber" else F.mse_loss(pred, target)
        return loss, {}
