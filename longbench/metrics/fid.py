"""``fid``: Fréchet distance between the features of generated images and reference statistics (the base
class is shared with ``fid-clip``, :mod:`longbench.metrics.fid_clip`).

Usable as a ``torchmetrics.Metric`` in a user's own loop::

    fid = FID(weights="weights-inception-2015-12-05-6726825d.pth", ref="coco_val.npz", by_bucket=False)
    for images in loader:
        fid.update(images)        # PIL images, uint8 / float [0,1] tensors or arrays
    fid.compute()                 # {"fid": ...}

Design:

* **Streaming sufficient statistics.** Per image only the float64 feature sum, outer-product sum and count are
  kept (torchmetrics states with ``dist_reduce_fx="sum"``, so processes sync by summing): memory is flat in
  the number of images. The number does not depend on how the caller batches: images are queued and the
  network always sees the same ``batch_size`` chunks in arrival order (float32 networks are not exactly
  batch-invariant, e.g. matmul blocking changes with the batch), so features and sums are bit-identical.
* **Per prompt-length bucket.** FID has no per-sample score, so the statistics are kept per length bucket
  (``<=77``, ``78-154``, ``155-240``, ``>240`` CLIP tokens of the item prompt); the overall statistics are
  their sum. In a run the buckets are the runner's (``MetricContext.lengths``, computed once per run, by
  item id); a metric built without them counts the prompts' tokens itself
  (:func:`~longbench.text.tokenizer.prompt_buckets`). One byte per image records its bucket, and
  :meth:`compute_groups` must be given exactly those labels. Every bucket is compared with the whole
  reference set. ``by_bucket=False`` keeps one set of statistics and needs no prompts.
* **Reference statistics** come from ``ref=PATH.npz`` (``mu``/``sigma``, the pytorch-fid / clean-fid format)
  or from the suite's reference images, computed once and cached (:mod:`longbench.metrics.fid_reference`).
* **Small sets.** At least 2 images are needed (else a LongbenchError). With fewer images than feature
  dimensions the covariance is singular; FID is still well defined and computed exactly (PSD square root,
  see :mod:`longbench.metrics.functional.fid`), but it is biased upward, so a warning is logged: compare
  only runs with the same number of images. A bucket with fewer than 2 images has no value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from longbench.errors import LongbenchError
from longbench.metrics.base import LongbenchMetric, MetricContext, cat_state
from longbench.metrics.fid_reference import ModelReference, Moments, SuiteReference, load_npz_reference
from longbench.metrics.functional import fid as F
from longbench.metrics.options import FIDOptions, FrechetOptions
from longbench.options import option_values
from longbench.text.tokenizer import BUCKET_LABELS, PromptLengths, prompt_buckets

logger = logging.getLogger(__name__)

STATISTICS = "float64 streaming sums (feature sum, outer-product sum, count); covariance with n-1"
TRACE_SQRT = ("both covariances full rank: sum sqrt eigvalsh(L^T S_ref L), L L^T = S (Cholesky), eigenvalues "
              "<= d*eps*max set to 0; otherwise nuclear norm of F^T F_ref with pivoted Cholesky factors "
              "(LAPACK dpstrf); FID clamped at 0")


class FrechetMetric(LongbenchMetric):
    """Shared machinery of ``fid`` and ``fid-clip`` over a feature extractor.

    Args:
        extractor: a module mapping a list of uint8 (3,H,W) tensors to float64 (B, d) features, with
            ``feature_dim`` and ``describe()``.
        ref: a ``.npz`` with ``mu``/``sigma`` to compare against (else call :meth:`use_suite_reference`,
            :meth:`set_reference` or :meth:`reference_from_images`).
        by_bucket: keep statistics per prompt-length bucket (``update`` then needs the items or prompts).
        batch_size: images per network forward.
        lengths: the run's prompt lengths and buckets by item id (the runner's); None: ``update`` counts
            the tokens of the prompts itself.
        kwargs: ``torchmetrics.Metric`` options (``sync_on_compute``, ``process_group``...).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    Options: ClassVar[type] = FrechetOptions

    def __init__(self, extractor: torch.nn.Module, *, ref: str | Path | None = None,
                 by_bucket: bool = FrechetOptions.by_bucket, batch_size: int = FrechetOptions.batch_size, lengths: PromptLengths | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if int(batch_size) < 1:
            raise LongbenchError(f"{self.name}: batch_size must be >= 1, got {batch_size}")
        self.extractor = extractor
        self.by_bucket = bool(by_bucket)
        self.batch_size = int(batch_size)
        d = int(extractor.feature_dim)
        k = len(BUCKET_LABELS) if self.by_bucket else 1
        for state, shape in (("feature_sum", (k, d)), ("feature_outer", (k, d, d)), ("feature_count", (k,))):
            # torchmetrics keeps a deep copy of each default; a zero-stride view keeps that copy at 8 bytes
            # instead of doubling the (K, d, d) outer sums (reset() clones it into a dense tensor)
            self.add_state(state, torch.zeros((), dtype=torch.float64).expand(*shape), dist_reduce_fx="sum")
            setattr(self, state, torch.zeros(shape, dtype=torch.float64))
        self.add_state("sample_bucket", default=[], dist_reduce_fx="cat")
        self.lengths = lengths
        self._counter: Any = None  # TokenCounter, built on first bucketed update without ``lengths``
        self._pending: list[tuple[torch.Tensor, int]] = []  # queued uint8 images and bucket codes
        self._ref: dict[str, Any] | None = None  # {"mu", "sigma", "info"}
        self._ref_factor: torch.Tensor | None = None
        self._ref_suite: SuiteReference | ModelReference | None = None  # deferred (computed on first compute)
        self._warned_small = False
        if ref is not None and str(ref) != "":
            self.load_reference(ref)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_context(cls, ctx: MetricContext, options: FrechetOptions) -> FrechetMetric:
        """Build for a run; without ``ref`` the suite's reference images are used."""
        opts = option_values(options)
        ref_model = opts.pop("ref_model", None)
        if ref_model and opts.get("ref"):
            raise LongbenchError(f"{cls.name}: ref and ref_model both given; pass one reference")
        if not opts.get("ref") and ctx.suite is None:
            raise LongbenchError(f"{cls.name}: no reference: pass ref=PATH.npz or a suite with reference images")
        metric = cls(**opts, lengths=ctx.lengths, **ctx.metric_kwargs)
        if ref_model:
            metric.use_model_reference(ctx.suite, ref_model, ctx.seed, ctx.cache_dir)
        elif not opts.get("ref"):
            metric.use_suite_reference(ctx.suite, ctx.cache_dir)
        return metric

    # ------------------------------------------------------------------ update
    def update(self, images: Sequence[Any], items: Sequence[Any] | None = None) -> None:
        """Add a batch of images (PIL, uint8 / float-in-[0,1] tensors or arrays) and their items or prompts.

        Images are queued and run through the network ``batch_size`` at a time in arrival order, so the
        batches the network sees, and therefore the features, do not depend on how the caller batches.
        """
        from longbench.images import to_uint8_tensors

        n = len(images)
        if items is not None and len(items) != n:
            raise LongbenchError(f"{self.name}: {n} images but {len(items)} items")
        buckets = self._buckets_of(items, n)
        tensors = []
        for i, img in enumerate(images):  # convert (and validate) the whole batch before queueing any of it
            where = f"{self.name} image {i}" + (f" (item {_item_id(items[i])})" if items is not None else "")
            tensors.extend(to_uint8_tensors([img], where=where))
        self._pending.extend(zip(tensors, buckets))
        while len(self._pending) >= self.batch_size:
            self._run_pending(self.batch_size)

    def _run_pending(self, count: int) -> None:
        chunk, self._pending = self._pending[:count], self._pending[count:]
        self._accumulate(self.extractor([t for t, _ in chunk]), [b for _, b in chunk])

    def flush(self) -> None:
        """Run the queued images (fewer than ``batch_size``) through the network; called before any read."""
        while self._pending:
            self._run_pending(self.batch_size)

    def sync(self, *args: Any, **kwargs: Any) -> None:
        """Flush the queue, then torchmetrics' sync (called before ``compute`` and ``compute_groups``)."""
        self.flush()
        super().sync(*args, **kwargs)

    def merge_state(self, incoming_state: Any) -> None:
        self.flush()
        if isinstance(incoming_state, FrechetMetric):
            incoming_state.flush()
        super().merge_state(incoming_state)

    def reset(self) -> None:
        super().reset()
        self._pending = []

    def forward(self, *args: Any, **kwargs: Any) -> None:
        """Accumulate only: a per-batch FID is meaningless (use ``update`` and ``compute``)."""
        self.update(*args, **kwargs)

    def update_features(self, features: torch.Tensor, buckets: Sequence[str] | None = None) -> None:
        """Add precomputed features (B, d) directly; ``buckets`` gives each row's length-bucket label."""
        if features.ndim != 2 or features.shape[1] != self.feature_sum.shape[1]:
            raise LongbenchError(f"{self.name}: expected features (B, {self.feature_sum.shape[1]}), "
                                 f"got {tuple(features.shape)}")
        self.flush()
        self._computed = None  # what torchmetrics' update wrapper does
        self._update_count += 1
        if not self.by_bucket:
            codes = [0] * features.shape[0]
        elif buckets is None or len(buckets) != features.shape[0]:
            raise LongbenchError(f"{self.name}: by_bucket needs one bucket label per feature row (or by_bucket=False)")
        else:
            unknown = sorted(set(buckets) - set(BUCKET_LABELS))
            if unknown:
                raise LongbenchError(f"{self.name}: unknown bucket label(s) {unknown} (known: {list(BUCKET_LABELS)})")
            codes = [BUCKET_LABELS.index(b) for b in buckets]
        self._accumulate(features, codes)

    def _accumulate(self, features: torch.Tensor, codes: Sequence[int]) -> None:
        feats = features.to(device=self.feature_sum.device, dtype=torch.float64)
        if not torch.isfinite(feats).all():
            bad = (~torch.isfinite(feats)).any(dim=1).nonzero().flatten().tolist()
            raise LongbenchError(f"{self.name}: non-finite features for image(s) {bad[:5]} of the batch")
        code_t = torch.as_tensor(list(codes), dtype=torch.long)
        for k in code_t.unique().tolist():
            rows = feats[(code_t == k).to(feats.device)]
            self.feature_sum[k] += rows.sum(dim=0)
            self.feature_outer[k].addmm_(rows.T, rows)  # in place: no (d, d) temporary
            self.feature_count[k] += rows.shape[0]
        self.sample_bucket.append(code_t.to(torch.int8))

    def _buckets_of(self, items: Sequence[Any] | None, n: int) -> list[int]:
        if not self.by_bucket:
            return [0] * n
        if items is None:
            raise LongbenchError(f"{self.name}: per-length-bucket statistics need the items (or prompts) with the "
                                 "images; pass them to update() or build the metric with by_bucket=False")
        if self.lengths is not None:  # the run's buckets, by item id
            return [BUCKET_LABELS.index(self.lengths.bucket(_id_of(it, self.name))) for it in items]
        if self._counter is None:
            from longbench.text.tokenizer import TokenCounter

            self._counter = TokenCounter()
        pairs = prompt_buckets([_prompt_of(it, self.name) for it in items], self._counter)
        return [BUCKET_LABELS.index(bucket) for _, bucket in pairs]

    # ------------------------------------------------------------------ compute
    def compute(self) -> dict[str, float]:
        """``{name: FID}`` over all images."""
        mu, sigma = F.gaussian_from_moments(self.feature_sum.sum(0), self.feature_outer.sum(0),
                                            float(self.feature_count.sum()))
        return {self.name: self._distance(mu, sigma, int(self.feature_count.sum()))}

    def compute_groups(self, groups: Sequence[str]) -> dict[str, dict[str, float]]:
        """FID per prompt-length bucket. ``groups`` gives a label per image in update order and must be the
        buckets the images were added with (in a run: the runner's, which it also gave to ``update``).
        Buckets with fewer than 2 images are left out.

        Raises:
            LongbenchError: ``groups`` are not the buckets of the images.
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self._to_sync,
                               should_unsync=self._should_unsync):
            codes = cat_state(self.sample_bucket, torch.zeros(0, dtype=torch.int8)).flatten().long().cpu()
            counts = self.feature_count.tolist()
            if len(groups) != codes.numel():
                raise LongbenchError(f"{self.name}: {len(groups)} group labels for {codes.numel()} images")
            out: dict[str, dict[str, float]] = {}
            if not self.by_bucket:  # one set of statistics: a value only when every image is in one group
                if len(set(groups)) > 1:
                    logger.info("%s: built with by_bucket=False; no per-group values", self.name)
                    return out
            elif list(groups) != [BUCKET_LABELS[k] for k in codes.tolist()]:
                raise LongbenchError(f"{self.name}: per-group values exist only for the prompt-length buckets "
                                     f"the images were added with ({', '.join(BUCKET_LABELS)})")
            for label in dict.fromkeys(groups):
                k = BUCKET_LABELS.index(label) if self.by_bucket else 0
                if counts[k] < 2:
                    logger.info("%s: group %r has %d image(s); FID needs 2", self.name, label, int(counts[k]))
                    continue
                mu, sigma = F.gaussian_from_moments(self.feature_sum[k], self.feature_outer[k], counts[k])
                out[label] = {self.name: self._distance(mu, sigma, int(counts[k]), group=label)}
            return out

    def _distance(self, mu: torch.Tensor, sigma: torch.Tensor, n: int, group: str | None = None) -> float:
        ref = self.reference()
        d = mu.shape[0]
        if n <= d and group is not None:  # a small length bucket of a run is routine: not worth a warning
            logger.info("%s of group %r from %d images, fewer than the %d feature dimensions: biased upward",
                        self.name, group, n, d)
        elif n <= d and not self._warned_small:
            self._warned_small = True
            logger.warning("%s from %d images, fewer than the %d feature dimensions: the covariance is singular "
                           "and FID is biased upward; compare only runs with the same number of images",
                           self.name, n, d)
        if self._ref_factor is None:
            self._ref_factor = F.psd_factor(ref["sigma"].to(mu.device))
        return F.frechet_distance(mu, sigma, ref["mu"].to(mu.device), ref["sigma"].to(mu.device),
                                  factor2=self._ref_factor.to(mu.device))

    # ------------------------------------------------------------------ reference statistics
    def set_reference(self, mu: torch.Tensor, sigma: torch.Tensor, info: dict[str, Any] | None = None) -> None:
        """Compare against N(mu, sigma) (float64; shapes (d,) and (d, d))."""
        mu = torch.as_tensor(mu, dtype=torch.float64)
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        F.check_gaussian(mu, sigma, f"{self.name} reference statistics")
        d = self.feature_sum.shape[1]
        if mu.shape[0] != d:
            raise LongbenchError(f"{self.name}: reference statistics have dimension {mu.shape[0]}, the features {d}")
        self._ref = {"mu": mu, "sigma": sigma, "info": dict(info or {"source": "given"})}
        self._ref_factor = None
        self._ref_suite = None

    def load_reference(self, path: str | Path) -> None:
        """Use ``mu``/``sigma`` from a pytorch-fid / clean-fid ``.npz``."""
        mu, sigma, info = load_npz_reference(path, self.feature_protocol(), self.name)
        self.set_reference(mu, sigma, info)

    def save_reference(self, path: str | Path) -> None:
        """Write the reference statistics as ``.npz`` (pytorch-fid format + ``n`` and this metric's feature
        protocol), to be reused with ``ref=PATH``."""
        ref = self.reference()
        F.save_gaussian_npz(path, ref["mu"], ref["sigma"], n=ref["info"].get("n"),
                            protocol={"features": self.feature_protocol()})

    def reference_from_images(self, images: Iterable[Any]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Compute and use the statistics of ``images`` (any iterable; processed ``batch_size`` at a time)."""
        mu, sigma, n = self._statistics_of(images)
        self.set_reference(mu, sigma, {"source": "images", "n": n})
        return mu, sigma, n

    def use_suite_reference(self, suite: Any, cache_dir: str | Path | None = None) -> None:
        """Compare against the suite's reference images (checked now, computed or read from cache on first use).

        Raises:
            LongbenchError: the suite has no reference images, or one is missing.
        """
        spec = SuiteReference.of(suite, cache_dir, self.name)
        self._ref = None
        self._ref_factor = None
        self._ref_suite = spec

    def use_model_reference(self, suite: Any, spec: str, seed: int = 0, cache_dir: str | Path | None = None) -> None:
        """Compare against the images model ``spec`` draws for every item of ``suite`` (e.g. ``mini:oracle``;
        :class:`~longbench.metrics.fid_reference.ModelReference`), made and cached on first use.

        Raises:
            LongbenchError: a bad model spec (checked now).
        """
        self._ref = None
        self._ref_factor = None
        self._ref_suite = ModelReference(suite, spec, seed, cache_dir, self.name)

    def reference(self) -> dict[str, Any]:
        """The reference statistics ``{"mu", "sigma", "info"}``, computing/reading suite statistics if deferred.

        Raises:
            LongbenchError: no reference was given.
        """
        if self._ref is None and self._ref_suite is not None:
            mu, sigma, info = self._ref_suite.statistics(self.name, self.feature_protocol(), self._statistics_of)
            self.set_reference(mu, sigma, info)
        if self._ref is None:
            raise LongbenchError(f"{self.name}: no reference statistics; pass ref=PATH.npz (pytorch-fid / clean-fid "
                                 "mu/sigma), or use a suite with reference images")
        return self._ref

    def _statistics_of(self, images: Iterable[Any]) -> tuple[torch.Tensor, torch.Tensor, int]:
        acc = Moments(self.feature_sum.shape[1], self.feature_sum.device)
        batch: list[Any] = []
        for img in images:
            batch.append(img)
            if len(batch) == self.batch_size:
                acc.add(self._features_of(batch, "reference image"))
                batch = []
        if batch:
            acc.add(self._features_of(batch, "reference image"))
        mu, sigma = acc.gaussian(f"{self.name} reference")
        return mu, sigma, acc.n

    def _features_of(self, images: Sequence[Any], what: str) -> torch.Tensor:
        from longbench.images import to_uint8_tensors

        return self.extractor(to_uint8_tensors(images, where=f"{self.name} {what}"))

    # ------------------------------------------------------------------ protocol
    def feature_protocol(self) -> dict[str, Any]:
        """What defines the features and statistics (the reference cache key)."""
        return {"metric": self.name, "version": self.version, **self.extractor.describe(), "statistics": STATISTICS}

    def protocol(self) -> dict[str, Any]:
        ref: dict[str, Any]
        if self._ref is not None:
            ref = dict(self._ref["info"])
        elif self._ref_suite is not None:
            ref = {"source": f"{self._ref_suite.source} (not yet computed)", "suite_sha256": self._ref_suite.sha256}
        else:
            ref = {"source": "none"}
        return {
            "name": self.name,
            "version": self.version,
            **self.extractor.describe(),
            "statistics": STATISTICS,
            "trace_sqrt": TRACE_SQRT,
            "by_bucket": self.by_bucket,
            "buckets": "CLIP tokens (with start/end) of the item prompt; each bucket vs the whole reference"
            if self.by_bucket else None,
            "n": int(self.feature_count.sum()),
            "reference": ref,
        }


class FID(FrechetMetric):
    """FID on the pytorch-fid / torch-fidelity Inception-v3 (2048-d pool features).

    Args:
        weights: ``weights-inception-2015-12-05-6726825d.pth`` (a file or a directory holding it); default:
            ``torch.hub.get_dir()/checkpoints/``, where torch-fidelity and torchmetrics keep it.
        resize: ``"tf1-bilinear"`` (default; torch-fidelity / pytorch-fid compatible, no antialias) or
            ``"bilinear-antialias"`` (torchmetrics' default).
        channels_last: run the network in channels-last memory (faster on CPUs; the features move at float
            rounding, so it is part of the feature protocol and of the reference-statistics cache key).
        ref, by_bucket, batch_size, kwargs: see :class:`FrechetMetric`.
    """

    name = "fid"
    version = "1"
    columns: ClassVar[dict[str, bool]] = {"fid": False}
    Options = FIDOptions

    def __init__(self, weights: str | Path | None = None, *, resize: str = FIDOptions.resize,
                 channels_last: bool = FIDOptions.channels_last, **kwargs: Any):
        from longbench.metrics.fid_features import InceptionFeatures

        super().__init__(InceptionFeatures(weights, resize=resize, channels_last=channels_last), **kwargs)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        """For ``longbench doctor``: whether the Inception weights are in the torch hub cache."""
        from longbench.metrics.weights_status import fid

        return fid()


# ---------------------------------------------------------------------- helpers
def _prompt_of(item: Any, name: str) -> str:
    if isinstance(item, str):
        return item
    prompt = item.get("prompt") if isinstance(item, dict) else getattr(item, "prompt", None)
    if not isinstance(prompt, str):
        raise LongbenchError(f"{name}: item {_item_id(item)} has no prompt (needed for its length bucket)")
    return prompt


def _id_of(item: Any, name: str) -> str:
    ident = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
    if not isinstance(ident, str):
        raise LongbenchError(f"{name}: item {_item_id(item)} has no id (the run's length buckets are by item id)")
    return ident


def _item_id(item: Any) -> str:
    if isinstance(item, str):
        return repr(item[:40])
    ident = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
    return repr(ident) if ident is not None else type(item).__name__

