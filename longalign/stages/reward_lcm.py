"""``reward-lcm``: the reward stage for the LCM model: 4 sampling steps (999/749/499/249), all with gradient.

Each step runs the UNet (input detached, activation checkpointing) without guidance, takes x̂0, and
re-noises it to the next timestep with fresh noise (LCM multistep sampling); the x̂0 of the last step is
decoded and scored as in ``reward``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from longalign.stages.reward import RewardStage

if TYPE_CHECKING:
    import torch


class RewardLcmStage(RewardStage):
    name: ClassVar[str] = "reward-lcm"
    sampler: ClassVar[str] = "lcm"

    def rollout(self, prompts: list[str], generator: torch.Generator) -> tuple[torch.Tensor, int]:
        import torch

        from longalign.diffusion import ddim_step, split_prediction

        timesteps = list(self.cfg.reward_lcm.timesteps)
        bsz = len(prompts)
        with torch.no_grad():
            cond, _ = self.encode(prompts)
        x = self.randn(self.latent_shape(bsz), generator).float()
        x0 = x
        call = self.unet_call(True)
        for i, t in enumerate(timesteps):
            t_batch = torch.full((bsz,), t, device=x.device, dtype=torch.long)
            out = call(x.detach().to(self.weight_dtype), t_batch, cond).float()
            x0, _ = split_prediction(out, t_batch, x, self.alphas_cumprod, self.prediction_type)
            if i + 1 < len(timesteps):
                t_next = torch.full_like(t_batch, timesteps[i + 1])
                x = ddim_step(x0, self.randn(tuple(x.shape), generator).float(), t_next, self.alphas_cumprod)
        return x0, len(timesteps)
