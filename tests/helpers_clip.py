"""Tiny random-weight CLIP-style models saved to disk, for the CLIP-based metric tests."""

from __future__ import annotations

from pathlib import Path

import torch


def tiny_clip_config(image_size: int = 224, patch_size: int = 32, hidden: int = 32, projection_dim: int = 16):
    from transformers import CLIPConfig

    common = {"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": 2,
              "num_attention_heads": 4}
    return CLIPConfig(
        text_config={"vocab_size": 49408, "max_position_embeddings": 77, **common},
        vision_config={"image_size": image_size, "patch_size": patch_size, **common},
        projection_dim=projection_dim,
    )


def save_tiny_clip(path: Path, seed: int = 0, *, with_processor: bool = True, **cfg_kwargs) -> Path:
    """Build a random tiny ``CLIPModel`` (+ a ``CLIPProcessor`` with the real CLIP tokenizer) in ``path``."""
    from transformers import CLIPImageProcessor, CLIPModel, CLIPProcessor

    from longbench.text.tokenizer import load_clip_tokenizer

    torch.manual_seed(seed)
    model = CLIPModel(tiny_clip_config(**cfg_kwargs)).eval()
    model.save_pretrained(str(path))
    if with_processor:
        CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=load_clip_tokenizer()).save_pretrained(str(path))
    return path


def features(out) -> torch.Tensor:
    """Projected features from ``get_*_features`` whatever the transformers major version returns."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output
