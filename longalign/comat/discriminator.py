"""Fidelity preservation: a discriminator built from the pretrained UNet, trained adversarially on latents.

The discriminator holds a frozen copy of the UNet the stage starts from (the base with its parent checkpoint
fused, before the stage's own LoRA), trained through a LoRA of its own on the attention projections and a
fresh head, and reads clean latents at one timestep with the unconditional context:

* ``discriminator.trunk: encoder`` — ``conv_in``, the time embedding, the down blocks and the mid block of
  the copy, then a 1×1 convolution from the mid-block channels to one logit per position;
* ``discriminator.trunk: unet`` — the reference's: the whole UNet, its 4-channel output read per latent pixel
  by a ``Linear(4, 1)``.

Losses (binary cross-entropy with logits, averaged over positions): the discriminator learns "real" (1) on
latents the base model generated beforehand for the batch's prompts and "generated" (0) on the rollout's final
latents (detached); the generator's loss is the cross-entropy of its latents against "real", with the
discriminator's weights frozen (they get no gradient from it).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from diffusers import UNet2DConditionModel

TRUNKS = ("encoder", "unet")
#: the modules of the UNet the encoder trunk keeps (the rest is dropped from the copy)
ENCODER_MODULES = ("conv_in", "time_proj", "time_embedding", "down_blocks", "mid_block")


class Discriminator(nn.Module):
    """A discriminator on latents built from ``unet`` (module docstring); ``unet`` itself is not modified."""

    def __init__(self, unet: UNet2DConditionModel, trunk: str = "encoder"):
        super().__init__()
        if trunk not in TRUNKS:
            raise LongbenchError(f"discriminator.trunk={trunk!r}: expected one of {', '.join(TRUNKS)}")
        cfg = unet.config
        if cfg.class_embed_type is not None or cfg.addition_embed_type is not None:
            raise LongbenchError("the discriminator supports UNets without class or added embeddings (SD 1.x/2.x)")
        self.trunk = trunk
        self.unet = copy.deepcopy(unet).requires_grad_(False)
        if trunk == "encoder":
            if self.unet.mid_block is None:
                raise LongbenchError("discriminator.trunk=encoder needs a UNet with a mid block")
            self.unet.up_blocks = nn.ModuleList()
            self.unet.conv_norm_out = self.unet.conv_act = self.unet.conv_out = None
            self.head: nn.Module = nn.Conv2d(int(cfg.block_out_channels[-1]), 1, kernel_size=1)
        else:
            self.head = nn.Linear(int(cfg.out_channels), 1)

    def features(self, latents: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The encoder trunk's mid-block features (B, C, h, w)."""
        u = self.unet
        emb = u.time_embedding(u.get_time_embed(sample=latents, timestep=timesteps), None)
        if u.time_embed_act is not None:
            emb = u.time_embed_act(emb)
        x = u.conv_in(latents)
        for block in u.down_blocks:
            if getattr(block, "has_cross_attention", False):
                x, _ = block(hidden_states=x, temb=emb, encoder_hidden_states=context)
            else:
                x, _ = block(hidden_states=x, temb=emb)
        if getattr(u.mid_block, "has_cross_attention", False):
            return u.mid_block(x, emb, encoder_hidden_states=context)
        return u.mid_block(x, emb)

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Logits (B, h, w): one per position of the mid-block grid (encoder) or per latent pixel (unet)."""
        dtype = self.unet.dtype
        latents, context = latents.to(dtype), context.to(dtype)
        if self.trunk == "encoder":
            return self.head(self.features(latents, timesteps, context).to(self.head.weight.dtype))[:, 0]
        out = self.unet(latents, timesteps, context).sample.permute(0, 2, 3, 1)  # (B, h, w, 4)
        return self.head(out.to(self.head.weight.dtype))[..., 0]


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE with logits over every position of the real (target 1) and generated (target 0) latents together."""
    logits = torch.cat([fake_logits.float(), real_logits.float()])
    target = torch.cat([torch.zeros_like(fake_logits, dtype=torch.float32),
                        torch.ones_like(real_logits, dtype=torch.float32)])
    return F.binary_cross_entropy_with_logits(logits, target)


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE with logits of the generated latents against the "real" target."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float32))
