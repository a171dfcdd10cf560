"""``lcm``: latent consistency distillation of the (SFT) model into a fresh LoRA (few-step sampling).

The teacher is the base UNet with the parent checkpoint fused in (the fresh LoRA switched off); it takes
one DDIM step of ``T / lcm.num_ddim_timesteps`` from a noised training latent with classifier-free guidance
``w`` (LCM formulation: guidance applied to x̂0 and ε̂). The student (teacher + LoRA) maps the start point,
and the same student without gradient maps the teacher's DDIM point; both through the consistency
boundary (c_skip, c_out). Loss: pseudo-Huber (default) or MSE between the two. No EMA target network, as in
LCM-LoRA and the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from longalign.stages.common import DiffusionStage

if TYPE_CHECKING:
    import torch


class LcmStage(DiffusionStage):
    name: ClassVar[str] = "lcm"
    sampler: ClassVar[str] = "lcm"

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
