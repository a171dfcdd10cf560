"""Denscore / Denscore-O against an independent computation that follows the reference reward's math."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from longbench.errors import LongbenchError, MissingWeightsError
from longbench.suites.base import Item, Suite
from tests.helpers_clip import features, save_tiny_clip

PROMPTS = [
    "A red fox sits in the snow. The sky is pale blue; a lone pine stands left? Soft light.",
    "a cat on a mat with no sentence end at all",
    "Two dogs run! They chase a ball. " + "very " * 90 + "long sentence that overflows.",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModel, AutoProcessor

    path = save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny", seed=0)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    processor = AutoProcessor.from_pretrained(str(path), local_files_only=True)
    return path, model, processor


def _images(n: int, size: int = 512, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


# --- independent reference: written from the reference reward's math, not from longbench ------------------
def _ref_split(caption: str) -> list[str]:
    parts = [p + "." for p in re.split(r'"!|\.|\?|;"', caption) if len(p) > 0]
    return parts or [caption]


def _ref_dense(images, prompts, model, processor, *, ortho_weight=None, direction=None):
    from torchvision import transforms

    tf = transforms.Compose([
        transforms.CenterCrop((504, 504)),
        transforms.Resize((224, 224)),
        transforms.Normalize(mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711)),
    ])
    img = features(model.get_image_features(pixel_values=tf(images)))
    img = img / img.norm(dim=-1, keepdim=True)
    sentences, ids = [], []
    for i, p in enumerate(prompts):
        s = _ref_split(p)
        sentences += s
        ids += [i] * len(s)
    with torch.no_grad():
        enc = processor(text=sentences, padding="max_length", truncation=True, max_length=77, return_tensors="pt")
        txt = features(model.get_text_features(**enc))
        txt = txt / txt.norm(dim=-1, keepdim=True)
        ids_t = torch.tensor(ids)
        per_prompt = torch.stack([txt[ids_t == i].mean(dim=0) for i in range(len(prompts))])
    if ortho_weight is not None:
        v = per_prompt.mean(dim=0) if direction is None else direction
        v = (v / v.norm())[None]
        per_prompt = per_prompt - (1 - ortho_weight) * torch.sum(per_prompt * v, dim=-1, keepdim=True) * v
    return torch.diagonal(per_prompt @ img.T)


# --- tests ----------------------------------------------------------------------------------------------
def test_plain_score_matches_reference(tiny):
    from longbench.metrics.denscore import score

    _, model, processor = tiny
    images = _images(3)
    ours = score(images, PROMPTS, model, processor)
    ref = _ref_dense(images, PROMPTS, model, processor)
    assert ours.shape == (3,)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_reweighted_score_matches_reference(tiny):
    from longbench.metrics.denscore import score, suite_direction

    _, model, processor = tiny
    images = _images(3, seed=1)
    v, h = suite_direction(PROMPTS, model, processor)  # over this "suite" = the batch, as in training
    ours = score(images, PROMPTS, model, processor, omega=0.3, direction=v)
    ref = _ref_dense(images, PROMPTS, model, processor, ortho_weight=0.3)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    assert isinstance(h, str) and len(h) == 16


def test_omega_formula_is_linear_interpolation(tiny):
    from longbench.metrics.denscore import score

    _, model, processor = tiny
    images = _images(3, seed=2)
    g = torch.Generator().manual_seed(5)
    v = torch.randn(16, generator=g)
    v = v / v.norm()
    plain = score(images, PROMPTS, model, processor)
    s0 = score(images, PROMPTS, model, processor, omega=0.0, direction=v)
    s1 = score(images, PROMPTS, model, processor, omega=1.0, direction=v)
    s03 = score(images, PROMPTS, model, processor, omega=0.3, direction=v)
    torch.testing.assert_close(s1, plain, atol=1e-6, rtol=0)
    torch.testing.assert_close(s03, 0.3 * plain + 0.7 * s0, atol=1e-6, rtol=0)
    # the removed part is (c·V)(x·V): check with explicit vectors
    ref = _ref_dense(images, PROMPTS, model, processor, ortho_weight=0.0, direction=v)
    torch.testing.assert_close(s0, ref, atol=1e-5, rtol=0)


def test_gradient_flows_to_images_only(tiny):
    from longbench.metrics.denscore import score

    _, model, processor = tiny
    images = _images(2, seed=3).requires_grad_(True)
    out = score(images, PROMPTS[:2], model, processor, omega=0.3, direction=torch.ones(16))
    (0.5 * (1 - out.mean())).backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    # the 4-pixel border cropped away gets no gradient
    assert images.grad[..., :4, :].abs().sum() == 0
    # the text side carries no gradient (the image tower is the caller's to freeze, as load_clip_scorer does)
    assert all(p.grad is None for p in model.text_model.parameters())
    assert all(p.grad is None for p in model.text_projection.parameters())
    model.zero_grad(set_to_none=True)


def test_non_512_input_crops_same_fraction(tiny):
    from longbench.metrics.functional.denscore import crop_box, reward_preprocess

    assert crop_box(512, 512) == (504, 504)
    assert crop_box(256, 384) == (252, 378)
    x = reward_preprocess(_images(1, size=256))
    assert x.shape == (1, 3, 224, 224)


def test_bad_images_are_clear_errors(tiny):
    from longbench.metrics.denscore import score

    _, model, processor = tiny
    bad = _images(1)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(LongbenchError, match="NaN or inf"):
        score(bad, PROMPTS[:1], model, processor)
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(LongbenchError, match="NaN or inf"):
        score(bad, PROMPTS[:1], model, processor)
    with pytest.raises(LongbenchError, match="in \\[0,1\\]"):
        score(_images(1) * 255, PROMPTS[:1], model, processor)
    with pytest.raises(LongbenchError, match="2 images but 1 prompts"):
        score(_images(2), PROMPTS[:1], model, processor)
    with pytest.raises(LongbenchError, match="needs a direction"):
        score(_images(1), PROMPTS[:1], model, processor, omega=0.3)
    with pytest.raises(LongbenchError, match="non-zero"):
        score(_images(1), PROMPTS[:1], model, processor, omega=0.3, direction=torch.zeros(16))


def test_all_black_image_gives_finite_score(tiny):
    from longbench.metrics.denscore import score

    _, model, processor = tiny
    out = score(torch.zeros(1, 3, 512, 512), PROMPTS[1:2], model, processor)
    assert torch.isfinite(out).all()


def _suite() -> Suite:
    extra = ["Green hills under rain. A red barn.", "Sunset over the sea; gulls fly."]
    return Suite("t", "1", [Item(id=f"i{i}", prompt=p) for i, p in enumerate(PROMPTS + extra)])


def _pil(images: torch.Tensor):
    from PIL import Image

    arr = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(a) for a in arr]


def test_metric_columns_direction_and_segments(tiny):
    from longbench.metrics.base import MetricContext, build_metric

    path, model, processor = tiny
    suite = _suite()
    metric = build_metric("denscore", MetricContext(suite=suite),
                          {"model": str(path), "processor": str(path)})
    pil = _pil(_images(3, seed=4))
    items = suite.items[:3]
    metric.update(pil[:2], items[:2])
    metric.update(pil[2:], items[2:])
    # independent: V over the whole suite (5 prompts), images after the uint8 round trip
    floats = torch.stack([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in pil]).float() / 255
    all_prompts = [it.prompt for it in suite.items]
    ref_all = _ref_prompt_vectors(all_prompts, model, processor)
    v = ref_all.mean(0)
    v = v / v.norm()
    plain = _ref_dense(floats, PROMPTS, model, processor)
    relevant = _ref_dense(floats, PROMPTS, model, processor, ortho_weight=0.0, direction=v)
    per = metric.per_sample()
    np.testing.assert_allclose(per["denscore-o"], 100 * plain.detach().numpy(), atol=1e-3)
    np.testing.assert_allclose(per["denscore"], 100 * relevant.detach().numpy(), atol=1e-3)
    out = metric.compute()
    assert out["denscore"] == pytest.approx(float(np.mean(per["denscore"])))
    segs = metric.per_segment()
    assert [len(s) for s in segs] == [len(_ref_split(p)) for p in PROMPTS]
    # Denscore-O is the mean of the per-segment scores (the prompt vector is their mean)
    assert np.mean(segs[0]) == pytest.approx(per["denscore-o"][0], abs=1e-4)
    proto = metric.protocol()
    from longbench.metrics.functional.denscore import direction_hash

    assert proto["direction_hash"] == direction_hash(v)
    assert proto["splitter"] == "longalign" and proto["direction_source"].startswith("suite:t@1:")
    assert proto["direction_prompts"] == 5


def _ref_prompt_vectors(prompts, model, processor):
    out = []
    with torch.no_grad():
        for p in prompts:
            enc = processor(text=_ref_split(p), padding="max_length", truncation=True, max_length=77,
                            return_tensors="pt")
            t = features(model.get_text_features(**enc))
            out.append((t / t.norm(dim=-1, keepdim=True)).mean(0))
    return torch.stack(out)


def test_default_splitter_never_truncates(tiny):
    from longbench.metrics.clip_models import ClipScorer
    from longbench.metrics.denscore import split_prompts

    _, model, processor = tiny
    scorer = ClipScorer.wrap(model, processor)
    segs, owners = split_prompts(PROMPTS, scorer, "default")
    assert all(scorer.count_tokens(s) <= 75 for s in segs)
    assert owners.count(2) >= 3  # the overlong sentence was cut
    with pytest.raises(LongbenchError, match="unknown splitter"):
        split_prompts(PROMPTS, scorer, "nltk")


def test_text_cache_avoids_recomputation(tiny):
    from longbench.metrics.clip_models import ClipScorer

    _, model, processor = tiny
    scorer = ClipScorer.wrap(model, processor)
    calls = []
    orig = scorer.text_features
    scorer.text_features = lambda texts: calls.append(list(texts)) or orig(texts)
    scorer.normalized_text_features(["a.", "b.", "a."])
    scorer.normalized_text_features(["b.", "c."])
    assert calls == [["a.", "b."], ["c."]]


def test_loader_errors_and_tokenizer_fallback(tmp_path):
    from longbench.metrics.clip_models import load_clip_scorer

    bare = save_tiny_clip(tmp_path / "bare", seed=1, with_processor=False)
    with pytest.raises(MissingWeightsError, match="tokenizer_fallback"):
        load_clip_scorer(str(bare))
    scorer = load_clip_scorer(str(bare), tokenizer_fallback=True)
    assert scorer.identity["tokenizer"] == "longbench-clip-bpe"
    assert scorer.text_features(["a dog."]).shape == (1, 16)
    with pytest.raises(MissingWeightsError, match="does not exist"):
        load_clip_scorer(str(tmp_path / "nope"))
    with pytest.raises(MissingWeightsError, match="not found offline"):
        load_clip_scorer("no-such-org/no-such-model")


def test_metric_needs_direction(tiny):
    from longbench.metrics.denscore import Denscore

    _, model, processor = tiny
    with pytest.raises(LongbenchError, match="direction"):
        Denscore(model, processor)


def test_open_clip_model(tmp_path):
    import json

    import open_clip

    from longbench.metrics.clip_models import load_clip_scorer
    from longbench.metrics.denscore import score
    from longbench.metrics.functional.denscore import reward_preprocess

    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 224, "layers": 2, "width": 32, "patch_size": 32, "head_width": 8},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2}}
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "lbtest-tiny-vit.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / "cfg")
    torch.manual_seed(0)
    model = open_clip.create_model("lbtest-tiny-vit")
    ckpt = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), ckpt)
    scorer = load_clip_scorer(f"open_clip:lbtest-tiny-vit:{ckpt}")
    assert scorer.kind == "open_clip" and scorer.image_size == 224
    out = score(_images(1, size=256), PROMPTS[:1], scorer, None)
    assert out.shape == (1,) and torch.isfinite(out).all()
    with torch.no_grad():  # same math by hand
        x = model.eval().encode_image(reward_preprocess(_images(1, size=256)))
        x = x / x.norm(dim=-1, keepdim=True)
        t = model.encode_text(open_clip.get_tokenizer("lbtest-tiny-vit")(_ref_split(PROMPTS[0])))
        c = (t / t.norm(dim=-1, keepdim=True)).mean(0)
    assert float(out[0]) == pytest.approx(float(x[0] @ c), abs=1e-5)
    with pytest.raises(LongbenchError, match="ARCH:PRETRAINED_PATH"):
        load_clip_scorer("open_clip:lbtest-tiny-vit")
    with pytest.raises(LongbenchError, match="unknown open_clip architecture"):
        load_clip_scorer(f"open_clip:nope-arch:{ckpt}")
