"""``caption-match``: CoMat's concept-matching score as an evaluation metric.

A frozen image captioner (``BlipForConditionalGeneration``, by default ``Salesforce/blip-image-captioning-large``)
reads the image and scores how likely the prompt is as its caption:

* **image** — RGB in [0,1], resized to the captioner's input size (384×384 for BLIP) with bicubic
  interpolation and antialiasing (the aspect ratio is not kept, nothing is cropped), normalised with the
  processor's mean and std (BLIP's are CLIP's);
* **text** — ``"a photography of " + prompt.lower()`` tokenized with the captioner's tokenizer (``[CLS] …
  [SEP]``); the decoder reads the token ids as the tokenizer writes them, starting with ``[CLS]`` (the
  reference computes the reward with ``BlipForConditionalGeneration.forward``, which, unlike BLIP's
  ``generate``, does not swap in the ``[DEC]`` start token);
* **labels** — the prompt's tokens and the end token ``[SEP]``; the start token, the prefix words and padding
  are masked out;
* **score** — minus the mean over the label tokens of the cross-entropy of the decoder's next-token
  distribution: the mean log-likelihood per token of the prompt given the image (higher is better, ≤ 0).

Two decisions differ from the reference reward (CoMat computes ``-outputs.loss`` of the whole batch):

* **label smoothing** — transformers 4.31 (the reference's pin) hard-codes ``label_smoothing=0.1`` in BLIP's
  text-decoder loss; transformers 5 reads it from ``text_config.label_smoothing`` (0.0 by default). Smoothing
  adds ``ε·mean_v(−log p(v))``, a term about the whole vocabulary rather than the prompt, so the metric's
  default is ``label_smoothing=0`` (a true log-likelihood). The loss is computed here from the logits, so the
  installed transformers version and the checkpoint's config do not change the number; ``label_smoothing=0.1``
  reproduces the reference's per-token term exactly.
* **batch mean** — the reference averages over all label tokens of the batch (longer prompts weigh more, and a
  score depends on the other prompts of its batch); here each image gets the mean over its own label tokens, and
  the headline is the mean over images, so scores do not depend on batching and have per-image CIs.

Columns (per image, then averaged over images):

* ``caption-match`` — the whole prompt. A prompt that does not fit the captioner's text positions (512 for
  BLIP, the prefix and the two special tokens included) is **not truncated**: its score is NaN (left out of
  the mean, with a warning; the number of images scored is the column's ``n``).
* ``caption-match-seg`` — the headline for long prompts: every segment (the suite's ``segments`` when an item
  has them, else the ``default`` sentence splitter) scored with the same prefix as a caption of its own, then
  averaged over the image's segments. Segments longer than the captioner's context are cut at clause, then
  word boundaries (:func:`longbench.text.splitters.fit_segments`), so every word is scored and nothing is
  truncated. Per-segment scores go to ``samples.jsonl``. A prompt of one sentence that fits scores the same
  text in both columns, computed once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from longbench.devices import torch_dtype as to_torch_dtype
from longbench.errors import LongbenchError, MissingWeightsError, first_line
from longbench.images import ImageBatch, as_image_batch
from longbench.metrics.base import PerSampleMetric, Scores
from longbench.metrics.clip_models import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from longbench.metrics.functional import caption_match as F
from longbench.metrics.options import CaptionMatchOptions

logger = logging.getLogger(__name__)

DEFAULT_MODEL = CaptionMatchOptions.model
DEFAULT_PREFIX = CaptionMatchOptions.prefix
DEFAULT_MAX_TOKENS = CaptionMatchOptions.max_tokens  # padded text tokens per decoder forward: bounds the logits
_NO_LIMIT = 1_000_000  # tokenizers without a length limit report a huge model_max_length


class Captioner(nn.Module):
    """A BLIP-style captioner with its tokenizer, preprocessing constants and caption prefix.

    Args:
        model: a ``BlipForConditionalGeneration`` (anything with ``vision_model`` and ``text_decoder``).
        tokenizer: its tokenizer (BERT word pieces for BLIP).
        image_size: side of the square input of the vision tower.
        image_mean: per-channel normalisation mean.
        image_std: per-channel normalisation std.
        max_length: text positions of the decoder (special tokens included).
        prefix: caption prefix; a text is ``prefix + " " + prompt.lower()``.
        identity: what defines the weights (id, revision, sha256), copied into the protocol.

    Raises:
        LongbenchError: the prefix does not tokenize to a stable prefix, or leaves no room for a prompt.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, *, image_size: int,
                 image_mean: Sequence[float] = OPENAI_CLIP_MEAN, image_std: Sequence[float] = OPENAI_CLIP_STD,
                 max_length: int = 512, prefix: str = DEFAULT_PREFIX, identity: dict[str, Any] | None = None):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.image_size = int(image_size)
        self.image_mean = tuple(float(m) for m in image_mean)
        self.image_std = tuple(float(s) for s in image_std)
        self.max_length = int(max_length)
        self.prefix = prefix.strip()
        self.identity = dict(identity or {})
        ids = self.tokenizer(self.prefix)["input_ids"]
        # the tokenizer closes every text with one end token: what precedes it is the masked prefix
        self.prefix_ids: list[int] = list(ids[:-1])
        self.prefix_length = len(self.prefix_ids)
        if self.segment_budget < 1:
            raise LongbenchError(f"caption-match: the prefix {self.prefix!r} takes {self.prefix_length + 1} of the "
                                 f"captioner's {self.max_length} text positions")

    @classmethod
    def wrap(cls, model: Any, processor: Any, prefix: str = DEFAULT_PREFIX) -> Captioner:
        """Wrap a loaded BLIP captioner and its processor (or bare tokenizer); a Captioner is returned as is."""
        if isinstance(model, Captioner):
            return model
        if not (hasattr(model, "vision_model") and hasattr(model, "text_decoder")):
            raise LongbenchError(f"caption-match: {type(model).__name__} is not a BLIP captioner (needs vision_model "
                                 "and text_decoder, as BlipForConditionalGeneration)")
        tokenizer = getattr(processor, "tokenizer", processor)
        image_processor = getattr(processor, "image_processor", None)
        cfg = model.config
        max_length = int(cfg.text_config.max_position_embeddings)
        tok_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and tok_max < _NO_LIMIT:
            max_length = min(max_length, tok_max)
        return cls(model, tokenizer, image_size=cfg.vision_config.image_size,
                   image_mean=getattr(image_processor, "image_mean", None) or OPENAI_CLIP_MEAN,
                   image_std=getattr(image_processor, "image_std", None) or OPENAI_CLIP_STD,
                   max_length=max_length, prefix=prefix, identity={"model_class": type(model).__name__})

    # ------------------------------------------------------------------ text
    @property
    def segment_budget(self) -> int:
        """Content tokens a prompt or segment may have: the positions left by the prefix and the end token."""
        return self.max_length - self.prefix_length - 1

    def text(self, prompt: str) -> str:
        return f"{self.prefix} {prompt.lower()}"

    def count_tokens(self, prompt: str) -> int:
        """Content tokens of ``prompt`` as it appears after the prefix (no special tokens)."""
        return len(self.tokenizer(prompt.lower(), add_special_tokens=False, truncation=False,
                                  verbose=False)["input_ids"])

    def fits(self, prompt: str) -> bool:
        return self.count_tokens(prompt) <= self.segment_budget

    def encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ``(input_ids, attention_mask)`` of the texts of ``prompts``, never truncated.

        Raises:
            LongbenchError: a text longer than the captioner's context, or one whose first tokens are not the
                prefix's (a prefix that merges with the prompt's first word).
        """
        enc = self.tokenizer([self.text(p) for p in prompts], padding="longest", truncation=False,
                             return_tensors="pt", verbose=False)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        if ids.shape[1] > self.max_length:
            raise LongbenchError(f"caption-match: a text of {ids.shape[1]} tokens exceeds the captioner's "
                                 f"{self.max_length} positions")
        if ids.shape[0] and not bool((ids[:, :self.prefix_length] == torch.tensor(self.prefix_ids)).all()):
            raise LongbenchError(f"caption-match: the prefix {self.prefix!r} does not tokenize the same before a "
                                 "prompt as alone")
        return ids, mask

    # ------------------------------------------------------------------ scoring
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """Preprocessed (B,3,S,S) input from float (B,3,H,W) images in [0,1]; differentiable."""
        return F.caption_pixels(images, self.image_size, self.image_mean, self.image_std)

    def image_embeds(self, pixels: torch.Tensor) -> torch.Tensor:
        """The vision tower's last hidden states (B, patches+1, D) the decoder attends to."""
        return self.model.vision_model(pixel_values=pixels.to(device=self.device, dtype=self.dtype)).last_hidden_state

    def text_scores(self, image_embeds: torch.Tensor, prompts: Sequence[str], owners: Sequence[int], *,
                    label_smoothing: float = 0.0, max_tokens: int = DEFAULT_MAX_TOKENS) -> torch.Tensor:
        """Score of every prompt (or segment) against the image ``owners[k]`` of ``image_embeds``.

        Texts are batched by length (longest first) with at most ``max_tokens`` padded tokens per decoder
        forward (at least one text); right padding never reaches a text's own positions under the decoder's
        causal mask, so batching changes a score only by float rounding. Differentiable in ``image_embeds``.

        Returns:
            (len(prompts),) float64.
        """
        if len(prompts) != len(owners):
            raise LongbenchError(f"caption-match: {len(prompts)} texts but {len(owners)} owners")
        if not prompts:
            return torch.zeros(0, dtype=torch.float64, device=image_embeds.device)
        lengths = [self.count_tokens(p) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda k: -lengths[k])
        chunks: list[list[int]] = [[]]
        for k in order:
            width = self.prefix_length + 1 + lengths[chunks[-1][0] if chunks[-1] else k]
            if chunks[-1] and (len(chunks[-1]) + 1) * width > max_tokens:
                chunks.append([])
            chunks[-1].append(k)
        scores = []
        for chunk in chunks:
            ids, mask = (t.to(self.device) for t in self.encode([prompts[k] for k in chunk]))
            emb = image_embeds[torch.tensor([owners[k] for k in chunk], device=image_embeds.device)]
            logits = self.model.text_decoder(input_ids=ids, attention_mask=mask, encoder_hidden_states=emb,
                                             return_dict=True).logits
            scores.append(F.caption_log_likelihood(logits, ids, F.label_mask(mask, self.prefix_length),
                                                   label_smoothing))
        flat = torch.cat(scores)
        return flat[torch.argsort(torch.tensor(order, device=flat.device))]

    def describe(self) -> dict[str, Any]:
        """Protocol fields: identity, preprocessing and text constants."""
        start = self.tokenizer.convert_ids_to_tokens(self.prefix_ids[:1])
        return {**self.identity, "image_size": self.image_size, "image_mean": list(self.image_mean),
                "image_std": list(self.image_std), "max_length": self.max_length,
                "dtype": str(self.dtype).replace("torch.", ""), "prefix": self.prefix,
                "prefix_tokens": self.prefix_length, "start_token": start[0] if start else None,
                "segment_budget": self.segment_budget}


def load_captioner(model: str, processor: str | None = None, *, prefix: str = DEFAULT_PREFIX, device: str = "cpu",
                   dtype: str = "float32", what: str = "caption-match captioner") -> Captioner:
    """Load a ``BlipForConditionalGeneration`` captioner offline and strictly.

    Args:
        model: a Hugging Face id (in the HF cache) or a local directory.
        processor: id or directory of the processor (tokenizer + image constants); defaults to ``model``.
        prefix: caption prefix.
        device: torch device.
        dtype: ``float32`` / ``float16`` / ``bfloat16``.
        what: the weights' role in messages.

    Raises:
        MissingWeightsError: weights or processor not available offline.
        LongbenchError: not a BLIP captioner, or a checkpoint that does not fill the model exactly.
    """
    from transformers import AutoConfig, AutoProcessor, BlipForConditionalGeneration

    from longbench.weights import from_pretrained_strict, resolve, weights_identity

    torch_dtype = to_torch_dtype(dtype)
    path = resolve(model, what=what)
    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise MissingWeightsError(f"{what} {model!r}: no loadable config in {path} ({first_line(e)})") from None
    archs = list(getattr(config, "architectures", None) or [])
    if getattr(config, "model_type", None) != "blip" or (archs and "BlipForConditionalGeneration" not in archs):
        raise LongbenchError(f"{what} {model!r}: {path} holds a {getattr(config, 'model_type', '?')!r} model "
                             f"({', '.join(archs) or 'no architecture'}), not a BlipForConditionalGeneration captioner")
    try:  # strict: a partial checkpoint is an error, never a half-random captioner
        hf_model = from_pretrained_strict(BlipForConditionalGeneration, path, what=f"{what} {model!r}",
                                          local_files_only=True)
    except (OSError, ValueError) as e:
        raise MissingWeightsError(f"{what} {model!r}: cannot load BlipForConditionalGeneration weights from {path} "
                                  f"({first_line(e)})") from None
    proc_spec = processor or model
    proc_path = path if processor is None else resolve(processor, what=f"{what} processor")
    try:
        proc = AutoProcessor.from_pretrained(str(proc_path), local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise MissingWeightsError(f"{what} processor {proc_spec!r}: cannot load from {proc_path} "
                                  f"({first_line(e)})") from None
    hf_model = hf_model.to(device=device, dtype=torch_dtype).eval().requires_grad_(False)
    captioner = Captioner.wrap(hf_model, proc, prefix=prefix)
    captioner.identity.update({"model": model, **weights_identity(path), "processor": proc_spec})
    return captioner


class CaptionMatch(PerSampleMetric):
    """``caption-match`` (whole prompt) and ``caption-match-seg`` (mean over segments); per-segment scores kept.

    Args:
        model: spec (HF id or directory) or a loaded ``BlipForConditionalGeneration`` / :class:`Captioner`.
        processor: processor spec or object (defaults to the model's own).
        prefix: caption prefix (the reference's ``"a photography of"``).
        label_smoothing: ``ε`` of the cross-entropy (0: log-likelihood; 0.1: the reference's loss term).
        use_suite_segments: use an item's ``segments`` when it has them (else always split the prompt).
        device: torch device for loading a spec.
        dtype: model dtype for loading a spec.
        max_tokens: padded text tokens per decoder forward (memory bound; does not change the scores).
    """

    name: ClassVar[str] = "caption-match"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {"caption-match": True, "caption-match-seg": True}
    has_segments: ClassVar[bool] = True
    higher_is_better = True
    Options = CaptionMatchOptions

    def __init__(self, model: Any = DEFAULT_MODEL, processor: Any = None, *, prefix: str = DEFAULT_PREFIX,
                 label_smoothing: float = 0.0, use_suite_segments: bool = True, device: str = "cpu",
                 dtype: str = "float32", max_tokens: int = DEFAULT_MAX_TOKENS, **kwargs: Any):
        super().__init__(**kwargs)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise LongbenchError(f"caption-match: label_smoothing must be in [0, 1], got {label_smoothing}")
        if int(max_tokens) < 1:
            raise LongbenchError(f"caption-match: max_tokens must be >= 1, got {max_tokens}")
        self.label_smoothing = float(label_smoothing)
        self.use_suite_segments = bool(use_suite_segments)
        self.max_tokens = int(max_tokens)
        if isinstance(model, str):
            self.captioner = load_captioner(model, processor, prefix=prefix, device=device, dtype=dtype)
        else:
            self.captioner = Captioner.wrap(model, processor, prefix=prefix)
        # splitting counts tokens: done once per prompt; it depends on the text only, not on the model scored
        self._segment_cache: dict[tuple[str, Any], list[str]] = {}

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        from longbench.metrics.weights_status import caption_match

        return caption_match()

    # ------------------------------------------------------------------ segments
    def segments_of(self, item: Any) -> list[str]:
        """The item's segments, each fitting the captioner after the prefix (never truncated)."""
        from longbench.text.splitters import fit_segments

        prompt = item if isinstance(item, str) else item.prompt
        given = None if isinstance(item, str) or not self.use_suite_segments else item.segments
        segs = fit_segments(prompt, given, self.captioner.count_tokens, self.captioner.segment_budget)
        for s in segs:  # the splitter cuts down to single characters: a failure here is a bug, not bad input
            if not self.captioner.fits(s):
                raise RuntimeError(f"caption-match: segment {s[:40]!r} still exceeds "
                                   f"{self.captioner.segment_budget} tokens after splitting")
        return segs

    def _segments_cached(self, item: Any) -> list[str]:
        key = (item, None) if isinstance(item, str) else (item.prompt, item.segments)
        if key not in self._segment_cache:
            self._segment_cache[key] = self.segments_of(item)
        return self._segment_cache[key]

    # ------------------------------------------------------------------ scoring
    @torch.inference_mode()
    def score(self, images: ImageBatch | Sequence[Any], items: Sequence[Any]) -> Scores:
        if len(images) != len(items):
            raise LongbenchError(f"caption-match: {len(images)} images but {len(items)} items")
        if not len(images):
            return Scores({col: [] for col in self.columns}, [])
        cap = self.captioner
        batch = as_image_batch(images, device=cap.device, where="caption-match image")
        pixels = torch.empty(len(images), 3, cap.image_size, cap.image_size, device=cap.device)
        for idx, group in batch.floats():  # the protocol is float: [0,1] images resized without re-quantising
            pixels[idx] = cap.pixels(group)
        embeds = cap.image_embeds(pixels)
        # one text per (image, distinct prompt or segment): a one-sentence prompt is scored once for both columns
        texts: list[str] = []
        owners: list[int] = []
        slot: dict[tuple[int, str], int] = {}

        def add(i: int, text: str) -> int:
            if (i, text) not in slot:
                slot[i, text] = len(texts)
                texts.append(text)
                owners.append(i)
            return slot[i, text]

        whole_slots: list[int | None] = []
        seg_slots: list[list[int]] = []
        for i, item in enumerate(items):
            prompt = (item if isinstance(item, str) else item.prompt).strip()
            whole_slots.append(add(i, prompt) if cap.fits(prompt) else None)
            seg_slots.append([add(i, s) for s in self._segments_cached(item)])
        unscored = sum(s is None for s in whole_slots)
        if unscored:
            logger.warning("caption-match: %d prompt(s) longer than the captioner's %d positions: whole-prompt score "
                           "NaN (not truncated); caption-match-seg scores them by segments", unscored, cap.max_length)
        scores = cap.text_scores(embeds, texts, owners, label_smoothing=self.label_smoothing,
                                 max_tokens=self.max_tokens).cpu()
        whole = torch.tensor([math.nan if s is None else float(scores[s]) for s in whole_slots], dtype=torch.float64)
        counts = torch.tensor([len(s) for s in seg_slots], dtype=torch.long)
        segs = scores[[k for ks in seg_slots for k in ks]]
        columns = F.caption_match(whole, segs, counts)
        return Scores({col: v.tolist() for col, v in columns.items()},
                      [c.tolist() for c in torch.split(segs, counts.tolist())])

    def protocol(self) -> dict[str, Any]:
        cap = self.captioner
        return {
            "name": self.name, "version": self.version, "captioner": cap.describe(),
            "image": f"RGB [0,1] resized to {cap.image_size}x{cap.image_size} (bicubic, antialias, aspect ratio not "
                     "kept, no crop), normalised with image_mean/image_std",
            "text": f"'{cap.prefix} ' + prompt.lower(), tokenizer special tokens, decoder input as tokenized "
                    "(starts with the tokenizer's start token, as BlipForConditionalGeneration.forward)",
            "labels": "prompt tokens and the end token; start token, prefix and padding masked",
            "label_smoothing": self.label_smoothing,
            "score": "-(mean over the text's label tokens of the cross-entropy, label-smoothed by label_smoothing); "
                     "per image, not pooled over the batch",
            "whole_prompt": f"NaN when the prompt exceeds {cap.segment_budget} tokens (never truncated)",
            "segments": ("suite segments when given, else splitter 'default'" if self.use_suite_segments
                         else "splitter 'default'") + f", fitted to {cap.segment_budget} tokens; "
                         "caption-match-seg = mean over segments"}
