"""``reward``: decomposed preference optimisation of the (SFT) model (DESIGN §4, "Reward fine-tuning").

Per batch: sample from noise with a ``reward.rollout_steps``-step DDIM and classifier-free guidance
``reward.guidance_scale``; about one step in ``reward.grad_every`` (one random offset, then every
``grad_every``-th step) runs the UNet with gradient — its input detached, so gradients reach earlier steps
only through the DDIM update (truncated backprop) — under activation checkpointing; every other step runs
without gradient. The final x̂0 is decoded by the VAE, clamped to [0, 1] and scored by the reweighted
preference reward (``longalign.reward``) with V from the batch gathered across processes; the loss is
0.5·(1 − mean reward).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.stages.common import DiffusionStage

if TYPE_CHECKING:
    import torch


class RewardStage(DiffusionStage):
    name: ClassVar[str] = "reward"
    # The rollout calls the UNet many times per backward; the stage uses the unwrapped module and the
    # trainer averages gradients across processes itself.
    manual_grad_sync: ClassVar[bool] = True
    needs_images: ClassVar[bool] = False

    def setup_stage(self) -> None:
        from longalign.reward import build_reward

        self.reward = build_reward(self.cfg.reward, self.accelerator.device)

    def unet_call(self, grad: bool) -> Callable[..., torch.Tensor]:
        """UNet forward returning the sample; checkpointed when it carries gradient and checkpointing is on."""
        import torch
        from torch.utils.checkpoint import checkpoint

        unet = self.unwrapped_unet()

        def forward(x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
            with self.accelerator.autocast():
                return unet(x, t, ctx).sample

        if not grad:
            def no_grad(x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    return forward(x, t, ctx)
            return no_grad
        if self.cfg.reward.checkpointing:
            return lambda x, t, ctx: checkpoint(forward, x, t, ctx, use_reentrant=False)
        return forward

    def rollout(self, prompts: list[str], generator: torch.Generator) -> tuple[torch.Tensor, int]:
        """x̂0 of the last DDIM step (with gradient through the chosen steps) and the number of such steps."""
        import torch

        from longalign.diffusion import ddim_step, gradient_step_indices, rollout_timesteps, split_prediction

        r = self.cfg.reward
        bsz = len(prompts)
        with torch.no_grad():
            cond, uncond = self.encode(prompts)
        context = torch.cat([cond, uncond])
        timesteps = rollout_timesteps(r.rollout_steps, self.num_train_timesteps)
        stride = self.num_train_timesteps // r.rollout_steps
        grad_steps = set(gradient_step_indices(len(timesteps), r.grad_every, generator))
        x = self.randn(self.latent_shape(bsz), generator).float()
        x0 = x
        device = x.device
        for i, t in enumerate(timesteps):
            t_batch = torch.full((bsz,), t, device=device, dtype=torch.long)
            x_in = torch.cat([x, x]).detach().to(self.weight_dtype)
            out = self.unet_call(i in grad_steps)(x_in, torch.cat([t_batch, t_batch]), context).float()
            out_c, out_u = out.chunk(2)
            guided = out_u + r.guidance_scale * (out_c - out_u)
            x0, eps = split_prediction(guided, t_batch, x, self.alphas_cumprod, self.prediction_type)
            x = ddim_step(x0, eps, t_batch - stride, self.alphas_cumprod)
        return x0, len(grad_steps)

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        prompts = list(batch["caption"])
        x0, n_grad = self.rollout(prompts, generator)
        images = self.decode(x0)
        out = self.reward(images, prompts, accelerator=self.accelerator, generator=generator)
        loss = 0.5 * (1.0 - out["reward"].mean())
        from longbench.metrics.functional.denscore import direction_hash

        return loss, {"reward": float(out["reward"].detach().mean()), "score": float(out["score"].mean()),
                      "eta": float(out["eta"].mean()), "grad_steps": float(n_grad),
                      "direction": direction_hash(out["direction"])}
