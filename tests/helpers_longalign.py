"""Tiny models and data for the longalign tests: built from configs, saved with save_pretrained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from longbench.testing import tiny_sd_pipeline, tiny_text_encoder  # noqa: F401 (re-exported for the tests)

SENTENCES = [
    "A red cube sits on a wooden table.", "A blue ball rests beside it.", "The wall behind is pale green.",
    "Sunlight falls through a tall window.", "Two cats sleep on a striped mat.", "A lamp glows in the corner.",
    "Books are stacked on the floor.", "A small plant grows in a clay pot.", "The ceiling has a crack.",
    "Rain taps against the glass.",
]


def one_thread() -> Any:
    """Generator for a module-scoped autouse fixture: tiny models on shared cores run fastest on one thread."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def save_tiny_sd(path: Path, seed: int = 0) -> Path:
    tiny_sd_pipeline(seed).save_pretrained(str(path))
    return path


def save_tiny_clip(path: Path, seed: int = 0) -> Path:
    """A tiny random CLIPModel + processor (real tokenizer) to stand in for Denscore."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from longbench.text.tokenizer import load_clip_tokenizer

    torch.manual_seed(seed)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                         pad_token_id=49407),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=16)
    CLIPModel(cfg).save_pretrained(str(path))
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=load_clip_tokenizer()).save_pretrained(str(path))
    return path


def write_pairs(root: Path, n: int = 8, size: int = 16, seed: int = 0, captions: list[str] | None = None) -> Path:
    """``n`` coloured-noise images and long captions, as a JSONL file with relative image paths."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        base = rng.integers(0, 255, 3)
        arr = np.clip(base + rng.integers(-30, 30, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(root / "img" / f"{i}.png")
        caption = captions[i] if captions else " ".join(SENTENCES[j % len(SENTENCES)] for j in range(i, i + 3 + i % 4))
        rows.append({"image": f"img/{i}.png", "caption": caption})
    path = root / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def save_tiny_t5(path: Path, seed: int = 0) -> Path:
    """A tiny T5 encoder (CLIP vocabulary, so the real CLIP tokenizer can stand in for T5's)."""
    import torch
    from transformers import T5Config, T5EncoderModel

    from longbench.text.tokenizer import load_clip_tokenizer

    torch.manual_seed(seed)
    T5EncoderModel(T5Config(vocab_size=49408, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)).save_pretrained(
        str(path))
    load_clip_tokenizer().save_pretrained(str(path))
    return path
