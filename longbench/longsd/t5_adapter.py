"""The T5 adapter: maps T5 encoder states into the UNet's cross-attention space.

LayerNorm → GEGLU feed-forward → LayerNorm → GEGLU feed-forward, as in LaVi-Bridge. Parameter names follow
the LaVi-Bridge release (``norm1``, ``ff1.net.0.proj``, ``ff1.net.2``, ...) so its published adapter loads
with ``T5Adapter.from_pretrained``; saving uses diffusers' ``save_pretrained`` (safetensors).
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F


class _GatedGELU(nn.Module):
    """One linear layer producing a value and a gate; output = value * gelu(gate)."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, 2 * dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class _FeedForward(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, mult: int, dropout: float):
        super().__init__()
        hidden = dim_in * mult
        # index layout (0: gated projection, 1: dropout, 2: output projection) is the checkpoint layout
        self.net = nn.Sequential(_GatedGELU(dim_in, hidden), nn.Dropout(dropout), nn.Linear(hidden, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class T5Adapter(ModelMixin, ConfigMixin):
    """Adapter from T5 hidden states (``in_dim``) to UNet context vectors (``out_dim``).

    Args:
        in_dim: T5 hidden size (1024 for t5-large).
        int_dim: width between the two feed-forward blocks.
        out_dim: the UNet's ``cross_attention_dim``.
        mult: expansion factor inside each feed-forward block.
        dropout: dropout inside the feed-forward blocks (training only).
    """

    @register_to_config
    def __init__(self, in_dim: int, int_dim: int, out_dim: int, mult: int = 4, dropout: float = 0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(in_dim)
        self.ff1 = _FeedForward(in_dim, int_dim, mult, dropout)
        self.norm2 = nn.LayerNorm(int_dim)
        self.ff2 = _FeedForward(int_dim, out_dim, mult, dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, L, in_dim) → (B, L, out_dim)."""
        return self.ff2(self.norm2(self.ff1(self.norm1(hidden_states))))
