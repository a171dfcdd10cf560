"""A tiny random-weight OWLv2 detector saved to disk, for the count-metric tests."""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_owlv2(path: Path, seed: int = 0) -> Path:
    """Build a random ``Owlv2ForObjectDetection`` (64×64 images, 16-token queries) with its processor in ``path``."""
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    from longbench.text.tokenizer import load_clip_tokenizer

    common = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    cfg = Owlv2Config(text_config={"vocab_size": 49408, "max_position_embeddings": 16, **common},
                      vision_config={"image_size": 64, "patch_size": 16, **common}, projection_dim=32)
    torch.manual_seed(seed)
    Owlv2ForObjectDetection(cfg).eval().save_pretrained(str(path))
    tok = load_clip_tokenizer()
    tok.model_max_length = 16
    Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}),
                   tokenizer=tok).save_pretrained(str(path))
    return path
