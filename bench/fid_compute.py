"""FID from statistics at d=2048, and the FID metric's peak memory for 1k vs 10k images.

1. Time of longbench's FID-from-statistics (``longbench.metrics.functional.fid.frechet_distance``) ÷
   torchmetrics' (``torchmetrics.image.fid._compute_fid``: ``eigvals(Σ1 Σ2)``) and ÷ the pytorch-fid /
   clean-fid computation (``scipy.linalg.sqrtm(Σ1 Σ2)``), on the same random full-rank covariances with a
   log-spaced spectrum, in float64, interleaved, best of ``--repeats``. Goals: ≤ 1.0 and ≤ 0.2. The values
   are compared with each other and with torch-fidelity's ``fid_statistics_to_metric``.
2. Peak RSS of a subprocess that streams N random 2048-d feature vectors through the metric's statistics
   (``update_features``, per-length-bucket states, batches of 100) and computes FID, for N = 1k and 10k.
   Goal: flat.

    python bench/fid_compute.py [--repeats 3] [--dim 2048] [--skip-rss]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, ClassVar


def random_statistics(d: int, seed: int) -> tuple[Any, Any]:
    """Mean and a full-rank covariance with eigenvalues log-spaced over 10 … 1e-5 (as Inception's)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=g))
    sigma = (q * torch.logspace(1, -5, d, dtype=torch.float64)) @ q.T
    sigma = (sigma + sigma.T) / 2
    return torch.randn(d, dtype=torch.float64, generator=g) * 0.3, sigma


def pytorch_fid_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """The pytorch-fid / clean-fid formula: trace of scipy's sqrtm of Σ1 Σ2."""
    import numpy as np
    from scipy import linalg

    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():  # pytorch-fid's fallback
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def time_it(fn: Callable[[], float]) -> tuple[float, float]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, float(value)


def compute_bench(d: int, repeats: int) -> dict[str, Any]:
    import torch
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    from torchmetrics.image.fid import _compute_fid

    from longbench.metrics.functional.fid import frechet_distance

    mu1, s1 = random_statistics(d, 1)
    mu2, s2 = random_statistics(d, 2)
    n1, n2 = (x.numpy() for x in (s1, s2))
    m1, m2 = mu1.numpy(), mu2.numpy()
    methods: dict[str, Callable[[], float]] = {
        "longbench": lambda: frechet_distance(mu1, s1, mu2, s2),
        "torchmetrics": lambda: float(_compute_fid(mu1, s1, mu2, s2)),
        "scipy-sqrtm": lambda: pytorch_fid_distance(m1, n1, m2, n2),
    }
    times: dict[str, list[float]] = {k: [] for k in methods}
    values: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            t, v = time_it(fn)
            times[name].append(t)
            values[name] = v
    t0 = time.perf_counter()
    values["torch-fidelity"] = fid_statistics_to_metric({"mu": m1, "sigma": n1}, {"mu": m2, "sigma": n2},
                                                        verbose=False)["frechet_inception_distance"]
    times["torch-fidelity"] = [time.perf_counter() - t0]
    return {"times": {k: min(v) for k, v in times.items()}, "values": values, "threads": torch.get_num_threads()}


def rss_child(n: int, d: int) -> None:
    """Stream n random features through the metric's statistics; print peak RSS (MB) as JSON."""
    import resource

    import torch

    from longbench.metrics.fid import BUCKET_LABELS, FrechetMetric

    class FeaturesOnly(torch.nn.Module):
        feature_dim = d

        def describe(self) -> dict[str, Any]:
            return {"network": "none (features fed directly)"}

    class BenchFID(FrechetMetric):
        name = "fid-bench"
        columns: ClassVar[dict[str, bool]] = {"fid-bench": False}

    metric = BenchFID(FeaturesOnly(), by_bucket=True)
    g = torch.Generator().manual_seed(0)
    metric.set_reference(torch.rand(d, dtype=torch.float64, generator=g) + 0.5,
                         torch.diag(torch.rand(d, dtype=torch.float64, generator=g) + 0.05))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    for start in range(0, n, 100):
        b = min(100, n - start)
        feats = torch.rand(b, d, dtype=torch.float64, generator=g)
        metric.update_features(feats, [BUCKET_LABELS[(start + i) % 4] for i in range(b)])
    update_s = time.perf_counter() - t0
    value = metric.compute()["fid-bench"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "rss_after_build_mb": before, "peak_rss_mb": peak, "update_s": update_s,
                      "fid": value}))


def rss_bench(d: int) -> list[dict[str, Any]]:
    out = []
    for n in (1000, 10000):
        proc = subprocess.run([sys.executable, __file__, "--rss-child", str(n), "--dim", str(d)],
                              capture_output=True, text=True, check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child is not None:
        rss_child(args.rss_child, args.dim)
        return

    r = compute_bench(args.dim, args.repeats)
    t, v = r["times"], r["values"]
    ref = v["torch-fidelity"]
    print(f"FID from statistics, d={args.dim}, float64, best of {args.repeats} (torch threads {r['threads']})")
    print(f"{'method':<16}{'time s':>9}{'FID':>24}{'rel. diff vs torch-fidelity':>30}")
    for name in ("longbench", "torchmetrics", "scipy-sqrtm", "torch-fidelity"):
        print(f"{name:<16}{t[name]:>9.3f}{v[name]:>24.12f}{abs(v[name] - ref) / abs(ref):>30.2e}")
    rows = [("longbench / torchmetrics", t["longbench"] / t["torchmetrics"], 1.0),
            ("longbench / scipy sqrtm", t["longbench"] / t["scipy-sqrtm"], 0.2)]
    if not args.skip_rss:
        rss = rss_bench(args.dim)
        print(f"\nFID statistics streaming, d={args.dim}, per-length-bucket states (subprocess each)")
        print(f"{'images':>8}{'RSS after build MB':>20}{'peak RSS MB':>14}{'update s':>10}")
        for x in rss:
            print(f"{x['n']:>8}{x['rss_after_build_mb']:>20.1f}{x['peak_rss_mb']:>14.1f}{x['update_s']:>10.2f}")
        rows.append(("peak RSS 10k / 1k images", rss[1]["peak_rss_mb"] / rss[0]["peak_rss_mb"], 1.05))
    print(f"\n{'ratio':<28}{'value':>8}{'goal':>8}  ok")
    for name, value, goal in rows:
        print(f"{name:<28}{value:>8.3f}{'<= ' + str(goal):>8}  {'yes' if value <= goal else 'NO'}")


if __name__ == "__main__":
    main()
