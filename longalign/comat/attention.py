"""Recording cross-attention probabilities with diffusers attention processors (the UNet is not forked).

:class:`CrossAttentionRecorder` replaces the processor of every cross-attention layer of the chosen UNet places
(``down``, ``mid``, ``up``) by a :class:`RecordingProcessor`. Outside :meth:`CrossAttentionRecorder.explicit`
the layer runs its original processor (PyTorch's fused attention). Inside it, the layer computes its attention
explicitly — diffusers' ``AttnProcessor``, whose ``attn.get_attention_scores`` is the softmax over the keys —
and, when a sink is given, keeps the probabilities of the conditional half of the classifier-free-guidance
batch (the first half: the rollout stacks [conditional; unconditional]) with their gradient.

The explicit mode is entered *inside* a checkpointed function, so the recomputation during the backward pass
takes the same path; the sink is only given to the first run (a recomputation must not record twice).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

PLACES = ("down", "mid", "up")
#: recorded maps: (place, resolution) → per layer, in UNet order, a (B, heads, res, res, keys) tensor
AttentionMaps = dict[tuple[str, int], list["torch.Tensor"]]


def unet_place(module_name: str) -> str | None:
    """``down``, ``mid`` or ``up`` for a module of ``down_blocks``, ``mid_block`` or ``up_blocks``."""
    head = module_name.split(".", 1)[0]
    return {"down_blocks": "down", "mid_block": "mid", "up_blocks": "up"}.get(head)


class _Capture:
    """An attention module as the processor sees it, except that its attention probabilities go to ``keep``."""

    def __init__(self, attn: Any, keep: Any):
        self._attn = attn
        self._keep = keep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._attn, name)

    def get_attention_scores(self, query: torch.Tensor, key: torch.Tensor,
                             attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        probs = self._attn.get_attention_scores(query, key, attention_mask)
        self._keep(probs)
        return probs


class RecordingProcessor:
    """The processor of one recorded cross-attention layer (module docstring)."""

    def __init__(self, recorder: CrossAttentionRecorder, place: str, original: Any):
        self.recorder = recorder
        self.place = place
        self.original = original

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        if not self.recorder.active:
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        from diffusers.models.attention_processor import AttnProcessor

        heads = attn.heads

        def keep(probs: torch.Tensor) -> None:
            self.recorder.store(self.place, probs, heads)

        return AttnProcessor()(_Capture(attn, keep), hidden_states, encoder_hidden_states, attention_mask, temb)


class CrossAttentionRecorder:
    """Install recording processors on the cross-attention layers of ``unet`` in ``places``.

    Raises:
        LongbenchError: an unknown place, or no cross-attention layer in the chosen places.
    """

    def __init__(self, unet: nn.Module, places: Sequence[str] = ("mid", "up")):
        from diffusers.models.attention_processor import Attention

        bad = [p for p in places if p not in PLACES]
        if bad:
            raise LongbenchError(f"attention places {bad}: expected some of {', '.join(PLACES)}")
        self.places = tuple(places)
        self.active = False
        self._sink: AttentionMaps | None = None
        self.layers: list[str] = []
        for name, module in unet.named_modules():
            place = unet_place(name)
            if isinstance(module, Attention) and getattr(module, "is_cross_attention", False) and place in self.places:
                module.set_processor(RecordingProcessor(self, place, module.processor))
                self.layers.append(name)
        if not self.layers:
            raise LongbenchError(f"the UNet has no cross-attention layer in {', '.join(self.places)}")

    @contextmanager
    def explicit(self, sink: AttentionMaps | None) -> Iterator[None]:
        """Compute the recorded layers' attention explicitly; store the conditional probabilities into ``sink``."""
        self.active, self._sink = True, sink
        try:
            yield
        finally:
            self.active, self._sink = False, None

    def store(self, place: str, probs: torch.Tensor, heads: int) -> None:
        """Keep the conditional half of (2B·heads, queries, keys) probabilities as (B, heads, res, res, keys)."""
        if self._sink is None:
            return
        rows, queries, keys = probs.shape
        res = math.isqrt(queries)
        if res * res != queries:
            raise LongbenchError(f"cross-attention over {queries} positions: attribute concentration needs square "
                                 "latents")
        batch = rows // heads
        cond = probs[:(batch // 2) * heads].reshape(batch // 2, heads, res, res, keys)
        self._sink.setdefault((place, res), []).append(cond)
