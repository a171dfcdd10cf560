"""The sampling rollout the reward stages train through (``reward`` and ``comat``; any ``reward.kind``).

From Gaussian noise, ``reward.rollout_steps`` steps with classifier-free guidance (conditional and
unconditional halves in one UNet batch). A chosen set of steps carries gradient; every other step runs the UNet
without gradient. The update itself is always differentiable, so gradients reach earlier gradient steps
through the latent path:

* ``reward.sampler: ddim`` (LongAlign) — timesteps ``T−1, T−1−T/n, …``, the deterministic DDIM update, and
  what is decoded and scored is the x̂0 of the last step;
* ``reward.sampler: ddpm`` (CoMat) — the base scheduler's DDPM timesteps (``DDPMScheduler.set_timesteps``,
  e.g. 981 … 1 for Stable Diffusion), the DDPM posterior update with fresh noise at every step
  (``fixed_small`` variance), and what is decoded and scored is the final sample.

Gradient steps: ``reward.grad_steps: 0`` picks one random offset, then every ``reward.grad_every``-th step
(LongAlign); ``reward.grad_steps: K`` picks K steps ``n // K`` apart from a random start (CoMat).
``reward.detach_input: true`` detaches the UNet's input at gradient steps (LongAlign's truncated backprop: a
gradient step sees later steps only through the update); ``false`` lets gradients flow through the UNet into
earlier steps (CoMat).

Every random draw (noise, gradient steps, DDPM noise) comes from the step's generator, so a rollout is a pure
function of the generator's seed and the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch

SAMPLERS = ("ddim", "ddpm")

#: ``call(step_index, grad)`` → a function ``(x, t, context) → UNet output`` for that step
UnetCall = Callable[[int, bool], Callable[..., "torch.Tensor"]]


@dataclass
class RolloutPlan:
    """The timesteps of a rollout, the timestep each step lands on, and the steps that carry gradient."""

    sampler: str
    timesteps: list[int]
    prev_timesteps: list[int]
    grad_steps: list[int]


@dataclass
class RolloutResult:
    """``latents``: what is decoded and scored (module docstring); ``sample``: the last update's output."""

    latents: torch.Tensor
    sample: torch.Tensor
    plan: RolloutPlan


def sampler_timesteps(sampler: str, num_steps: int, scheduler_config: Any) -> tuple[list[int], list[int]]:
    """(timesteps, timesteps each step lands on) of ``sampler`` with ``num_steps`` steps on the base schedule."""
    from longalign.diffusion import rollout_timesteps

    T = int(scheduler_config.num_train_timesteps)
    stride = T // num_steps
    if sampler == "ddim":
        ts = rollout_timesteps(num_steps, T)
    elif sampler == "ddpm":
        from diffusers import DDPMScheduler

        if getattr(scheduler_config, "thresholding", False):
            raise LongbenchError("reward.sampler=ddpm: the base scheduler uses dynamic thresholding, which the "
                                 "rollout does not implement")
        scheduler = DDPMScheduler.from_config(scheduler_config)
        scheduler.set_timesteps(num_steps)
        ts = [int(t) for t in scheduler.timesteps]
    else:
        raise LongbenchError(f"reward.sampler={sampler!r}: expected one of {', '.join(SAMPLERS)}")
    return ts, [t - stride for t in ts]


def plan_rollout(sampler: str, num_steps: int, scheduler_config: Any, generator: torch.Generator, *,
                 grad_steps: int = 0, grad_every: int = 10) -> RolloutPlan:
    """Timesteps and gradient steps of one rollout (module docstring); draws from ``generator``."""
    from longalign.diffusion import gradient_step_indices, spaced_step_indices

    ts, prev = sampler_timesteps(sampler, num_steps, scheduler_config)
    steps = spaced_step_indices(len(ts), grad_steps, generator) if grad_steps else \
        gradient_step_indices(len(ts), grad_every, generator)
    return RolloutPlan(sampler, ts, prev, steps)


def run_rollout(plan: RolloutPlan, call: UnetCall, cond: torch.Tensor, uncond: torch.Tensor, noise: torch.Tensor, *,
                guidance_scale: float, alphas_cumprod: torch.Tensor, prediction_type: str, weight_dtype: Any,
                generator: torch.Generator, detach_input: bool = True,
                clip_sample: float | None = None) -> RolloutResult:
    """Sample from ``noise`` (float32 latents) along ``plan``.

    Args:
        plan: the rollout's timesteps and gradient steps (:func:`plan_rollout`).
        call: the UNet call of a step (:data:`UnetCall`); it runs without gradient when ``grad`` is false.
        cond: conditional context (B, L, D) in the UNet's dtype.
        uncond: unconditional context, same shape.
        noise: the initial latents x_T.
        guidance_scale: classifier-free guidance weight.
        alphas_cumprod: ᾱ of the base schedule.
        prediction_type: ``epsilon`` or ``v_prediction``.
        weight_dtype: dtype of the UNet's input.
        generator: draws the DDPM noise.
        detach_input: detach the UNet's input at gradient steps.
        clip_sample: clamp x̂0 to [−c, c] in DDPM updates (the base scheduler's ``clip_sample``); None: never.
    """
    import torch

    from longalign.diffusion import ddim_step, ddpm_step, split_prediction

    bsz = noise.shape[0]
    context = torch.cat([cond, uncond])
    grad_steps = set(plan.grad_steps)
    x = noise
    x0 = x
    for i, (t, t_prev) in enumerate(zip(plan.timesteps, plan.prev_timesteps)):
        t_batch = torch.full((bsz,), t, device=x.device, dtype=torch.long)
        x_in = torch.cat([x, x])
        x_in = (x_in.detach() if detach_input or i not in grad_steps else x_in).to(weight_dtype)
        out = call(i, i in grad_steps)(x_in, torch.cat([t_batch, t_batch]), context).float()
        out_c, out_u = out.chunk(2)
        guided = out_u + guidance_scale * (out_c - out_u)
        x0, eps = split_prediction(guided, t_batch, x, alphas_cumprod, prediction_type)
        prev = torch.full_like(t_batch, t_prev)
        if plan.sampler == "ddim":
            x = ddim_step(x0, eps, prev, alphas_cumprod)
        else:
            if clip_sample is not None:
                x0 = x0.clamp(-clip_sample, clip_sample)
            z = torch.randn(tuple(x.shape), generator=generator).to(device=x.device, dtype=x.dtype)
            x = ddpm_step(x0, x, t_batch, prev, alphas_cumprod, z)
    return RolloutResult(latents=x0 if plan.sampler == "ddim" else x, sample=x, plan=plan)
