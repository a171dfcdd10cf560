"""Denscore and Denscore-O: segment-level preference scores of a CLIP-style model (DESIGN §4).

How a prompt is scored: split it into sentence segments (``longalign`` splitter by default, for parity with
the released metric; ``default`` selectable), tokenize each segment padded/truncated to 77 tokens with the
processor's tokenizer, embed and L2-normalise each segment; the prompt vector ``c`` is the *mean* of its
segment vectors (not re-normalised). The image is cropped to 504/512 of each side (centred), resized to the
model's input size with torchvision's bilinear antialiased tensor resize, CLIP-normalised, embedded and
L2-normalised to ``x``.

Our reading of the paper's two columns. The LongAlign paper decomposes the score ``x·c`` along the unit mean
text direction ``V``: ``x·c = x·c⊥ + η x·V`` with ``η = c·V`` and ``c⊥ = c − ηV``. The second term is
nearly constant across prompts (text-irrelevant) and dominates the raw score, so the paper reports two
numbers. We report

* ``denscore``   = 100·x·c⊥ — the text-relevant part, the alignment signal; and
* ``denscore-o`` = 100·x·c  — the original, undecomposed score;

with ``V`` fixed over the *whole suite* (the unit mean of all the suite's prompt vectors), so a score does not
depend on which other prompts share a batch or whether ``--limit`` was used; the hash of ``V`` goes into the
protocol. The public :func:`score` is the reward the trainer differentiates: ``x·(c − (1−ω)(c·V)V)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from longbench.errors import LongbenchError
from longbench.images import ImageBatch, as_image_batch
from longbench.metrics.base import MetricContext, PerSampleMetric, Scores
from longbench.metrics.clip_models import ClipScorer, load_clip_scorer
from longbench.metrics.functional import denscore as F
from longbench.metrics.options import DENSCORE_PROCESSOR, DenscoreOptions
from longbench.options import option_values
from longbench.text.splitters import check_splitter

logger = logging.getLogger(__name__)

DEFAULT_MODEL = DenscoreOptions.model
DEFAULT_PROCESSOR = DENSCORE_PROCESSOR


def split_prompts(prompts: Sequence[str], scorer: ClipScorer, splitter: str,
                  cache: dict[str, list[str]] | None = None) -> tuple[list[str], list[int]]:
    """Segments of all prompts and the owning prompt of each; ``default`` fits segments to the context.

    ``cache`` (prompt → segments) spares re-splitting prompts seen before.
    """
    from longbench.text.splitters import split_default, split_longalign

    check_splitter(splitter)
    budget = scorer.context_length - 2
    if splitter == "default":  # one batched token count for the sentences the splitter will measure
        scorer.prime_token_counts([s for p in prompts if cache is None or p not in cache for s in split_default(p)])
    segments, owners = [], []
    for i, p in enumerate(prompts):
        segs = cache.get(p) if cache is not None else None
        if segs is None:
            segs = split_longalign(p) if splitter == "longalign" else split_default(p, scorer.count_tokens, budget)
            if cache is not None:
                cache[p] = segs
        segments.extend(segs)
        owners.extend([i] * len(segs))
    return segments, owners


def _prompt_vectors(prompts: Sequence[str], scorer: ClipScorer, splitter: str,
                    cache: dict[str, list[str]] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    segments, owners = split_prompts(prompts, scorer, splitter, cache)
    seg = scorer.normalized_text_features(segments)
    return F.prompt_vectors(seg, owners, len(prompts)), seg, owners


def _image_vectors(images: torch.Tensor, scorer: ClipScorer) -> torch.Tensor:
    """Normalised image vectors of a float (B,3,H,W) batch in [0,1] (differentiable) or, for evaluation, of a
    uint8 batch (:func:`~longbench.metrics.functional.denscore.eval_preprocess`: the same pixels)."""
    kw = {"image_size": scorer.image_size, "mean": scorer.image_mean, "std": scorer.image_std}
    pixels = F.eval_preprocess(images, **kw) if images.dtype == torch.uint8 else F.reward_preprocess(images, **kw)
    return F.l2_normalize(scorer.image_features(pixels).float())


def score(images: torch.Tensor, prompts: Sequence[str], model: Any, processor: Any, *, omega: float = 1.0,
          direction: torch.Tensor | None = None, splitter: str = "longalign") -> torch.Tensor:
    """Denscore of each image against its prompt (not ×100), differentiable in ``images``.

    Args:
        images: float tensor (B,3,H,W) in [0,1].
        prompts: B prompts.
        model: a transformers CLIP-style model, an open_clip model, or a :class:`ClipScorer`.
        processor: its processor or tokenizer (ignored for a :class:`ClipScorer`).
        omega: weight of the text-irrelevant component; 1 is the plain score.
        direction: unit mean text direction V (D,); required when ``omega != 1``.
        splitter: ``"longalign"`` (reference behaviour) or ``"default"``.

    Returns:
        (B,) tensor: ``x·c`` without ``direction``, else ``x·(c − (1−ω)(c·V)V)``. Gradients flow to ``images``;
        the text side carries none.

    Raises:
        LongbenchError: malformed or non-finite images, a prompt count mismatch, ``omega != 1`` without
            a direction.
    """
    F.check_images(images)
    prompts = list(prompts)
    if len(prompts) != images.shape[0]:
        raise LongbenchError(f"{images.shape[0]} images but {len(prompts)} prompts")
    if direction is None and omega != 1.0:
        raise LongbenchError("omega != 1 needs a direction (the unit mean text vector V)")
    scorer = ClipScorer.wrap(model, processor)
    c, _, _ = _prompt_vectors(prompts, scorer, splitter)
    if direction is not None:
        c = F.reweight(c, F.unit_direction(direction, c.shape[-1]), omega)
    x = _image_vectors(images, scorer)
    return (x * c.to(x)).sum(dim=-1)


def suite_direction(prompts: Sequence[str], model: Any, processor: Any = None, *, splitter: str = "longalign",
                    cache: dict[str, list[str]] | None = None) -> tuple[torch.Tensor, str]:
    """The unit mean of the prompt vectors of ``prompts`` (a whole suite) and its hash: ``(V, hash)``."""
    scorer = ClipScorer.wrap(model, processor)
    prompts = list(prompts)
    if not prompts:
        raise LongbenchError("cannot compute the suite direction of zero prompts")
    vecs = []
    for i in range(0, len(prompts), 256):
        vecs.append(_prompt_vectors(prompts[i:i + 256], scorer, splitter, cache)[0].cpu())
    v = F.mean_direction(torch.cat(vecs))
    return v, F.direction_hash(v)


def _prompt_of(item: Any) -> str:
    return item if isinstance(item, str) else item.prompt


class Denscore(PerSampleMetric):
    """``denscore`` (100·x·c⊥) and ``denscore-o`` (100·x·c) with V fixed over the suite; per-segment scores
    (100·x·segment vector) are kept for ``samples.jsonl``.

    Args:
        model: spec (HF id, directory, ``open_clip:ARCH:PATH``) or a loaded model / :class:`ClipScorer`.
        processor: processor spec or object (defaults to the LAION CLIP-H processor for the default model).
        direction: V, if already known.
        direction_prompts: prompts V is computed over (the whole suite), if ``direction`` is not given.
        direction_source: label of where V came from (recorded in the protocol).
        splitter: ``"longalign"`` (default; parity with the released metric) or ``"default"``.
        device: torch device for loading a spec.
        dtype: model dtype for loading a spec.
        tokenizer_fallback: use the bundled CLIP tokenizer when the processor is not available offline.
        trust_remote_code: passed to transformers when loading a spec.
        zoo: the zoo directory of a ``mini:`` model spec (default: the shipped weights).
    """

    name: ClassVar[str] = "denscore"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {"denscore": True, "denscore-o": True}
    has_segments: ClassVar[bool] = True
    higher_is_better = True
    Options = DenscoreOptions

    def __init__(self, model: Any = DEFAULT_MODEL, processor: Any = None, *, direction: torch.Tensor | None = None,
                 direction_prompts: Sequence[str] | None = None, direction_source: str = "given",
                 splitter: str = DenscoreOptions.splitter, device: str = "cpu", dtype: str = "float32",
                 tokenizer_fallback: bool = False, trust_remote_code: bool = False, zoo: str | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        check_splitter(splitter, "denscore")
        if isinstance(model, str):
            if processor is None and model == DEFAULT_MODEL:
                processor = DEFAULT_PROCESSOR
            if processor is not None and not isinstance(processor, str):
                raise LongbenchError("denscore: give the processor as a spec when the model is a spec")
            self.scorer = load_clip_scorer(model, processor, device=device, dtype=dtype,
                                           tokenizer_fallback=tokenizer_fallback,
                                           trust_remote_code=trust_remote_code, what="denscore model", zoo=zoo)
        else:
            self.scorer = ClipScorer.wrap(model, processor)
        self.splitter = splitter
        self._split_cache: dict[str, list[str]] = {}
        if direction is not None:
            v = F.unit_direction(direction)
        elif direction_prompts is not None:
            v, _ = suite_direction(direction_prompts, self.scorer, splitter=splitter, cache=self._split_cache)
            direction_source = direction_source if direction_source != "given" else "prompts"
        else:
            raise LongbenchError("denscore needs the suite direction V: pass direction= or direction_prompts= "
                                 "(the whole suite's prompts)")
        self.n_direction_prompts = len(direction_prompts) if direction is None and direction_prompts else None
        self.register_buffer("direction", v, persistent=False)
        self.direction_hash = F.direction_hash(v)
        self.direction_source = direction_source

    @classmethod
    def from_context(cls, ctx: MetricContext, options: DenscoreOptions) -> Denscore:
        """V over every prompt of ``ctx.suite`` (not only the ``--limit`` subset that is scored)."""
        suite = ctx.suite
        if suite is None:
            raise LongbenchError("denscore needs a suite to fix the direction V")
        source = f"suite:{suite.name}@{suite.version}:{suite.sha256[:12]}"
        return cls(direction_prompts=[it.prompt for it in suite.items], direction_source=source,
                   **{**option_values(options), "device": options.device or ctx.device}, **ctx.metric_kwargs)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        """For ``longbench doctor``: whether the default weights resolve offline."""
        from longbench.metrics.weights_status import denscore

        return denscore()

    # ------------------------------------------------------------------ scoring
    @torch.inference_mode()
    def score(self, images: ImageBatch | Sequence[Any], items: Sequence[Any]) -> Scores:
        if len(images) != len(items):
            raise LongbenchError(f"denscore: {len(images)} images but {len(items)} items")
        batch = as_image_batch(images, device=self.scorer.device, where="denscore image")
        # images first: on a GPU their forwards run while the CPU splits and tokenizes the prompts
        parts = [(idx, _image_vectors(group, self.scorer)) for idx, group in batch.groups()]
        segments, owners = split_prompts([_prompt_of(it) for it in items], self.scorer, self.splitter,
                                         self._split_cache)
        seg = self.scorer.normalized_text_features(segments)
        if len(parts) == 1:
            x = parts[0][1].to(seg)
        else:
            x = torch.zeros(len(images), seg.shape[-1], device=seg.device)
            for idx, feats in parts:
                x[idx] = feats.to(x)
        dense, dense_o, per_segment = F.denscore_scores(x, seg, owners, self.direction)
        counts = torch.bincount(torch.as_tensor(owners), minlength=len(images)).tolist()
        segments = [chunk.tolist() for chunk in torch.split(per_segment.double().cpu(), counts)]
        return Scores({"denscore": dense.tolist(), "denscore-o": dense_o.tolist()}, segments)

    def protocol(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "model": self.scorer.describe(),
            "splitter": self.splitter, "segment_tokens": f"padded/truncated to {self.scorer.context_length}",
            "crop": "center, 504/512 of each side", "resize": f"bilinear antialias=True to {self.scorer.image_size}",
            "direction_hash": self.direction_hash, "direction_source": self.direction_source,
            "direction_prompts": self.n_direction_prompts,
            "columns": {"denscore": "100 * x . (c - (c.V) V)", "denscore-o": "100 * x . c"},
        }
