"""Segment-level prompt encoding for CLIP-text-encoder diffusion models (DESIGN §4).

A long prompt is split into sentence segments; every segment of a batch goes through the frozen CLIP
text encoder in one forward pass; from each segment the start token and word tokens are kept (end token
and padding dropped), the kept rows of a prompt are concatenated in order and cut or padded to
``token_length`` rows with one fixed *padding embedding* (the mean of the last 60 hidden states of the
empty prompt padded to 77 tokens). The unconditional embedding is the same procedure applied to ``""``:
the start token followed by padding embeddings.

``merge="naive"`` is the paper's encoding ablation, *naive concatenation*: every segment is encoded whole (start
token, word tokens and its end token), the segments are concatenated, and there is no padding embedding — the last
segment keeps its whole 77-token encoding (its end token and the encoder's own states of its padding tokens, as
Stable Diffusion feeds one prompt) and its final row repeats up to ``token_length``. So a one-sentence prompt's
first 77 rows are exactly Stable Diffusion's own encoding of it, and the unconditional embedding (the same
procedure on ``""``) is Stable Diffusion's own empty-prompt encoding, its last row repeated.

With the optional T5 branch the full prompt is also encoded by a T5 encoder (``token_length`` tokens)
and mapped by a :class:`~longbench.longsd.t5_adapter.T5Adapter`; the context is the CLIP part followed by the T5
part along the sequence axis.

The CLIP text encoder is causal, so the hidden state of a kept token does not depend on how far the
segment is padded: segments are padded to the longest one in the batch, not to 77.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from longbench.errors import LongbenchError
from longbench.text.splitters import MAX_SEGMENT_TOKENS, check_splitter, split_default, split_longalign

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

    from longbench.longsd.t5_adapter import T5Adapter

logger = logging.getLogger(__name__)

#: positions of the padded empty prompt averaged into the padding embedding
PAD_EMBED_POSITIONS = 60
#: how the segments' hidden states become one context: LongAlign's (start + words, padding embedding) or the
#: naive concatenation of the paper's ablation (whole segments, the encoder's own padding states)
MERGES = ("longalign", "naive")


def check_merge(merge: str, where: str = "merge") -> str:
    """``merge`` if it names a segment merge (:data:`MERGES`), else a LongbenchError naming ``where``."""
    if merge not in MERGES:
        raise LongbenchError(f"{where}={merge!r}: expected one of {', '.join(MERGES)}")
    return merge


def check_token_length(token_length: int, segment_length: int = 77, where: str = "token_length") -> None:
    """Raise a LongbenchError unless ``token_length`` holds at least one full segment."""
    if not isinstance(token_length, int) or isinstance(token_length, bool):
        raise LongbenchError(f"{where} must be an integer, got {token_length!r}")
    if token_length < segment_length:
        raise LongbenchError(
            f"{where}={token_length} is below one segment ({segment_length} tokens of the CLIP tokenizer); "
            f"use at least {segment_length} (the paper uses 240)")


class SegmentEncoder:
    """Encode prompts of any length into (B, token_length, D) context tensors.

    Args:
        tokenizer: the CLIP tokenizer of the text encoder (``model_max_length`` 77).
        text_encoder: a frozen ``transformers.CLIPTextModel``.
        token_length: rows of the CLIP part of the context (≥ one segment, i.e. 77).
        splitter: ``"longalign"`` (the reference splitter, reproduces released checkpoints) or
            ``"default"`` (sentence boundaries; long sentences cut at clauses so nothing is truncated).
        merge: ``"longalign"`` (start + word tokens, fixed padding embedding) or ``"naive"`` (naive
            concatenation, the paper's encoding ablation; module docstring).
        t5_tokenizer: tokenizer of the optional T5 branch.
        t5_encoder: a frozen ``transformers.T5EncoderModel``.
        adapter: the :class:`~longbench.longsd.t5_adapter.T5Adapter` (may be trainable: its forward keeps grad).
        text_grad: keep the CLIP text encoder's graph (a stage that trains it); also recomputes the padding
            embedding and the unconditional context at every call instead of caching them.

    Calling the encoder on a list of prompts returns the conditional context; ``unconditional(n)`` the
    matching unconditional context. Both have ``output_length`` rows.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, text_encoder: nn.Module, token_length: int = 240,
                 splitter: str = "longalign", *, merge: str = "longalign", t5_tokenizer: PreTrainedTokenizerBase | None = None,
                 t5_encoder: nn.Module | None = None, adapter: T5Adapter | None = None, text_grad: bool = False):
        self.segment_length = int(tokenizer.model_max_length)
        check_token_length(token_length, self.segment_length)
        check_splitter(splitter)
        check_merge(merge)
        if (t5_encoder is None) != (t5_tokenizer is None) or (t5_encoder is None) != (adapter is None):
            raise LongbenchError("the T5 branch needs all of t5_tokenizer, t5_encoder and adapter (or none)")
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.token_length = token_length
        self.splitter = splitter
        self.merge = merge
        self.t5_tokenizer = t5_tokenizer
        self.t5_encoder = t5_encoder
        self.adapter = adapter
        self.text_grad = text_grad
        self._drop_ids = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
        self._split = self._make_splitter(splitter)
        # Per-instance constants, computed on first use.
        self._pad_embedding: torch.Tensor | None = None
        self._uncond_clip: torch.Tensor | None = None
        self._uncond_t5: torch.Tensor | None = None

    @classmethod
    def from_pipeline(cls, pipe: Any, token_length: int = 240, splitter: str = "longalign") -> SegmentEncoder:
        """The encoder of a diffusers pipeline with a CLIP ``tokenizer``/``text_encoder``."""
        if getattr(pipe, "tokenizer", None) is None or getattr(pipe, "text_encoder", None) is None:
            raise LongbenchError(f"{type(pipe).__name__} has no tokenizer/text_encoder: segment encoding needs a "
                                 "CLIP-text-encoder pipeline (e.g. Stable Diffusion 1.x/2.x)")
        return cls(pipe.tokenizer, pipe.text_encoder, token_length, splitter)

    def _make_splitter(self, name: str) -> Callable[[str], list[str]]:
        if name == "longalign":
            return split_longalign
        budget = self.segment_length - 2  # content tokens that fit next to the start/end tokens
        return lambda text: split_default(text, self.count_tokens, min(budget, MAX_SEGMENT_TOKENS))

    # -- properties --------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.text_encoder.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.text_encoder.parameters()).dtype

    @property
    def hidden_size(self) -> int:
        return int(self.text_encoder.config.hidden_size)

    @property
    def output_length(self) -> int:
        """Rows of the full context: ``token_length``, doubled with the T5 branch."""
        return self.token_length * (2 if self.adapter is not None else 1)

    def describe(self) -> dict[str, Any]:
        """What determines the encoding (goes into manifests and model identities)."""
        out: dict[str, Any] = {"token_length": self.token_length, "splitter": self.splitter, "merge": self.merge,
                               "t5": self.adapter is not None}
        if self.merge == "longalign":  # naive concatenation has no padding embedding
            out["pad_embed_positions"] = PAD_EMBED_POSITIONS
        return out

    # -- segments ----------------------------------------------------------------------------------
    def segments(self, prompts: Sequence[str]) -> tuple[list[str], list[int]]:
        """The flat list of segments of ``prompts`` and the prompt index of each segment."""
        if isinstance(prompts, str):
            raise TypeError("SegmentEncoder expects a list of prompts, not a single string")
        segments: list[str] = []
        owners: list[int] = []
        for i, prompt in enumerate(prompts):
            pieces = self._split(prompt)
            segments.extend(pieces)
            owners.extend([i] * len(pieces))
        return segments, owners

    def count_tokens(self, text: str) -> int:
        """Content tokens of ``text`` (no start/end token, untruncated)."""
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def locate_segments(self, prompt: str) -> list[tuple[str, int, int]]:
        """Each segment of ``prompt`` located in it, as ``(segment, start, length)`` in the prompt with runs of
        whitespace collapsed to one space (:func:`collapse_whitespace`); ``segment`` is collapsed too, and its
        first ``length`` characters are that piece of the prompt (the ``longalign`` splitter appends a "."
        the prompt may not have there).

        Raises:
            LongbenchError: a segment that is not the next piece of the prompt (a splitter bug).
        """
        text, _ = collapse_whitespace(prompt)
        out, cursor = [], 0
        for raw in self._split(prompt):
            seg = collapse_whitespace(raw)[0]
            candidates = [seg, seg[:-1]] if seg.endswith(".") else [seg]
            for core in candidates:
                at = text.find(core, cursor)
                if at >= 0 and not any(c.isalnum() for c in text[cursor:at]):
                    out.append((seg, at, len(core)))
                    cursor = at + len(core)
                    break
            else:
                raise LongbenchError(f"segment {seg[:40]!r} is not the next piece of the prompt {prompt[:40]!r}")
        return out

    def token_rows(self, prompt: str, spans: Sequence[tuple[int, int]]) -> list[list[int]]:
        """The rows of the CLIP part of the context that hold the tokens of each character span of ``prompt``.

        Spans should start and end at word boundaries (CLIP's tokenizer never merges across them). Tokens
        dropped by the encoding — past a segment's 77-token window or past ``token_length`` — have no row.
        """
        located = self.locate_segments(prompt)
        _, position = collapse_whitespace(prompt)
        window = self.segment_length - 2  # content tokens kept next to the start and end tokens
        specials = 2 if self.merge == "naive" else 1  # rows of a segment besides its words: start (+ end)
        firsts, row = [], 0
        for seg, _, _ in located:
            firsts.append(row)
            row += specials + min(self.count_tokens(seg), window)
        out: list[list[int]] = []
        for a, b in spans:
            a, b = position[a], position[b]
            rows: list[int] = []
            for (seg, start, length), first in zip(located, firsts):
                lo, hi = max(a, start), min(b, start + length)
                if lo >= hi:
                    continue
                k0, k1 = self.count_tokens(seg[:lo - start]), self.count_tokens(seg[:hi - start])
                rows.extend(first + 1 + k for k in range(k0, min(k1, window)) if first + 1 + k < self.token_length)
            out.append(rows)
        return out

    # -- CLIP branch -------------------------------------------------------------------------------
    def _text_grad(self) -> Any:
        """Grad mode of the CLIP text encoder's forward passes."""
        return torch.set_grad_enabled(self.text_grad and torch.is_grad_enabled())

    def pad_embedding(self) -> torch.Tensor:
        """(D,) mean of the last 60 hidden states of ``""`` padded to the full segment length."""
        if self._pad_embedding is None or self.text_grad:
            ids = self.tokenizer([""], max_length=self.segment_length, padding="max_length", truncation=True,
                                 return_tensors="pt").input_ids.to(self.device)
            with self._text_grad():
                hidden = self.text_encoder(ids)[0]
            self._pad_embedding = hidden[0, -PAD_EMBED_POSITIONS:].mean(dim=0)
        return self._pad_embedding

    def encode_clip(self, prompts: Sequence[str]) -> torch.Tensor:
        """The CLIP part of the context: (B, token_length, D)."""
        with self._text_grad():
            return self._encode_clip(prompts)

    def _encode_clip(self, prompts: Sequence[str]) -> torch.Tensor:
        if self.merge == "naive":
            return self._encode_naive(prompts)
        segments, owners = self.segments(prompts)
        if not segments:
            return torch.empty(0, self.token_length, self.hidden_size, device=self.device, dtype=self.dtype)
        tokens = self.tokenizer(segments, max_length=self.segment_length, padding=True, truncation=True,
                                return_tensors="pt")
        ids = tokens.input_ids.to(self.device)
        hidden = self.text_encoder(ids)[0]  # one pass over every segment of the batch
        return self._merge(ids, hidden, owners, len(prompts))

    def _encode_naive(self, prompts: Sequence[str]) -> torch.Tensor:
        """Naive concatenation (module docstring): whole segments, the last with its padding states."""
        segments, owners = self.segments(prompts)
        missing = sorted(set(range(len(prompts))) - set(owners))
        segments, owners = segments + [""] * len(missing), owners + missing  # no segment: encoded as ""
        if not segments:
            return torch.empty(0, self.token_length, self.hidden_size, device=self.device, dtype=self.dtype)
        # padded to 77 (not to the longest segment): the last segment's padding states are part of the context
        tokens = self.tokenizer(segments, max_length=self.segment_length, padding="max_length", truncation=True,
                                return_tensors="pt")
        hidden = self.text_encoder(tokens.input_ids.to(self.device))[0]
        lengths = tokens.attention_mask.sum(dim=1).tolist()  # start + words + end of each segment
        out = hidden.new_empty(len(prompts), self.token_length, hidden.shape[-1])
        for b in range(len(prompts)):
            mine = [k for k, owner in enumerate(owners) if owner == b]
            rows = torch.cat([hidden[k, :lengths[k]] for k in mine[:-1]] + [hidden[mine[-1]]])[:self.token_length]
            out[b, :rows.shape[0]] = rows
            out[b, rows.shape[0]:] = rows[-1]
        return out

    def _merge(self, ids: torch.Tensor, hidden: torch.Tensor, owners: list[int], batch: int) -> torch.Tensor:
        keep = torch.ones_like(ids, dtype=torch.bool)
        for drop in self._drop_ids:
            keep &= ids != drop
        rows = hidden[keep]  # (K, D): kept rows, segment after segment, in prompt order
        owner = torch.as_tensor(owners, device=ids.device)
        row_owner = owner.repeat_interleave(keep.sum(dim=1))
        per_prompt = torch.bincount(row_owner, minlength=batch)
        first_row = torch.cumsum(per_prompt, 0) - per_prompt
        position = torch.arange(rows.shape[0], device=ids.device) - first_row[row_owner]
        fits = position < self.token_length
        pad = self.pad_embedding().to(device=hidden.device, dtype=hidden.dtype)
        out = pad.expand(batch, self.token_length, -1).clone()
        out[row_owner[fits], position[fits]] = rows[fits]
        return out

    # -- T5 branch ---------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_t5_hidden(self, prompts: Sequence[str]) -> torch.Tensor:
        """Raw T5 states of the full prompts (B, token_length, D_t5), before the adapter.

        Like the reference, the encoder sees the padded sequence without an attention mask (the released
        adapters were trained that way).
        """
        assert self.t5_encoder is not None and self.t5_tokenizer is not None
        device = next(self.t5_encoder.parameters()).device
        ids = self.t5_tokenizer(list(prompts), max_length=self.token_length, padding="max_length",
                                truncation=True, return_tensors="pt").input_ids.to(device)
        return self.t5_encoder(ids)[0]

    def _t5_part(self, hidden: torch.Tensor) -> torch.Tensor:
        assert self.adapter is not None
        adapter_dtype = next(self.adapter.parameters()).dtype
        return self.adapter(hidden.to(adapter_dtype))

    # -- public ------------------------------------------------------------------------------------
    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        """Conditional context for ``prompts``: (B, output_length, D)."""
        clip = self.encode_clip(prompts)
        if clip.shape[0] == 0:
            return clip.new_empty(0, self.output_length, clip.shape[-1])
        if self.adapter is None:
            return clip
        t5 = self._t5_part(self.encode_t5_hidden(prompts))
        return torch.cat([clip, t5.to(clip.dtype)], dim=1)

    def unconditional(self, batch_size: int) -> torch.Tensor:
        """Unconditional context, the encoding of ``""`` (``longalign``: start token, then padding embeddings;
        ``naive``: Stable Diffusion's own empty-prompt encoding, its last row repeated): (batch_size,
        output_length, D)."""
        if self._uncond_clip is None or self.text_grad:
            self._uncond_clip = self.encode_clip([""])
        clip = self._uncond_clip.expand(batch_size, -1, -1)
        if self.adapter is None:
            return clip.clone()
        if self._uncond_t5 is None:
            self._uncond_t5 = self.encode_t5_hidden([""])
        t5 = self._t5_part(self._uncond_t5).expand(batch_size, -1, -1)
        return torch.cat([clip, t5.to(clip.dtype)], dim=1)


def collapse_whitespace(text: str) -> tuple[str, list[int]]:
    """``text`` with every run of whitespace replaced by one space, and for each position ``0..len(text)`` of
    ``text`` its position in the collapsed string (CLIP's tokenizer cleans whitespace the same way)."""
    out: list[str] = []
    position: list[int] = []
    for c in text:
        position.append(len(out))
        if c.isspace():
            if not out or out[-1] != " ":
                out.append(" ")
        else:
            out.append(c)
    position.append(len(out))
    return "".join(out), position


_PIPE_ATTR = "_longsd_segment_encoders"


def segment_prompt_embeds(pipe: Any, prompts: list[str], options: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The ``segment`` long-prompt strategy for a diffusers CLIP-text-encoder pipeline.

    Args:
        pipe: a pipeline with ``tokenizer`` and ``text_encoder`` (Stable Diffusion 1.x/2.x style).
        prompts: the prompts of one batch.
        options: ``token_length`` (default 240), ``splitter`` (default ``"longalign"``) and
            ``negative_prompt`` (default: the unconditional embedding), as declared by
            :class:`~longbench.models.options.SegmentPromptOptions`; other keys are errors.

    Returns:
        ``{"prompt_embeds": (B, T, D), "negative_prompt_embeds": (B, T, D)}`` to pass to the pipeline.

    One encoder is kept per pipeline instance and option set, so the padding embedding is computed once.
    """
    from longbench.models.options import SegmentPromptOptions
    from longbench.options import build_options

    opts = build_options(SegmentPromptOptions, options, "long_prompt=segment")
    encoders: dict[tuple, SegmentEncoder] = pipe.__dict__.setdefault(_PIPE_ATTR, {})
    key = (opts.token_length, opts.splitter, id(pipe.tokenizer), id(pipe.text_encoder))
    if key not in encoders:
        encoders[key] = SegmentEncoder.from_pipeline(pipe, opts.token_length, opts.splitter)
    encoder = encoders[key]
    cond = encoder(list(prompts))
    if opts.negative_prompt is None:
        negative = encoder.unconditional(len(prompts))
    else:
        negative = encoder([opts.negative_prompt] * len(prompts))
    return {"prompt_embeds": cond, "negative_prompt_embeds": negative}
