"""Random-weight FID networks saved to disk, to be loaded back through the real loading paths."""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: a tiny open_clip CLIP (ViT image tower 32×32, 16-d embeddings) with the CLIP vocabulary
TINY_OPEN_CLIP_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def make_inception_weights(path: Path, seed: int = 0) -> Path:
    """Save a torch-fidelity Inception-v3 state dict with random weights to ``path``.

    The network is built from its own class (its constructor's weight loading is bypassed), then its batch
    norms are calibrated on random images so that the pool features vary across images as real ones do.
    """
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as fe

    torch.manual_seed(seed)
    with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None):
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batch
    net.train()
    with torch.no_grad():
        net(torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8))
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    net.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


def make_tiny_open_clip(directory: Path, seed: int = 0) -> Path:
    """An open_clip model directory (``open_clip_config.json`` + ``open_clip_model.safetensors``)."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_OPEN_CLIP_CFG)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": TINY_OPEN_CLIP_CFG,
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                           "interpolation": "bicubic", "resize_mode": "shortest"}}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "open_clip_model.safetensors"))
    return directory


def random_images(n: int, seed: int, size: int = 24, low: int = 0, high: int = 256) -> list[torch.Tensor]:
    """``n`` uint8 (3, size, size) images with a per-image brightness offset (so features spread)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        base = int(torch.randint(low, max(low + 1, high - 64), (1,), generator=g))
        out.append((base + torch.randint(0, 64, (3, size, size), generator=g)).clamp(0, 255).to(torch.uint8))
    return out
