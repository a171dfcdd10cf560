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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.checks import check_range, require, require_choice
from longalign.sections import TrainSection, check_splitter, path_field
from longalign.stages.common import DiffusionStage, DiffusionStageConfig

if TYPE_CHECKING:
    import torch


@dataclass
class RewardSection:
    """The preference reward (also the ``reward`` section of ``reward-lcm``) and the DDIM rollout."""

    #: preference model (id, directory or open_clip:ARCH:PATH)
    model: str = path_field("luping-liu/Denscore")
    #: its processor; empty: the model's own (the LAION CLIP-H processor for the released Denscore)
    processor: str = path_field()
    #: score prompt segments (Denscore) or whole prompts truncated to the context (PickScore/CLIP style)
    segments: bool = True
    #: splitter of the reward's prompt segments
    splitter: str = "longalign"
    #: weight of the text-irrelevant component (1: plain score); must lie in [0, 1] unless allow_any_omega
    omega: float = 0.3
    #: accept omega outside [0, 1] (> 1 rewards the text-irrelevant part more than the plain score does,
    #: < 0 penalises it)
    allow_any_omega: bool = False
    #: crop this fraction of each side (randomly placed) before resizing, as the reference reward does
    crop_fraction: float = 504 / 512
    random_crop: bool = True
    dtype: str = "float32"
    #: DDIM rollout (reward stage)
    rollout_steps: int = 50
    guidance_scale: float = 7.5
    #: one gradient-carrying step per this many rollout steps, at one random offset
    grad_every: int = 10
    #: activation checkpointing of the gradient-carrying UNet calls
    checkpointing: bool = True

    def check(self) -> None:
        from longbench.devices import DTYPES

        require(bool(self.model), "reward.model is required (the preference model)")
        check_splitter(self.splitter, "reward.splitter")
        if not self.allow_any_omega:
            check_range(self.omega, "reward.omega", 0, 1, why="1: the plain score; set reward.allow_any_omega=true "
                        "to go beyond")
        check_range(self.crop_fraction, "reward.crop_fraction", 0, 1, lo_open=True)
        check_range(self.rollout_steps, "reward.rollout_steps", 1)
        check_range(self.grad_every, "reward.grad_every", 1)
        check_range(self.guidance_scale, "reward.guidance_scale", 0, why="classifier-free guidance weight")
        require_choice(self.dtype, "reward.dtype", DTYPES)


@dataclass
class RewardConfig(DiffusionStageConfig):
    reward: RewardSection = field(default_factory=RewardSection)
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=1))

    def check(self) -> None:
        super().check()
        self.reward.check()

    def check_schedule(self, num_train_timesteps: int) -> None:
        T = num_train_timesteps
        check_range(self.reward.rollout_steps, "reward.rollout_steps", 1, T, why=f"the base scheduler has {T} "
                    "training timesteps; the DDIM rollout steps by num_train_timesteps // rollout_steps")


class RewardStage(DiffusionStage):
    name: ClassVar[str] = "reward"
    config_class: ClassVar[type] = RewardConfig
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
