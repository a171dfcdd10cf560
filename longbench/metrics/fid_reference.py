"""Reference statistics of ``fid`` / ``fid-clip``: the Gaussian ``N(mu, sigma)`` generated images are compared with.

They come from one of:

* a ``.npz`` with ``mu``/``sigma`` (the pytorch-fid / clean-fid format; :func:`load_npz_reference`), which may
  also record ``n`` and the feature protocol it was computed with (what :meth:`~longbench.metrics.fid.
  FrechetMetric.save_reference` writes);
* the suite's reference images (``item.reference_image``, relative to the suite file;
  :class:`SuiteReference`): checked when the metric is built, computed on first use and cached as ``.npz``
  under ``<cache_dir>/fid-reference/`` keyed by (suite sha256, feature protocol hash). The cache file also
  records a fingerprint (path, size, mtime) of the reference images and is recomputed when they change, so
  a second run reads no reference image;
* the images a model draws for every item of the suite (option ``ref_model``, e.g. ``mini:oracle``, the exact
  renderer of the miniature world; :class:`ModelReference`), with per-item seeds of their own, cached the
  same way keyed by (suite sha256, the model's identity, the seed, feature protocol hash).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from longbench.errors import LongbenchError
from longbench.metrics.functional import fid as F

logger = logging.getLogger(__name__)

#: computes ``(mu, sigma, n)`` from an iterable of images (the metric's feature network and batching)
StatisticsOf = Callable[[Iterable[Any]], tuple[torch.Tensor, torch.Tensor, int]]


class Moments:
    """A local float64 moment accumulator (for reference images)."""

    def __init__(self, d: int, device: torch.device):
        self.total = torch.zeros(d, dtype=torch.float64, device=device)
        self.outer = torch.zeros(d, d, dtype=torch.float64, device=device)
        self.n = 0

    def add(self, feats: torch.Tensor) -> None:
        feats = feats.to(device=self.total.device, dtype=torch.float64)
        if not torch.isfinite(feats).all():
            raise LongbenchError("non-finite features for a reference image")
        self.total += feats.sum(0)
        self.outer += feats.T @ feats
        self.n += feats.shape[0]

    def gaussian(self, where: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n < 2:
            raise LongbenchError(f"{where}: FID needs at least 2 images, got {self.n}")
        return F.gaussian_from_moments(self.total, self.outer, self.n)


def load_npz_reference(path: str | Path, features: dict[str, Any],
                       name: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """``(mu, sigma, info)`` from a pytorch-fid / clean-fid ``.npz``; ``info`` says whether the file's recorded
    feature protocol (if any) is ``features``, the metric's (a mismatch is logged, not refused)."""
    from longbench.weights import file_sha256

    mu, sigma, extra = F.load_gaussian_npz(path)
    info: dict[str, Any] = {"source": "npz", "path": str(path), "sha256": file_sha256(path)}
    if "n" in extra:
        info["n"] = extra["n"]
    theirs = extra.get("protocol", {}).get("features")
    if theirs is not None and theirs != features:
        logger.warning("%s: %s was computed with a different feature protocol than this metric's", name, path)
        info["protocol_matches"] = False
    elif theirs is not None:
        info["protocol_matches"] = True
    return mu, sigma, info


@dataclass(frozen=True)
class SuiteReference:
    """A suite's reference images, checked to exist, whose statistics are computed (or read from the cache)
    on first use by :meth:`statistics`."""

    suite: str
    version: Any
    sha256: str
    entries: tuple[tuple[str, Path], ...]  # (item id, image path)
    cache_dir: Path | None
    source = "suite reference images"

    @classmethod
    def of(cls, suite: Any, cache_dir: str | Path | None, name: str) -> SuiteReference:
        """The reference images of ``suite``'s items (paths relative to the suite file).

        Raises:
            LongbenchError: the suite has fewer than 2 reference images, or one is missing.
        """
        entries = []
        root = Path(suite.root) if getattr(suite, "root", None) else Path(".")
        for it in suite.items:
            if it.reference_image:
                p = Path(it.reference_image).expanduser()
                entries.append((it.id, p if p.is_absolute() else root / p))
        if not entries:
            raise LongbenchError(
                f"{name}: suite {suite.name!r} has no reference images; add reference_image to its items or "
                f"pass the option ref=PATH.npz (mu/sigma statistics in the pytorch-fid / clean-fid format)")
        if len(entries) < 2:
            raise LongbenchError(f"{name}: suite {suite.name!r} has 1 reference image; FID needs at least 2")
        missing = [(i, p) for i, p in entries if not p.is_file()]
        if missing:
            raise LongbenchError(f"{name}: reference image of item {missing[0][0]!r} not found: {missing[0][1]}"
                                 + (f" ({len(missing)} missing)" if len(missing) > 1 else ""))
        return cls(suite.name, suite.version, suite.sha256, tuple(entries),
                   Path(cache_dir) if cache_dir is not None else None)

    def files_sha256(self) -> str:
        """Fingerprint of the reference image files (item id, path, size, mtime)."""
        files = hashlib.sha256()
        for item_id, p in self.entries:
            st = p.stat()
            files.update(f"{item_id}\0{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return files.hexdigest()

    def statistics(self, name: str, features: dict[str, Any],
                   statistics_of: StatisticsOf) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """``(mu, sigma, info)`` of the reference images: from the cache when it was written for these files and
        this feature protocol (``features``), else computed with ``statistics_of`` (and cached)."""
        files_sha = self.files_sha256()
        proto_hash = protocol_sha256(features)
        info: dict[str, Any] = {"source": self.source, "suite": self.suite,
                                "suite_version": self.version, "suite_sha256": self.sha256,
                                "feature_protocol_sha256": proto_hash}
        cache = None
        if self.cache_dir is not None:
            cache = self.cache_dir / "fid-reference" / f"{name}-{self.sha256[:16]}-{proto_hash[:16]}.npz"
            info["cache"] = str(cache)
            cached = read_cache(cache, name)
            if cached is not None:
                mu, sigma, extra = cached
                if extra.get("protocol", {}).get("files_sha256") == files_sha:
                    logger.info("%s: reference statistics from cache %s", name, cache)
                    return mu, sigma, {**info, "n": extra.get("n"), "cached": True}
                logger.info("%s: reference images changed since %s was written; recomputing", name, cache)
        logger.info("%s: computing reference statistics from %d images of suite %r", name,
                    len(self.entries), self.suite)
        mu, sigma, _ = statistics_of(read_reference_image(p, item_id, name) for item_id, p in self.entries)
        n = len(self.entries)
        if cache is not None:
            F.save_gaussian_npz(cache, mu, sigma, n=n, protocol={
                "features": features, "suite_sha256": self.sha256, "files_sha256": files_sha})
        return mu, sigma, {**info, "n": n, "cached": False}


def read_cache(cache: Path, name: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]] | None:
    """``(mu, sigma, extra)`` of a reference cache file; None when there is none or it is unreadable (logged)."""
    if not cache.is_file():
        return None
    try:
        return F.load_gaussian_npz(cache)
    except LongbenchError as e:
        logger.warning("%s: ignoring unreadable reference cache (%s)", name, e)
        return None


class ModelReference:
    """The reference set a model draws: its images of every item of ``suite``, each with the seed
    ``request_seed(seed, "<suite name>/reference", item id)`` (a stream apart from the run's own images, so a
    renderer compared with its own reference is not compared with the very same pictures). The model is built
    when the metric is (a bad spec fails before any generation); images are made on first use, ``chunk`` at a
    time, and only the statistics are kept (cached as for :class:`SuiteReference`)."""

    chunk = 64

    def __init__(self, suite: Any, spec: str, seed: int, cache_dir: str | Path | None, name: str):
        from longbench.models.base import build_model

        if suite is None:
            raise LongbenchError(f"{name}: ref_model={spec} needs a suite")
        self.suite, self.version, self.sha256 = suite.name, suite.version, suite.sha256
        self.items = tuple(suite.items)
        self.spec, self.seed = spec, int(seed)
        self.model = build_model(spec)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.source = f"images of model {spec}"

    def _images(self) -> Iterable[Any]:
        from longbench.models.base import Request, request_seed

        stream = f"{self.suite}/reference"
        requests = [Request(it, request_seed(self.seed, stream, it.id)) for it in self.items]
        self.model.prepare(requests)
        for i in range(0, len(requests), self.chunk):
            yield from self.model.generate(requests[i:i + self.chunk])

    def statistics(self, name: str, features: dict[str, Any],
                   statistics_of: StatisticsOf) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """``(mu, sigma, info)`` of the model's images: from the cache when it was written for this suite, model,
        seed and feature protocol, else computed (and cached)."""
        model = self.model.identity()
        key = protocol_sha256({"features": features, "model": model, "seed": self.seed})
        info: dict[str, Any] = {"source": self.source, "model": model, "seed": self.seed,
                                "seed_stream": f"{self.suite}/reference", "suite": self.suite,
                                "suite_version": self.version, "suite_sha256": self.sha256,
                                "feature_protocol_sha256": protocol_sha256(features)}
        cache = None
        if self.cache_dir is not None:
            cache = self.cache_dir / "fid-reference" / f"{name}-model-{self.sha256[:16]}-{key[:16]}.npz"
            info["cache"] = str(cache)
            cached = read_cache(cache, name)
            if cached is not None:
                mu, sigma, extra = cached
                logger.info("%s: reference statistics from cache %s", name, cache)
                return mu, sigma, {**info, "n": extra.get("n"), "cached": True}
        logger.info("%s: computing reference statistics from %d images of %s", name, len(self.items), self.spec)
        mu, sigma, n = statistics_of(self._images())
        if cache is not None:
            F.save_gaussian_npz(cache, mu, sigma, n=n, protocol={
                "features": features, "model": model, "seed": self.seed, "suite_sha256": self.sha256})
        return mu, sigma, {**info, "n": n, "cached": False}


def read_reference_image(path: Path, item_id: str, name: str) -> Any:
    """A reference image read with longbench's guards; errors name the metric and the item."""
    from longbench.images import open_image

    return open_image(path, f"{name}: reference image of item {item_id!r} ({path})")


def protocol_sha256(obj: Any) -> str:
    """sha256 of a feature protocol (canonical JSON): the cache key's protocol part."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
