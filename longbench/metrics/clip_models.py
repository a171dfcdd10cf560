"""One loader and one wrapper for the CLIP-style scorers used by the metrics.

Specs:

* a Hugging Face id or a local directory (``luping-liu/Denscore``, ``./tiny-clip``): loaded with transformers
  ``AutoModel`` (``local_files_only``) through :func:`longbench.weights.resolve`; the processor (tokenizer and
  image preprocessing) may come from a different id or directory, as for Denscore, whose repository has no
  tokenizer and is used with the ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` processor;
* ``open_clip:ARCH:PRETRAINED_PATH``: an open_clip architecture with a local checkpoint file; its tokenizer is
  open_clip's bundled one.

:class:`ClipScorer` hides the differences: ``image_features(pixels)`` works whether transformers'
``get_image_features`` returns a tensor (transformers 4) or an output object (transformers 5, whose
``BaseModelOutputWithPooling.pooler_output`` holds the projected features), and ``text_features(texts)`` pads
and truncates to the context length and keeps an in-memory cache per unique text, so repeated segments cost
one text-tower forward per scorer instance.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from longbench.devices import device_dtype
from longbench.errors import LongbenchError, MissingWeightsError
from longbench.images import ImageBatch, as_image_batch

# the image helpers live in longbench.images; these names stay importable from here
__all__ = ["ClipScorer", "load_clip_scorer", "open_clip_strict"]

logger = logging.getLogger(__name__)

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_VOCAB_SIZE = 49408


class ClipScorer(nn.Module):
    """A CLIP-style model with its tokenizer and image preprocessing constants.

    Args:
        model: a transformers model with ``get_image_features``/``get_text_features`` or an open_clip model
            with ``encode_image``/``encode_text``.
        tokenizer: a transformers tokenizer (``kind="transformers"``) or an open_clip tokenizer.
        kind: ``"transformers"`` or ``"open_clip"``.
        image_size: side of the square input the image tower expects.
        image_mean: per-channel normalisation mean.
        image_std: per-channel normalisation std.
        image_processor: the transformers image processor (standard CLIP preprocessing), if any.
        context_length: text positions (77 for CLIP).
        identity: what defines the weights (specs, fingerprints), copied into metric protocols.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, *, kind: str, image_size: int,
                 image_mean: Sequence[float] = OPENAI_CLIP_MEAN, image_std: Sequence[float] = OPENAI_CLIP_STD,
                 image_processor: Any = None, context_length: int = 77, identity: dict[str, Any] | None = None):
        super().__init__()
        if kind not in ("transformers", "open_clip"):
            raise LongbenchError(f"unknown CLIP model kind {kind!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.kind = kind
        self.image_size = int(image_size)
        self.image_mean = tuple(float(m) for m in image_mean)
        self.image_std = tuple(float(s) for s in image_std)
        self.image_processor = image_processor
        self.context_length = int(context_length)
        self.identity = dict(identity or {})
        self._text_cache: dict[str, torch.Tensor] = {}
        self._count_cache: dict[str, int] = {}
        self._ids_cache: dict[str, list[int]] = {}  # token ids with start/end, from counting
        self.text_batch_size = 256
        # CLIP pools the end token under a causal mask, so padding after it changes nothing: pad to the
        # longest text of a batch (cheaper). Other architectures (e.g. last-token pooling) get full padding.
        model_type = getattr(getattr(model, "config", None), "model_type", "")
        self.padding = "longest" if kind == "transformers" and model_type == "clip" else "max_length"

    # ------------------------------------------------------------------ construction
    @classmethod
    def wrap(cls, model: Any, processor: Any = None) -> ClipScorer:
        """Wrap an already loaded model and processor (a transformers processor, or a bare tokenizer).

        A :class:`ClipScorer` is returned unchanged; an open_clip model takes its tokenizer as ``processor``.
        """
        if isinstance(model, ClipScorer):
            return model
        if hasattr(model, "get_image_features") and hasattr(model, "get_text_features"):
            if processor is None:
                raise LongbenchError("a transformers CLIP model needs its processor or tokenizer")
            tokenizer = getattr(processor, "tokenizer", processor)
            image_processor = getattr(processor, "image_processor", None)
            mean = getattr(image_processor, "image_mean", None) or OPENAI_CLIP_MEAN
            std = getattr(image_processor, "image_std", None) or OPENAI_CLIP_STD
            cfg = getattr(model, "config", None)
            vision = getattr(cfg, "vision_config", None)
            text = getattr(cfg, "text_config", None)
            size = getattr(vision, "image_size", 224)
            ctx = min(getattr(text, "max_position_embeddings", 77), 77)
            return cls(model, tokenizer, kind="transformers", image_size=size, image_mean=mean, image_std=std,
                       image_processor=image_processor, context_length=ctx,
                       identity={"model_class": type(model).__name__})
        if hasattr(model, "encode_image") and hasattr(model, "encode_text"):
            if processor is None:
                raise LongbenchError("an open_clip model needs its tokenizer (open_clip.get_tokenizer(arch))")
            visual = getattr(model, "visual", model)
            cfg = getattr(visual, "preprocess_cfg", {}) or {}
            size = cfg.get("size", getattr(visual, "image_size", 224))
            size = size[0] if isinstance(size, (tuple, list)) else size
            mean = cfg.get("mean", getattr(visual, "image_mean", None) or OPENAI_CLIP_MEAN)
            std = cfg.get("std", getattr(visual, "image_std", None) or OPENAI_CLIP_STD)
            ctx = getattr(processor, "context_length", 77)
            return cls(model, processor, kind="open_clip", image_size=size, image_mean=mean, image_std=std,
                       context_length=ctx, identity={"model_class": type(model).__name__})
        raise LongbenchError(f"{type(model).__name__} is not a CLIP-style model (needs get_image_features/"
                             "get_text_features or encode_image/encode_text)")

    # ------------------------------------------------------------------ features
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Unnormalised image embeddings of preprocessed ``pixels`` (B,3,S,S); differentiable in ``pixels``."""
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        if self.kind == "open_clip":
            return self.model.encode_image(pixels)
        return _features(self.model.get_image_features(pixel_values=pixels))

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Token ids (and attention mask), truncated to ``context_length`` (end token kept) and padded."""
        if self.kind == "open_clip":
            return {"text": self.tokenizer(list(texts))}
        padded = self._padded(texts)  # texts already encoded when their tokens were counted
        if padded is not None:
            return padded
        enc = self.tokenizer(list(texts), padding=self.padding, truncation=True, max_length=self.context_length,
                             return_tensors="pt")
        return {k: enc[k] for k in ("input_ids", "attention_mask") if k in enc}

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Unnormalised text embeddings (no gradient), one forward for all ``texts``."""
        return self.token_features(self.tokenize(texts))

    @torch.no_grad()
    def token_features(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        """Unnormalised text embeddings (no gradient) of a :meth:`tokenize` output, one forward."""
        enc = {k: v.to(self.device) for k, v in enc.items()}
        if self.kind == "open_clip":
            return self.model.encode_text(enc["text"])
        return _features(self.model.get_text_features(**enc))

    def normalized_text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings (N,D) in float32, computed once per unique text and cached."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
        for i in range(0, len(missing), self.text_batch_size):
            chunk = missing[i:i + self.text_batch_size]
            feats = self.text_features(chunk).float()
            feats = feats / feats.norm(dim=-1, keepdim=True)
            for t, f in zip(chunk, feats):
                self._text_cache[t] = f
        if not texts:
            return torch.zeros(0, 0)
        return torch.stack([self._text_cache[t] for t in texts]).to(self.device)

    def clear_cache(self) -> None:
        self._text_cache.clear()
        self._count_cache.clear()
        self._ids_cache.clear()

    def count_tokens(self, text: str) -> int:
        """Content tokens of ``text`` (no start/end token), for fitting segments into the context; counted
        once per unique text (see :meth:`prime_token_counts`)."""
        n = self._count_cache.get(text)
        if n is None:
            self.prime_token_counts([text])
            n = self._count_cache[text]
        return n

    def prime_token_counts(self, texts: Sequence[str]) -> None:
        """Count the tokens of many texts in one tokenizer call (a transformers tokenizer encodes a list in
        one batched call, far cheaper than one call per sentence), so that the splitter's ``count_tokens``
        calls on them are lookups. A transformers tokenizer's ids (with start and end token) are kept too:
        :meth:`tokenize` pads them instead of encoding the same text a second time."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._count_cache))
        if not missing:
            return
        if self.kind == "open_clip":
            tok = self.tokenizer if hasattr(self.tokenizer, "encode") else self.tokenizer.tokenizer
            self._count_cache.update((t, len(tok.encode(t))) for t in missing)
            return
        ids = self.tokenizer(missing, truncation=False, verbose=False)["input_ids"]
        special = self.tokenizer.num_special_tokens_to_add(pair=False)
        for t, i in zip(missing, ids):
            self._count_cache[t] = len(i) - special
            self._ids_cache[t] = i

    def _padded(self, texts: Sequence[str]) -> dict[str, torch.Tensor] | None:
        """What the tokenizer call of :meth:`tokenize` returns, built from ids kept by
        :meth:`prime_token_counts` (None unless every text has them and fits the context)."""
        pad = getattr(self.tokenizer, "pad_token_id", None)
        seqs = [self._ids_cache.get(t) for t in texts]
        if pad is None or not seqs or any(q is None or len(q) > self.context_length for q in seqs):
            return None
        length = max(len(q) for q in seqs) if self.padding == "longest" else self.context_length
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        rows = [([pad] * (length - len(q)) + q) if left else (q + [pad] * (length - len(q))) for q in seqs]
        ones = [([0] * (length - len(q)) + [1] * len(q)) if left else ([1] * len(q) + [0] * (length - len(q)))
                for q in seqs]
        out = {"input_ids": torch.tensor(rows, dtype=torch.long)}
        if "attention_mask" in getattr(self.tokenizer, "model_input_names", ("input_ids", "attention_mask")):
            out["attention_mask"] = torch.tensor(ones, dtype=torch.long)
        return out

    # ------------------------------------------------------------------ preprocessing
    def standard_pixels(self, images: ImageBatch | Sequence[torch.Tensor]) -> torch.Tensor:
        """The model's usual evaluation preprocessing of an :class:`~longbench.images.ImageBatch` (or uint8
        (3,H,W) tensors): resize the shortest side, centre crop, rescale, normalise — on the model's device.

        With a transformers image processor of that standard CLIP form the same torchvision operations it
        runs are applied to whole same-size batches (channels-last uint8, the fast path of the antialiased
        resize; equal to the processor's output to float rounding on the CPU; on a GPU torchvision resizes
        uint8 through float and rounds, which can move a pixel by one level); any other processor is
        called as is (as torchmetrics' CLIPScore does). Without a processor (open_clip): bicubic
        antialiased resize with the model's constants.
        """
        batch = as_image_batch(images, device=self.device)
        spec = self._standard_spec()
        if spec is None:
            return self.image_processor(images=list(batch), return_tensors="pt")["pixel_values"]
        from torchvision.transforms.v2 import functional as tvf

        short, crop, interpolation, scale = spec
        groups = batch.groups()

        def prepare(group: torch.Tensor) -> torch.Tensor:
            x = tvf.resize(group, short, interpolation=interpolation, antialias=True)
            # contiguous float: the layout the model has always been given (same convolution path)
            return tvf.center_crop(x, list(crop)).to(torch.float32, memory_format=torch.contiguous_format).mul_(scale)

        if len(groups) == 1:  # one size: no scatter into a fresh tensor
            out = prepare(groups[0][1])
        else:
            out = torch.empty(len(batch), 3, *crop, device=batch.device)
            for idx, group in groups:
                out[idx] = prepare(group)
        return tvf.normalize(out, list(self.image_mean), list(self.image_std))

    def _standard_spec(self) -> tuple[int, tuple[int, int], Any, float] | None:
        """(shortest side, crop (h, w), interpolation, rescale factor) or None for a non-standard processor."""
        from torchvision.transforms.v2 import InterpolationMode

        ip = self.image_processor
        if ip is None:
            return self.image_size, (self.image_size, self.image_size), InterpolationMode.BICUBIC, 1 / 255
        try:
            modes = {2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC}
            if not (ip.do_resize and ip.do_center_crop and ip.do_rescale and ip.do_normalize) or getattr(
                    ip, "do_pad", False) or int(ip.resample) not in modes:
                return None
            short, crop = ip.size.get("shortest_edge"), (ip.crop_size.get("height"), ip.crop_size.get("width"))
            if short is None or None in crop:
                return None
            return int(short), (int(crop[0]), int(crop[1])), modes[int(ip.resample)], float(ip.rescale_factor)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    def describe(self) -> dict[str, Any]:
        """Protocol fields: identity plus preprocessing constants."""
        return {**self.identity, "kind": self.kind, "image_size": self.image_size,
                "image_mean": list(self.image_mean), "image_std": list(self.image_std),
                "context_length": self.context_length, "dtype": str(self.dtype).replace("torch.", "")}


def _features(out: Any) -> torch.Tensor:
    """Projected features from ``get_*_features``: a tensor (transformers 4) or an output object (5)."""
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    if isinstance(out, (tuple, list)) and len(out) > 1 and isinstance(out[1], torch.Tensor):
        return out[1]
    raise LongbenchError(f"cannot read projected features from {type(out).__name__}")


def load_clip_scorer(model: str, processor: str | None = None, *, device: str = "cpu", dtype: str = "float32",
                     tokenizer_fallback: bool = False, trust_remote_code: bool = False,
                     what: str = "CLIP model", zoo: str | None = None) -> ClipScorer:
    """Load a CLIP-style scorer offline.

    Args:
        model: a Hugging Face id, a local directory, ``open_clip:ARCH:PRETRAINED_PATH``, or a model of the
            miniature zoo (``mini:clip``, ``mini:denscore``; :mod:`longbench.mini.zoo`), whose processor is its
            own directory's (32-px images).
        processor: id or directory of the processor (tokenizer + image preprocessing); defaults to ``model``.
        device: torch device.
        dtype: ``float32`` / ``float16`` / ``bfloat16``.
        tokenizer_fallback: when the processor cannot be found offline and the model has the CLIP vocabulary,
            use longbench's bundled CLIP tokenizer with OpenAI CLIP image constants instead of failing.
        trust_remote_code: passed to transformers (only when the user asks).
        what: name used in error messages (e.g. ``"denscore model"``).
        zoo: the zoo directory of ``mini:`` specs (default: the shipped weights).

    Raises:
        MissingWeightsError: weights or processor not available offline.
        LongbenchError: the checkpoint lacks tensors of the model, or has others (never filled at random).
    """
    from longbench.weights import dir_fingerprint, from_pretrained_strict, resolve

    torch_dtype = device_dtype(dtype, device, f"{what} dtype")  # refused where the device cannot run it
    if model.startswith("open_clip:"):
        return _load_open_clip(model, device=device, dtype=torch_dtype, what=what)

    from transformers import AutoModel

    from longbench.mini.zoo import resolve_weights

    path = resolve(resolve_weights(model, zoo), what=what)
    try:  # strict: a partial checkpoint is an error, never a half-random model
        hf_model = from_pretrained_strict(AutoModel, path, what=what, local_files_only=True,
                                          trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise MissingWeightsError(f"{what} {model!r}: cannot load a transformers model from {path} "
                                  f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    hf_model = hf_model.to(device=device, dtype=torch_dtype)
    proc_spec = processor or model
    identity: dict[str, Any] = {"model": model, "model_fingerprint": dir_fingerprint(path), "processor": proc_spec}
    text_cfg = getattr(hf_model.config, "text_config", None)
    try:
        proc = _load_processor(resolve_weights(proc_spec, zoo), what=f"{what} processor",
                               trust_remote_code=trust_remote_code)
        _check_vocabulary(proc, getattr(text_cfg, "vocab_size", None), proc_spec, what)
        identity["tokenizer"] = "processor"
    except MissingWeightsError as e:
        if not tokenizer_fallback:
            raise MissingWeightsError(f"{e}; or pass the tokenizer_fallback option to use the bundled CLIP tokenizer "
                                      "(only for models with the CLIP vocabulary)") from None
        if getattr(text_cfg, "vocab_size", None) != CLIP_VOCAB_SIZE:
            raise MissingWeightsError(f"{e}; the bundled CLIP tokenizer cannot stand in: {model!r} has vocabulary "
                                      f"size {getattr(text_cfg, 'vocab_size', None)}, not {CLIP_VOCAB_SIZE}") from None
        from longbench.text.tokenizer import load_clip_tokenizer

        logger.warning("%s: processor %r not found offline; using the bundled CLIP tokenizer", what, proc_spec)
        proc = load_clip_tokenizer()
        identity["tokenizer"] = "longbench-clip-bpe"
    hf_model.eval().requires_grad_(False)
    scorer = ClipScorer.wrap(hf_model, proc)
    scorer.identity.update(identity)
    return scorer


def _check_vocabulary(processor: Any, model_vocab: int | None, spec: str, what: str) -> None:
    """A directory without tokenizer files can still yield an (empty) tokenizer: refuse it."""
    tokenizer = getattr(processor, "tokenizer", processor)
    size = len(tokenizer) if hasattr(tokenizer, "__len__") else None
    if size is not None and size <= 256 + 2:
        raise MissingWeightsError(f"{what} processor {spec!r}: no tokenizer vocabulary found ({size} tokens)")
    if size is not None and model_vocab is not None and size > model_vocab:
        raise MissingWeightsError(f"{what} processor {spec!r}: tokenizer has {size} tokens, more than the "
                                  f"model's {model_vocab}")


def _load_processor(spec: str, *, what: str, trust_remote_code: bool) -> Any:
    from transformers import AutoProcessor, AutoTokenizer

    from longbench.weights import resolve

    path = resolve(spec, what=what)
    try:
        return AutoProcessor.from_pretrained(str(path), local_files_only=True, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        try:  # a directory with only a tokenizer
            return AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                                 trust_remote_code=trust_remote_code)
        except (OSError, ValueError, TypeError):
            raise MissingWeightsError(f"{what} {spec!r}: no processor or tokenizer files in {path} ({first})") from None


def _load_open_clip(spec: str, *, device: str, dtype: torch.dtype, what: str) -> ClipScorer:
    import open_clip

    from longbench.weights import file_sha256, resolve

    _, _, rest = spec.partition(":")
    arch, sep, pretrained = rest.partition(":")
    if not arch or not sep or not pretrained:
        raise LongbenchError(f"{what} spec {spec!r}: expected open_clip:ARCH:PRETRAINED_PATH")
    if arch not in open_clip.list_models():
        raise LongbenchError(f"{what} spec {spec!r}: unknown open_clip architecture {arch!r}")
    path = resolve(pretrained, what=f"{what} checkpoint")
    if path.is_dir():
        raise MissingWeightsError(f"{what} spec {spec!r}: {path} is a directory; pass the checkpoint file")
    model = open_clip_strict(arch, path, what=f"{what} {spec!r}", device=device)
    model = model.to(dtype=dtype).eval().requires_grad_(False)
    tokenizer = open_clip.get_tokenizer(arch)
    scorer = ClipScorer.wrap(model, tokenizer)
    scorer.identity.update({"model": spec, "model_sha256": file_sha256(path), "tokenizer": "open_clip"})
    return scorer


def open_clip_strict(name: str, checkpoint: Any, *, what: str, **create_kwargs: Any) -> nn.Module:
    """An open_clip model built from ``name`` (an architecture or ``local-dir:DIR``) with ``checkpoint``
    loaded strictly: open_clip's own checkpoint conversions apply, then missing, unexpected or mismatched
    tensors are a one-line LongbenchError naming them (never random weights).

    Args:
        name: architecture name or ``local-dir:DIR`` (its config; the weights come from ``checkpoint``).
        checkpoint: the weights file.
        what: the weights' role for messages (e.g. ``"fid-clip model"``).
        create_kwargs: passed to ``open_clip.create_model`` (device, force_* options).

    Raises:
        LongbenchError: the model cannot be built or the checkpoint does not fill it exactly.
        MissingWeightsError: the checkpoint cannot be read.
    """
    import open_clip

    from longbench.weights import checked_load

    create_kwargs.setdefault("pretrained_text", False)
    create_kwargs.setdefault("pretrained_image", False)
    try:
        model = open_clip.create_model(name, load_weights=False, **create_kwargs)
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise LongbenchError(f"{what}: cannot build open_clip model {name!r} ({type(e).__name__}: {first})") from None
    try:
        # big_vision .npz weights return {} (open_clip converts and checks them itself)
        checked_load(lambda: open_clip.load_checkpoint(model, str(checkpoint), strict=False), what=what,
                     weights=checkpoint)
    except (OSError, ValueError, EOFError, RuntimeError, pickle.UnpicklingError) as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise MissingWeightsError(f"{what} {checkpoint}: cannot read the checkpoint ({type(e).__name__}: "
                                  f"{first})") from None
    return model
