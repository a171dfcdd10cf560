"""``reward``: decomposed preference optimisation of the (SFT) model (DESIGN §4, "Reward fine-tuning").

Per batch: sample from noise with a ``reward.rollout_steps``-step DDIM and classifier-free guidance
``reward.guidance_scale``; about one step in ``reward.grad_every`` (one random offset, then every
``grad_every``-th step) runs the UNet with gradient — its input detached, so gradients reach earlier steps
only through the DDIM update (truncated backprop) — under activation checkpointing; every other step runs
without gradient (``longalign.rollout``). The final x̂0 is decoded by the VAE, clamped to [0, 1] and scored by
the reward of ``reward.kind`` (``longalign.rewards``): by default the reweighted preference reward with V from
the batch gathered across processes, loss 0.5·(1 − mean reward); ``caption`` is CoMat's concept matching,
loss −mean reward. ``reward.sampler``, ``reward.grad_steps`` and ``reward.detach_input`` select CoMat's rollout
instead (DDPM, K evenly spaced gradient steps, full backprop through the UNet).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.checks import check_range, require, require_choice
from longalign.sections import TrainSection, check_splitter, path_field
from longalign.stages.common import DiffusionStage, DiffusionStageConfig

if TYPE_CHECKING:
    import torch


@dataclass
class RewardSection:
    """The reward (also the ``reward`` section of ``reward-lcm`` and ``comat``) and the rollout it trains through.

    ``model``, ``splitter`` and ``crop_fraction`` left empty take the defaults of ``kind``, filled in by
    :meth:`resolve` so the run records them.
    """

    #: which reward (``longalign.rewards.REWARDS``): denscore (LongAlign's reweighted preference score) or
    #: caption (CoMat's concept matching); plugins add more
    kind: str = "denscore"
    #: the reward's weights (id, directory, or open_clip:ARCH:PATH for denscore); empty: the kind's default
    #: (luping-liu/Denscore; Salesforce/blip-image-captioning-large). A reward kind's name here selects that kind
    #: with its default weights (``reward.model=caption``)
    model: str = path_field()
    #: its processor; empty: the model's own (the LAION CLIP-H processor for the released Denscore)
    processor: str = path_field()
    #: score prompt segments (default) or whole prompts: truncated to the context for denscore (PickScore/CLIP
    #: style), by segments only when too long for caption
    segments: bool = True
    #: splitter of the reward's prompt segments; empty: the kind's (denscore: longalign; caption: default)
    splitter: str = ""
    #: denscore: weight of the text-irrelevant component (1: plain score); must lie in [0, 1] unless
    #: allow_any_omega
    omega: float = 0.3
    #: denscore: accept omega outside [0, 1] (> 1 rewards the text-irrelevant part more than the plain score
    #: does, < 0 penalises it)
    allow_any_omega: bool = False
    #: caption: caption prefix of every text
    prefix: str = "a photography of"
    #: caption: ε of the label-smoothed cross-entropy (0.1: the reference's; 0: the log-likelihood)
    label_smoothing: float = 0.1
    #: caption: image (mean over each image's texts, then over images) or token (the reference's batch mean
    #: over all label tokens)
    pooling: str = "image"
    #: crop this fraction of each side (randomly placed) before resizing; empty: the kind's (504/512; 510/512)
    crop_fraction: float | None = None
    random_crop: bool = True
    dtype: str = "float32"
    #: rollout (reward, comat): steps, sampler (ddim | ddpm) and guidance
    rollout_steps: int = 50
    sampler: str = "ddim"
    guidance_scale: float = 7.5
    #: one gradient-carrying step per this many rollout steps, at one random offset (when grad_steps is 0)
    grad_every: int = 10
    #: K > 0: K gradient-carrying steps rollout_steps // K apart from a random start (CoMat)
    grad_steps: int = 0
    #: detach the UNet's input at gradient steps (LongAlign's truncated backprop; false: CoMat's full backprop)
    detach_input: bool = True
    #: activation checkpointing of the gradient-carrying UNet calls
    checkpointing: bool = True

    def resolve(self) -> None:
        """Fill ``kind``, ``model``, ``splitter`` and ``crop_fraction`` from the kind's defaults."""
        from longalign.rewards import REWARDS

        if self.model in REWARDS:  # reward.model=caption: that kind with its default weights
            self.kind, self.model = self.model, ""
        if self.kind not in REWARDS:
            return  # check() reports it
        cls = REWARDS.get(self.kind)
        self.model = self.model or cls.default_model
        self.splitter = self.splitter or cls.default_splitter
        if self.crop_fraction is None:
            self.crop_fraction = cls.default_crop_fraction

    def check(self) -> None:
        from longalign.rewards import REWARDS
        from longalign.rewards.caption import POOLINGS
        from longalign.rollout import SAMPLERS
        from longbench.devices import DTYPES

        require_choice(self.kind, "reward.kind", tuple(REWARDS.names()))
        require(bool(self.model), "reward.model is required (the reward's weights)")
        check_splitter(self.splitter, "reward.splitter")
        if not self.allow_any_omega:
            check_range(self.omega, "reward.omega", 0, 1, why="1: the plain score; set reward.allow_any_omega=true "
                        "to go beyond")
        check_range(self.label_smoothing, "reward.label_smoothing", 0, 1)
        require_choice(self.pooling, "reward.pooling", POOLINGS)
        check_range(self.crop_fraction if self.crop_fraction is not None else 1.0, "reward.crop_fraction", 0, 1,
                    lo_open=True)
        check_range(self.rollout_steps, "reward.rollout_steps", 1)
        require_choice(self.sampler, "reward.sampler", SAMPLERS)
        check_range(self.grad_every, "reward.grad_every", 1)
        check_range(self.grad_steps, "reward.grad_steps", 0, self.rollout_steps,
                    why="0: every grad_every-th step; at most one per rollout step")
        check_range(self.guidance_scale, "reward.guidance_scale", 0, why="classifier-free guidance weight")
        require_choice(self.dtype, "reward.dtype", DTYPES)


@dataclass
class RewardConfig(DiffusionStageConfig):
    reward: RewardSection = field(default_factory=RewardSection)
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=1))

    def resolve(self) -> None:
        super().resolve()
        self.reward.resolve()

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
        from longalign.rewards import REWARDS

        self.reward = REWARDS.get(self.cfg.reward.kind).build(self.cfg.reward, self.accelerator.device)

    def unet_call(self, grad: bool,
                  around: Callable[[], AbstractContextManager[Any]] | None = None) -> Callable[..., torch.Tensor]:
        """UNet forward returning the sample; checkpointed when it carries gradient and checkpointing is on.
        ``around`` gives a context entered inside the (checkpointed) forward, so a recomputation enters it too."""
        import torch
        from torch.utils.checkpoint import checkpoint

        unet = self.unwrapped_unet()

        def forward(x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
            with self.accelerator.autocast(), (around() if around is not None else nullcontext()):
                return unet(x, t, ctx).sample

        if not grad:
            def no_grad(x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    return forward(x, t, ctx)
            return no_grad
        if self.cfg.reward.checkpointing:
            return lambda x, t, ctx: checkpoint(forward, x, t, ctx, use_reentrant=False)
        return forward

    def step_call(self, index: int, grad: bool) -> Callable[..., torch.Tensor]:
        """The UNet call of rollout step ``index`` (a stage may observe particular steps)."""
        return self.unet_call(grad)

    def plan(self, generator: torch.Generator) -> Any:
        """Timesteps and gradient steps of one rollout (``longalign.rollout.plan_rollout``)."""
        from longalign.rollout import plan_rollout

        r = self.cfg.reward
        return plan_rollout(r.sampler, r.rollout_steps, self.noise_scheduler.config, generator,
                            grad_steps=r.grad_steps, grad_every=r.grad_every)

    def sample(self, prompts: list[str], generator: torch.Generator) -> Any:
        """One rollout (``longalign.rollout.run_rollout``) of the current model for ``prompts``."""
        import torch

        from longalign.rollout import run_rollout

        r = self.cfg.reward
        with torch.no_grad():
            cond, uncond = self.encode(prompts)
        plan = self.plan(generator)
        noise = self.randn(self.latent_shape(len(prompts)), generator).float()
        return run_rollout(plan, self.step_call, cond, uncond, noise, guidance_scale=r.guidance_scale,
                           alphas_cumprod=self.alphas_cumprod, prediction_type=self.prediction_type,
                           weight_dtype=self.weight_dtype, generator=generator, detach_input=r.detach_input,
                           clip_sample=self.clip_sample())

    def clip_sample(self) -> float | None:
        """The bound of x̂0 in DDPM updates: the base scheduler's ``clip_sample_range`` when it clips, else None."""
        c = self.noise_scheduler.config
        return c.get("clip_sample_range", 1.0) if c.get("clip_sample", False) else None

    def rollout(self, prompts: list[str], generator: torch.Generator) -> tuple[torch.Tensor, int]:
        """The latents to decode and score (x̂0 of the last DDIM step, the last DDPM sample), with gradient
        through the chosen steps, and the number of such steps."""
        result = self.sample(prompts, generator)
        return result.latents, len(result.plan.grad_steps)

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        prompts = list(batch["caption"])
        latents, n_grad = self.rollout(prompts, generator)
        out = self.reward(self.decode(latents), prompts, accelerator=self.accelerator, generator=generator)
        return self.reward.loss(out), {**self.reward.log_values(out), "grad_steps": float(n_grad)}
