"""Pure functions behind FID: streaming moments → Gaussian, Gaussian pair → Fréchet distance, ``.npz`` files.

The Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2) is ``|μ1 − μ2|² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^½``.
The last term is computed without a matrix square root, from factors ``Fi Fiᵀ = Σi``:

* both covariances positive definite (more images than feature dimensions): ``F1`` is a Cholesky factor and
  the eigenvalues of ``Σ1 Σ2`` are those of the symmetric PSD ``F1ᵀ Σ2 F1``, so
  ``tr (Σ1 Σ2)^½ = Σ sqrt(eigvalsh(F1ᵀ Σ2 F1))`` — one Cholesky, two products and one symmetric eigensolve
  (no general ``eigvals`` or Schur-based ``sqrtm``). Eigenvalues below ``d · eps · λmax`` are rounding noise
  and are set to zero: under the square root each would otherwise add ~sqrt(eps).
* a singular covariance (fewer images than dimensions): ``F`` is a thin rank-revealing pivoted Cholesky factor
  (LAPACK ``dpstrf``, tolerance ``d · eps · max diag``) and ``tr (Σ1 Σ2)^½`` is the nuclear norm (sum of
  singular values) of ``F1ᵀ F2`` — small, and free of the square-root amplification of rounding noise that
  limits ``eigvals(Σ1 Σ2)`` and ``scipy.linalg.sqrtm`` on rank-deficient covariances.

Everything is float64.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import torch

from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.fileio import atomic_write_bytes

_F64 = torch.float64


def gaussian_from_moments(total: torch.Tensor, outer: torch.Tensor, n: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance (``n − 1``, as ``numpy.cov``) from streaming sums.

    Args:
        total: (d,) sum of the feature vectors.
        outer: (d, d) sum of their outer products ``Σ x xᵀ``.
        n: number of vectors summed.

    Raises:
        LongbenchError: fewer than two vectors (the covariance is undefined).
    """
    n = float(n)
    if n < 2:
        raise LongbenchError(f"FID needs at least 2 images to estimate a covariance, got {int(n)}")
    total = total.to(_F64)
    mu = total / n
    sigma = (outer.to(_F64) - torch.outer(total, mu)) / (n - 1)
    return mu, _symmetric(sigma)


def psd_factor(sigma: torch.Tensor) -> torch.Tensor:
    """A factor ``F`` with ``F Fᵀ = sigma`` for a symmetric PSD matrix (float64, same device).

    The (d, d) Cholesky factor when ``sigma`` is positive definite; otherwise a (d, r) pivoted Cholesky factor
    whose ``r`` is the numerical rank (0 for a zero matrix).
    """
    sigma = _symmetric(sigma.to(_F64))
    chol, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return chol
    import numpy as np
    from scipy.linalg import lapack

    d = sigma.shape[0]
    if d == 0 or float(sigma.diagonal().max()) <= 0.0:
        return sigma.new_zeros(d, 0)
    c, piv, rank, info = lapack.dpstrf(sigma.cpu().numpy(), lower=1, tol=-1.0)  # tol -1: d·eps·max diag
    if info < 0:
        raise LongbenchError(f"pivoted Cholesky failed (LAPACK dpstrf info {info})")
    factor = np.zeros((d, rank))
    factor[piv - 1] = np.tril(c)[:, :rank]
    return torch.from_numpy(factor).to(sigma.device)


def trace_sqrt_factored(factor1: torch.Tensor, factor2: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """``tr (Σ1 Σ2)^½`` (float64 scalar tensor) from :func:`psd_factor` results of both and ``sigma2``."""
    d = factor1.shape[0]
    if factor1.shape[1] == 0 or factor2.shape[1] == 0:
        return torch.zeros((), dtype=_F64, device=factor1.device)
    if factor1.shape[1] == d and factor2.shape[1] == d:  # both full rank: one symmetric eigensolve
        m = _symmetric(factor1.T @ sigma2.to(_F64) @ factor1)
        evals = torch.linalg.eigvalsh(m)
        evals = evals[evals > _noise_floor(evals, d)]
        return evals.sqrt().sum()
    return torch.linalg.svdvals(factor1.T @ factor2).sum()


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor,
                     *, factor1: torch.Tensor | None = None, factor2: torch.Tensor | None = None) -> float:
    """FID between two Gaussians given by mean and covariance.

    Args:
        mu1, sigma1: first Gaussian, shapes (d,) and (d, d).
        mu2, sigma2: second Gaussian.
        factor1, factor2: optional precomputed :func:`psd_factor` results (e.g. the reference's, reused
            across many comparisons).

    Returns:
        The distance as a float, clamped at 0 (identical statistics give rounding noise of either sign).

    Raises:
        LongbenchError: mismatched shapes or non-finite statistics.
    """
    check_gaussian(mu1, sigma1, "first statistics")
    check_gaussian(mu2, sigma2, "second statistics")
    if mu1.shape != mu2.shape:
        raise LongbenchError(f"FID statistics have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}")
    mu1, mu2 = mu1.to(_F64), mu2.to(_F64).to(mu1.device)
    sigma1, sigma2 = sigma1.to(_F64), sigma2.to(_F64).to(mu1.device)
    diff = mu1 - mu2
    f1 = psd_factor(sigma1) if factor1 is None else factor1.to(mu1.device)
    f2 = psd_factor(sigma2) if factor2 is None else factor2.to(mu1.device)
    tr_sqrt = trace_sqrt_factored(f1, f2, sigma2)
    value = diff.dot(diff) + torch.trace(sigma1) + torch.trace(sigma2) - 2.0 * tr_sqrt
    return max(float(value), 0.0)


def fid_from_features(features: torch.Tensor, mu_ref: torch.Tensor, sigma_ref: torch.Tensor) -> float:
    """FID of a set of feature vectors (n, d) against reference statistics N(mu_ref, sigma_ref), in float64.

    The one-shot form of what the ``fid`` / ``fid-clip`` metrics compute from streaming sums.
    """
    feats = features.detach().to(_F64)
    mu, sigma = gaussian_from_moments(feats.sum(0), feats.T @ feats, feats.shape[0])
    return frechet_distance(mu, sigma, mu_ref, sigma_ref)


def check_gaussian(mu: torch.Tensor, sigma: torch.Tensor, where: str) -> None:
    """Shapes (d,) and (d, d), finite values."""
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise LongbenchError(f"{where}: expected mu (d,) and sigma (d, d), got {tuple(mu.shape)} and "
                             f"{tuple(sigma.shape)}")
    if not (torch.isfinite(mu).all() and torch.isfinite(sigma).all()):
        raise LongbenchError(f"{where}: mu/sigma contain NaN or inf values")


def _symmetric(m: torch.Tensor) -> torch.Tensor:
    return (m + m.T) / 2


def _noise_floor(evals: torch.Tensor, d: int) -> torch.Tensor:
    """Eigenvalues at or below this are rounding noise of a d×d symmetric eigensolve."""
    top = evals.abs().max() if evals.numel() else torch.zeros((), dtype=evals.dtype)
    return top * d * torch.finfo(evals.dtype).eps


# ---------------------------------------------------------------------- .npz statistics files
def load_gaussian_npz(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Read ``mu``/``sigma`` from a pytorch-fid / clean-fid style ``.npz`` (float64 tensors).

    Returns:
        ``(mu, sigma, extra)`` where ``extra`` holds the optional ``n`` and ``protocol`` entries that
        longbench writes.

    Raises:
        LongbenchError: unreadable file, missing keys, bad shapes or non-finite values.
    """
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise LongbenchError(f"FID reference statistics {p}: no such file")
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in ("mu", "sigma") if k not in data.files]
            if missing:
                raise LongbenchError(f"FID reference statistics {p}: missing {' and '.join(missing)} "
                                     f"(has {', '.join(data.files) or 'nothing'}); expected the pytorch-fid format")
            mu = torch.from_numpy(np.asarray(data["mu"], dtype=np.float64).copy())
            sigma = torch.from_numpy(np.asarray(data["sigma"], dtype=np.float64).copy())
            extra: dict[str, Any] = {}
            if "n" in data.files:
                extra["n"] = int(data["n"])
            if "protocol" in data.files:
                extra["protocol"] = jsonio.loads(str(data["protocol"]), f"FID reference statistics {p}: protocol")
    except LongbenchError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise LongbenchError(f"FID reference statistics {p}: not a readable .npz ({type(e).__name__}: {e})") from e
    check_gaussian(mu, sigma, f"FID reference statistics {p}")
    return mu, sigma, extra


def save_gaussian_npz(path: str | os.PathLike, mu: torch.Tensor, sigma: torch.Tensor, *, n: int | None = None,
                      protocol: dict[str, Any] | None = None) -> None:
    """Write ``mu``/``sigma`` (+ ``n``, ``protocol`` as JSON) atomically; readable by pytorch-fid and clean-fid."""
    import numpy as np

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"mu": mu.detach().to(_F64).cpu().numpy(), "sigma": sigma.detach().to(_F64).cpu().numpy()}
    if n is not None:
        arrays["n"] = np.int64(n)
    if protocol is not None:
        arrays["protocol"] = np.str_(json.dumps(protocol, sort_keys=True))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(p, buf.getvalue())
