"""Diffusion arithmetic shared by the stages: x̂0 / ε from a model output, DDIM updates, LCM boundary terms.

All functions take ``alphas_cumprod`` (ᾱ, shape (T,)) and integer timesteps; ᾱ at a negative timestep is
ᾱ[0] (the last DDIM update lands on the cleanest training noise level, as in the reference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch

PREDICTION_TYPES = ("epsilon", "v_prediction")


def _gather(alphas_cumprod: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    a = alphas_cumprod.to(t.device)[t.clamp(min=0)]
    return a.reshape(-1, *([1] * (ndim - 1)))


def split_prediction(model_output: torch.Tensor, t: torch.Tensor, x_t: torch.Tensor,
                     alphas_cumprod: torch.Tensor, prediction_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂0, ε̂) from the model output at noisy sample ``x_t`` and timesteps ``t``."""
    a = _gather(alphas_cumprod, t, x_t.ndim).to(x_t.dtype)
    alpha, sigma = a.sqrt(), (1 - a).sqrt()
    if prediction_type == "epsilon":
        eps = model_output
        x0 = (x_t - sigma * eps) / alpha
    elif prediction_type == "v_prediction":
        x0 = alpha * x_t - sigma * model_output
        eps = alpha * model_output + sigma * x_t
    else:
        raise LongbenchError(f"prediction_type {prediction_type!r} is not supported (expected "
                             f"{' or '.join(PREDICTION_TYPES)})")
    return x0, eps


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, t_prev: torch.Tensor,
              alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Deterministic DDIM update to timestep ``t_prev``: √ᾱ x̂0 + √(1−ᾱ) ε̂."""
    a = _gather(alphas_cumprod, t_prev, x0.ndim).to(x0.dtype)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def ddpm_step(x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
              alphas_cumprod: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """DDPM posterior sample at ``t_prev`` given x̂0 (diffusers' ``DDPMScheduler.step`` with ``fixed_small``
    variance): (√ᾱ_prev β_t x̂0 + √α_t (1−ᾱ_prev) x_t) / (1−ᾱ_t) + σ_t z, with α_t = ᾱ_t/ᾱ_prev, β_t = 1 − α_t,
    σ_t² = max((1−ᾱ_prev)/(1−ᾱ_t) β_t, 1e-20), and ᾱ_prev = 1 at a negative ``t_prev`` (DDPM's last step
    lands on x̂0). No noise is added at ``t = 0`` or when ``noise`` is None."""
    import torch

    a_t = _gather(alphas_cumprod, t, x_t.ndim).to(x_t.dtype)
    a_prev = torch.where(t_prev.reshape(a_t.shape) >= 0,
                         _gather(alphas_cumprod, t_prev, x_t.ndim).to(x_t.dtype), torch.ones_like(a_t))
    alpha_t = a_t / a_prev
    beta_t = 1 - alpha_t
    mean = (a_prev.sqrt() * beta_t * x0 + alpha_t.sqrt() * (1 - a_prev) * x_t) / (1 - a_t)
    if noise is None:
        return mean
    variance = ((1 - a_prev) / (1 - a_t) * beta_t).clamp(min=1e-20)
    return mean + torch.where(t.reshape(a_t.shape) > 0, variance.sqrt(), torch.zeros_like(variance)) * noise


def training_target(noise: torch.Tensor, latents: torch.Tensor, t: torch.Tensor,
                     alphas_cumprod: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """What the UNet is trained to output: ε, or the velocity √ᾱ ε − √(1−ᾱ) x0."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        a = _gather(alphas_cumprod, t, latents.ndim).to(latents.dtype)
        return a.sqrt() * noise - (1 - a).sqrt() * latents
    raise LongbenchError(f"prediction_type {prediction_type!r} is not supported (expected "
                         f"{' or '.join(PREDICTION_TYPES)})")


def lcm_boundary(t: torch.Tensor, sigma_data: float = 0.5,
                 timestep_scaling: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Consistency-model skip/out coefficients (c_skip, c_out) at timesteps ``t``."""
    scaled = timestep_scaling * t.float()
    c_skip = sigma_data ** 2 / (scaled ** 2 + sigma_data ** 2)
    c_out = scaled / (scaled ** 2 + sigma_data ** 2) ** 0.5
    return c_skip, c_out


def rollout_timesteps(num_steps: int, num_train_timesteps: int = 1000) -> list[int]:
    """DDIM sampling timesteps from T−1 down with stride T // steps (50 steps: 999, 979, ..., 19)."""
    stride = num_train_timesteps // num_steps
    if stride < 1:
        raise LongbenchError(f"{num_steps} rollout steps exceed {num_train_timesteps} training timesteps")
    return [num_train_timesteps - 1 - i * stride for i in range(num_steps)]


def spaced_step_indices(num_steps: int, k: int, generator: torch.Generator) -> list[int]:
    """``k`` rollout steps ``num_steps // k`` apart from a random start in ``[0, num_steps − (k−1)·stride − 1]``
    (CoMat's choice of gradient steps; always exactly ``k`` steps)."""
    import torch

    stride = num_steps // k
    if stride < 1:
        raise LongbenchError(f"{k} gradient steps exceed {num_steps} rollout steps")
    start = int(torch.randint(0, num_steps - stride * (k - 1), (1,), generator=generator))
    return list(range(start, num_steps, stride))[:k]


def gradient_step_indices(num_steps: int, every: int, generator: torch.Generator) -> list[int]:
    """One random offset in [0, min(every, num_steps)), then every ``every``-th rollout step from it."""
    import torch

    window = min(every, num_steps)
    offset = int(torch.randint(0, window, (1,), generator=generator))
    return list(range(offset, num_steps, every))


def huber(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """Pseudo-Huber loss mean(√((a−b)² + c²) − c)."""
    return (((a.float() - b.float()) ** 2 + c * c).sqrt() - c).mean()
