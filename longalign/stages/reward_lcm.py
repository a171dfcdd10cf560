"""``reward-lcm``: the reward stage for the LCM model: 4 sampling steps (999/749/499/249), all with gradient.

Each step runs the UNet (input detached, activation checkpointing) without guidance, takes x̂0, and
re-noises it to the next timestep with fresh noise (LCM multistep sampling); the x̂0 of the last step is
decoded and scored as in ``reward`` (any ``reward.kind``). Of the rollout settings of the ``reward`` section
only ``reward.checkpointing`` applies (steps, sampler, guidance and gradient steps are LCM's own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from longalign.checks import require
from longalign.stages.common import LCM_SAMPLING, DiffusionStageConfig
from longalign.stages.reward import RewardSection, RewardStage

if TYPE_CHECKING:
    import torch


@dataclass
class RewardLcmSection:
    timesteps: list[int] = field(default_factory=lambda: [999, 749, 499, 249])

    def check(self) -> None:
        ts = self.timesteps
        require(bool(ts) and all(x >= 0 for x in ts) and ts == sorted(ts, reverse=True) and len(set(ts)) == len(ts),
                f"reward_lcm.timesteps={ts}: expected distinct decreasing timesteps ≥ 0")


@dataclass
class RewardLcmConfig(DiffusionStageConfig):
    reward: RewardSection = field(default_factory=RewardSection)
    reward_lcm: RewardLcmSection = field(default_factory=RewardLcmSection)

    def resolve(self) -> None:
        super().resolve()
        self.reward.resolve()

    def check(self) -> None:
        super().check()
        self.reward.check()
        self.reward_lcm.check()

    def check_schedule(self, num_train_timesteps: int) -> None:
        T = num_train_timesteps
        ts = self.reward_lcm.timesteps
        require(all(x < T for x in ts), f"reward_lcm.timesteps={ts}: every timestep must be < {T} (the base "
                f"scheduler has {T} training timesteps)")


class RewardLcmStage(RewardStage):
    name: ClassVar[str] = "reward-lcm"
    config_class: ClassVar[type] = RewardLcmConfig
    inference_defaults = LCM_SAMPLING

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
