"""CLIPScore against torchmetrics' CLIPScore on the same tiny model and processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers_clip import features, save_tiny_clip

PROMPTS = ["a red fox in the snow", "two dogs chase a ball on a beach at sunset", "a lone pine tree",
           "an astronaut riding a horse", "a bowl of fruit on a wooden table", "city lights at night",
           "a small boat on a calm lake", "three cats sleeping on a sofa"]


class TensorFeatures(torch.nn.Module):
    """torchmetrics 1.9 expects tensors from get_*_features; transformers 5 returns output objects."""

    def __init__(self, model):
        super().__init__()
        self.inner = model
        self.config = model.config

    def get_image_features(self, *args, **kwargs):
        return features(self.inner.get_image_features(*args, **kwargs))

    def get_text_features(self, *args, **kwargs):
        return features(self.inner.get_text_features(*args, **kwargs))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import CLIPModel, CLIPProcessor

    path = save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny", seed=3)
    model = CLIPModel.from_pretrained(str(path), local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(str(path), local_files_only=True)
    return path, TensorFeatures(model), processor


def _uint8_images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    sizes = [(256, 256), (240, 320)]
    return [torch.randint(0, 256, (3, *sizes[i % 2]), generator=g, dtype=torch.uint8) for i in range(n)]


def _pil(images):
    from PIL import Image

    return [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in images]


def test_per_image_scores_equal_torchmetrics(tiny):
    from torchmetrics.functional.multimodal import clip_score

    from longbench.metrics.clipscore import ClipScore

    path, wrapped, processor = tiny
    images = _uint8_images(len(PROMPTS))
    metric = ClipScore(str(path))
    metric.update(_pil(images[:3]), PROMPTS[:3])
    metric.update(_pil(images[3:]), PROMPTS[3:])
    ours = np.array(metric.per_sample()["clipscore"])
    with torch.no_grad():
        theirs = np.array([float(clip_score(im, p, model_name_or_path=lambda: (wrapped, processor)))
                           for im, p in zip(images, PROMPTS)])
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert (ours == 0).any() and (ours > 0).any()  # the random model gives both clamped and positive scores
    assert metric.compute()["clipscore"] == pytest.approx(ours.mean())


def test_mean_equals_torchmetrics_class_when_scores_positive(tiny):
    from torchmetrics.multimodal import CLIPScore

    from longbench.metrics.clipscore import ClipScore

    _, wrapped, processor = tiny
    images = _uint8_images(len(PROMPTS))
    ours = ClipScore(wrapped.inner, processor)
    ours.update(_pil(images), PROMPTS)
    keep = [i for i, s in enumerate(ours.per_sample()["clipscore"]) if s > 0]
    assert len(keep) >= 2
    sub = ClipScore(wrapped.inner, processor)
    sub.update(_pil([images[i] for i in keep]), [PROMPTS[i] for i in keep])
    tm = CLIPScore(model_name_or_path=lambda: (wrapped, processor))
    tm.update([images[i] for i in keep], [PROMPTS[i] for i in keep])
    assert sub.compute()["clipscore"] == pytest.approx(float(tm.compute()), abs=1e-4)


def test_batched_preprocessing_equals_image_processor(tiny):
    from longbench.images import to_uint8_tensors
    from longbench.metrics.clip_models import ClipScorer

    _, wrapped, processor = tiny
    scorer = ClipScorer.wrap(wrapped.inner, processor)
    images = _uint8_images(5, seed=4)  # two sizes, interleaved
    ours = scorer.standard_pixels(to_uint8_tensors(_pil(images)))
    theirs = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    processor.image_processor.do_center_crop = False  # a non-standard processor is called as is
    try:
        assert scorer._standard_spec() is None
    finally:
        processor.image_processor.do_center_crop = True


def test_long_prompt_is_truncated_at_77_tokens(tiny):
    from longbench.metrics.clipscore import ClipScore

    _, wrapped, processor = tiny
    long_prompt = "a red fox " + "and a very tall green tree " * 30
    images = _uint8_images(1, seed=9)
    metric = ClipScore(wrapped.inner, processor)
    metric.update(_pil(images), [long_prompt])
    enc = processor.tokenizer([long_prompt], truncation=True, max_length=77, padding="max_length", return_tensors="pt")
    assert enc["input_ids"][0, -1] == 49407  # the end token survives truncation
    with torch.no_grad():
        t = wrapped.get_text_features(**enc)
        x = wrapped.get_image_features(processor.image_processor(images=images, return_tensors="pt")["pixel_values"])
    expected = max(0.0, 100 * float(torch.nn.functional.cosine_similarity(t, x)))
    assert metric.per_sample()["clipscore"][0] == pytest.approx(expected, abs=1e-4)


def test_registered_and_protocol(tiny):
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.suites.base import Item, Suite

    path, _, _ = tiny
    suite = Suite("t", "1", [Item(id="a", prompt="a cat")])
    metric = build_metric("clipscore", MetricContext(suite=suite), {"model": str(path)})
    proto = metric.protocol()
    assert proto["model"]["model"] == str(path) and proto["model"]["context_length"] == 77
    metric.update(_pil(_uint8_images(1)), suite.items)
    assert len(metric.per_sample()["clipscore"]) == 1


def test_nan_image_is_clear_error(tiny):
    from longbench.errors import LongbenchError
    from longbench.metrics.clipscore import ClipScore

    _, wrapped, processor = tiny
    metric = ClipScore(wrapped.inner, processor)
    bad = np.full((8, 8, 3), np.nan, dtype=np.float32)
    with pytest.raises(LongbenchError, match="NaN or inf"):
        metric.update([bad], ["a cat"])
    black = np.zeros((64, 64, 3), dtype=np.uint8)
    metric.update([black], ["a cat"])
    assert np.isfinite(metric.per_sample()["clipscore"]).all()
