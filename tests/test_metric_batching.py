"""One image batch, converted once (``longbench.images.ImageBatch``): exact conversion against numpy, the
batched tensor path of every CLIP-based metric against its PIL-list path and against the reference
preprocessing, metric-model dtypes recorded and refused where the device cannot run them, and the batched
token counting behind segment fitting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from longbench.errors import LongbenchError
from longbench.images import ImageBatch, as_image_batch
from longbench.suites.base import Item
from tests.helpers_clip import save_tiny_clip

PROMPTS = [
    "A red fox sits in the snow. The sky is pale blue; a lone pine stands left. Soft light falls.",
    "Two dogs run on a beach. They chase a ball. A gull watches from a post.",
    "A small boat on a calm lake. Mist hangs over the water. " + "Very " * 90 + "long clause, then the end.",
    "A bowl of fruit on a wooden table. Three lemons and one pear.",
    "City lights at night. Rain on the street. A tram turns the corner.",
]
#: Tolerance of the tensor path against the PIL path: the same uint8 pixels go through the same torch ops in
#: the same groups, so only kernel dispatch (memory layout, threads) can differ; 1e-5 on scores ×100.
SCORE_ATOL = 1e-5


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny", seed=5)


def _arrays(sizes, seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def _items() -> list[Item]:
    return [Item(id=f"i{k}", prompt=p) for k, p in enumerate(PROMPTS)]


# ---------------------------------------------------------------------- conversion
def test_same_size_batch_is_one_exact_uint8_tensor() -> None:
    arrs = _arrays([(20, 24)] * 4)
    gray = np.arange(20 * 24, dtype=np.uint8).reshape(20, 24)
    floats = np.linspace(0, 1, 20 * 24 * 3).reshape(20, 24, 3)
    images = [Image.fromarray(arrs[0]), arrs[1], torch.from_numpy(arrs[2]).permute(2, 0, 1),
              Image.fromarray(gray, "L"), floats, Image.fromarray(arrs[3]).convert("P", palette=Image.ADAPTIVE)]
    batch = ImageBatch.from_images(images)
    # by hand: HWC → CHW; gray replicated; floats round(255 x); a palette image expands through its palette
    palette = np.asarray(images[5].convert("RGB"))
    expected = np.stack([arrs[0], arrs[1], arrs[2], np.repeat(gray[:, :, None], 3, axis=2),
                         np.floor(floats * 255 + 0.5).astype(np.uint8), palette]).transpose(0, 3, 1, 2)
    assert batch.stacked is not None and batch.stacked.dtype == torch.uint8
    assert tuple(batch.stacked.shape) == (6, 3, 20, 24)
    assert np.array_equal(batch.stacked.numpy(), expected)
    assert len(batch) == 6 and np.array_equal(batch[4].numpy(), expected[4])
    assert batch.groups()[0][0] == list(range(6))
    assert np.array_equal(np.asarray(batch.pil(0)), arrs[0])


def test_decoded_batch_is_channels_last_and_one_copy() -> None:
    batch = ImageBatch.from_images([Image.fromarray(a) for a in _arrays([(16, 16)] * 3)])
    assert batch.stacked.is_contiguous(memory_format=torch.channels_last)  # the uint8 resize's fast layout
    given = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    kept = ImageBatch.from_images([given, given])
    assert kept.stacked.data_ptr() != given.data_ptr() and torch.equal(kept[1], given)
    assert as_image_batch(batch) is batch and batch.to("cpu") is batch


def test_mixed_sizes_keep_a_list_grouped_by_size() -> None:
    arrs = _arrays([(16, 16), (12, 20), (16, 16), (8, 8), (12, 20)])
    batch = as_image_batch([Image.fromarray(a) for a in arrs])
    assert batch.stacked is None
    assert batch.sizes == [(16, 16), (12, 20), (16, 16), (8, 8), (12, 20)]
    groups = batch.groups()
    assert sorted(i for idx, _ in groups for i in idx) == list(range(5))
    for idx, g in groups:
        assert torch.equal(g, torch.stack([torch.from_numpy(arrs[i]).permute(2, 0, 1) for i in idx]))
    sub = batch.select([3, 0])
    assert sub.sizes == [(8, 8), (16, 16)] and torch.equal(sub[1], batch[0])
    assert len(batch[1:3]) == 2 and torch.equal(batch[1:3][0], batch[1])


def test_conversion_errors_name_the_image() -> None:
    bad = np.full((4, 4, 3), 2.0)
    with pytest.raises(LongbenchError, match=r"^clipscore image 1: float image values must lie in \[0, 1\]"):
        ImageBatch.from_images([np.zeros((4, 4, 3), np.uint8), bad], where="clipscore image")
    with pytest.raises(LongbenchError, match=r"^fid image 0 \(item 'x'\): "):
        ImageBatch.from_images([bad], where=lambda i: f"fid image {i} (item 'x')")
    with pytest.raises(LongbenchError, match=r"uint8 \(B, 3, H, W\) tensor"):
        ImageBatch(torch.zeros(2, 3, 4, 4))


# ---------------------------------------------------------------------- metrics: tensor path = PIL path
def _pair(metric_factory, images_pil, items, split):
    """Per-sample scores of two metrics: one fed PIL lists, one fed ImageBatch, same batches."""
    a, b = metric_factory(), metric_factory()
    for lo, hi in split:
        a.update(images_pil[lo:hi], items[lo:hi])
        b.update(ImageBatch.from_images(images_pil[lo:hi]), items[lo:hi])
    return a, b


@pytest.mark.parametrize("name", ["clipscore", "denscore", "segment-align"])
def test_tensor_batch_scores_equal_pil_scores(clip_path, name) -> None:
    from longbench.metrics.clipscore import ClipScore
    from longbench.metrics.denscore import Denscore
    from longbench.metrics.segment_align import SegmentAlign

    factory = {"clipscore": lambda: ClipScore(str(clip_path)),
               "denscore": lambda: Denscore(str(clip_path), direction_prompts=PROMPTS),
               "segment-align": lambda: SegmentAlign(str(clip_path), others=2)}[name]
    sizes = [(64, 64), (48, 80), (64, 64), (64, 64), (48, 80)]  # mixed sizes within a batch
    images = [Image.fromarray(a) for a in _arrays(sizes, seed=1)]
    a, b = _pair(factory, images, _items(), [(0, 3), (3, 5)])
    for col, vals in a.per_sample().items():
        np.testing.assert_allclose(b.per_sample()[col], vals, atol=SCORE_ATOL, rtol=0, err_msg=col)
    segs_a, segs_b = a.per_segment(), b.per_segment()
    if segs_a is not None:
        for x, y in zip(segs_a, segs_b):
            np.testing.assert_allclose(y, x, atol=SCORE_ATOL, rtol=0)


def test_clip_batch_preprocessing_equals_image_processor(clip_path) -> None:
    """Independent reference: transformers' CLIPImageProcessor on the same uint8 images."""
    from transformers import CLIPImageProcessor

    from longbench.metrics.clip_models import load_clip_scorer

    scorer = load_clip_scorer(str(clip_path))
    arrs = _arrays([(64, 64), (48, 80), (64, 64)], seed=2)
    ours = scorer.standard_pixels(ImageBatch.from_images([Image.fromarray(a) for a in arrs]))
    theirs = CLIPImageProcessor()(images=arrs, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_denscore_uint8_preprocessing_equals_float_reference() -> None:
    """Cropping before the float conversion, and the contiguous float copy, change no value: compared with
    the float path (crop of x/255, then resize) and with torchvision's Compose the reference reward uses."""
    from torchvision import transforms

    from longbench.metrics.functional.denscore import eval_preprocess, reward_preprocess

    u8 = ImageBatch.from_images([Image.fromarray(a) for a in _arrays([(512, 512)] * 2, seed=3)]).stacked
    ours = eval_preprocess(u8)
    torch.testing.assert_close(ours, reward_preprocess(u8.float() / 255), atol=1e-6, rtol=0)
    ref = transforms.Compose([transforms.CenterCrop((504, 504)), transforms.Resize((224, 224), antialias=True),
                              transforms.Normalize((0.48145466, 0.4578275, 0.40821073),
                                                   (0.26862954, 0.26130258, 0.27577711))])
    torch.testing.assert_close(ours, ref(u8.contiguous().float() / 255), atol=1e-5, rtol=0)
    with pytest.raises(LongbenchError, match="expected a uint8 batch"):
        eval_preprocess(u8.float())


def test_metric_state_survives_inference_mode(clip_path) -> None:
    """Scores are computed under torch.inference_mode; the kept states still compute, reset and refill."""
    from longbench.metrics.segment_align import SegmentAlign

    metric = SegmentAlign(str(clip_path), others=2)
    images = ImageBatch.from_images(_arrays([(32, 32)] * 3, seed=4))
    metric.update(images, _items()[:3])
    first = metric.compute()
    metric.reset()
    metric.update(images, _items()[:3])
    assert metric.compute() == pytest.approx(first, abs=1e-9, nan_ok=True)


# ---------------------------------------------------------------------- dtypes
def test_bfloat16_is_recorded_and_close(clip_path) -> None:
    from longbench.metrics.clipscore import ClipScore

    images = ImageBatch.from_images(_arrays([(64, 64)] * 4, seed=6))
    prompts = PROMPTS[:4]
    f32, bf16 = ClipScore(str(clip_path)), ClipScore(str(clip_path), dtype="bfloat16")
    assert f32.protocol()["model"]["dtype"] == "float32" and bf16.protocol()["model"]["dtype"] == "bfloat16"
    cos32 = f32.scorer.image_features(f32.scorer.standard_pixels(images)).float()
    cos16 = bf16.scorer.image_features(bf16.scorer.standard_pixels(images)).float()
    # bfloat16 keeps 8 bits of mantissa: the tiny model's features agree to a few per cent
    torch.testing.assert_close(cos16, cos32, atol=0.05 * float(cos32.abs().max()), rtol=0)
    f32.update(images, prompts)
    bf16.update(images, prompts)
    assert len(bf16.per_sample()["clipscore"]) == 4


def test_float16_on_cpu_is_refused_in_one_line(clip_path) -> None:
    from longbench.metrics.denscore import Denscore

    with pytest.raises(LongbenchError) as e:
        Denscore(str(clip_path), direction_prompts=PROMPTS, dtype="float16", device="cpu")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("denscore model dtype float16 on cpu: refused")


def test_device_dtype_rules(monkeypatch) -> None:
    from longbench.devices import device_dtype

    assert device_dtype("float32", "cpu") == torch.float32
    assert device_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(LongbenchError, match=r"^dtype 'float64': expected one of float32, float16, bfloat16$"):
        device_dtype("float64", "cpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    with pytest.raises(LongbenchError, match=r"^count dtype bfloat16 on cuda:0: this GPU has no native bfloat16"):
        device_dtype("bfloat16", "cuda:0", "count dtype")
    assert device_dtype("float16", "cuda:0") == torch.float16  # every CUDA GPU runs half precision


# ---------------------------------------------------------------------- text side
def test_batched_token_counts_and_padding_equal_the_tokenizer(clip_path) -> None:
    from longbench.metrics.clip_models import load_clip_scorer

    scorer = load_clip_scorer(str(clip_path))
    texts = ["", "a cat.", "Ünïcode façade — naïve café!!", "word " * 90] + [p for p in PROMPTS]
    single = [len(scorer.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    scorer.prime_token_counts(texts)
    assert [scorer.count_tokens(t) for t in texts] == single
    short = [t for t, n in zip(texts, single) if n <= 75]
    ours = scorer.tokenize(short)  # built from the kept ids, no second encoding
    theirs = scorer.tokenizer(short, padding="longest", truncation=True, max_length=77, return_tensors="pt")
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["attention_mask"], theirs["attention_mask"])
    long = scorer.tokenize(texts)  # a text over the context: the tokenizer truncates it
    assert long["input_ids"].shape[1] == 77


def test_segment_fitting_in_one_pass_equals_sentence_by_sentence(clip_path) -> None:
    from longbench.metrics.segment_align import SegmentAlign

    items = _items() + [Item(id="g", prompt="x", segments=["Given one. ", "Given " + "two " * 80 + "end."])]
    fast = SegmentAlign(str(clip_path))
    fast._fit_new(items[:2])  # some counts known before the next items arrive
    fast._fit_new(items)
    slow = SegmentAlign(str(clip_path))
    for it in items:
        assert fast._segments_cached(it) == slow.segments_of(it)
    assert any(len(fast._segments_cached(it)) > 2 for it in items)  # the overlong sentence was cut


# ---------------------------------------------------------------------- count (OWLv2)
@pytest.fixture(scope="module")
def owl_path(tmp_path_factory):
    from tests.helpers_count import save_tiny_owlv2

    return save_tiny_owlv2(tmp_path_factory.mktemp("owl") / "tiny-owlv2", seed=2)


def test_owlv2_tensor_batch_equals_processor_on_pil(owl_path) -> None:
    """Independent reference: the transformers processor on PIL images and the model, one forward."""
    from transformers import Owlv2ForObjectDetection, Owlv2Processor

    from longbench.metrics.count import Owlv2Detector

    proc = Owlv2Processor.from_pretrained(str(owl_path))
    model = Owlv2ForObjectDetection.from_pretrained(str(owl_path)).eval()
    detector = Owlv2Detector(model, proc)
    arrs = _arrays([(48, 64), (64, 40)], seed=7)  # mixed sizes: padded to squares of different sides
    queries = [["cat", "dog"], ["bird"]]
    ours = detector.detect(ImageBatch.from_images(arrs), queries)
    with torch.no_grad():
        out = model(**proc(text=queries, images=[Image.fromarray(a) for a in arrs], return_tensors="pt"))
    for b, (arr, qs) in enumerate(zip(arrs, queries)):
        cx, cy, w, h = out.pred_boxes[b].unbind(-1)
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * max(arr.shape[:2])
        for j in range(len(qs)):
            torch.testing.assert_close(ours[b][j][0], boxes, atol=1e-5, rtol=0)
            torch.testing.assert_close(ours[b][j][1], torch.sigmoid(out.logits[b, :, j]), atol=1e-6, rtol=0)


def test_count_tensor_batch_equals_pil_list(owl_path) -> None:
    from longbench.metrics.count import CountMetric
    from longbench.suites.base import Entity

    items = [Item(id="a", prompt="two cats", entities=(Entity("cat", 2),)),
             Item(id="b", prompt="nothing to count here", entities=()),
             Item(id="c", prompt="a dog and no birds", entities=(Entity("dog", 1), Entity("bird", 0)))]
    images = [Image.fromarray(a) for a in _arrays([(48, 64), (32, 32), (64, 40)], seed=8)]
    a = CountMetric(model=str(owl_path), score_threshold=0.45)
    b = CountMetric(model=str(owl_path), score_threshold=0.45)
    a.update(images, items)
    b.update(ImageBatch.from_images(images), items)
    for col, vals in a.per_sample().items():
        assert b.per_sample()[col] == pytest.approx(vals, nan_ok=True), col
    assert int(b.n_detector) == 2  # the image without entities is never shown to the detector


def test_count_dtype_recorded_and_refused(owl_path) -> None:
    from longbench.metrics.count import CountMetric
    from longbench.suites.base import Entity

    metric = CountMetric(model=str(owl_path), dtype="bfloat16")
    metric.update(_arrays([(32, 32)]), [Item(id="a", prompt="a cat", entities=(Entity("cat", 1),))])
    assert metric.protocol()["dtype"] == "bfloat16"
    with pytest.raises(LongbenchError, match=r"^count dtype float16 on cpu: refused"):
        CountMetric(model=str(owl_path), dtype="float16").detector  # noqa: B018 (loading is what is tested)


# ---------------------------------------------------------------------- FID: layout option
def test_fid_channels_last_is_recorded_and_close(tmp_path) -> None:
    from longbench.metrics.fid_features import InceptionFeatures
    from tests.helpers_fid import make_inception_weights, random_images

    weights = make_inception_weights(tmp_path / "inception.pth")
    plain, cl = InceptionFeatures(weights), InceptionFeatures(weights, channels_last=True)
    assert "memory_format" not in plain.describe()  # the default protocol is unchanged
    assert cl.describe()["memory_format"] == "channels_last"
    images = ImageBatch(torch.stack(random_images(2, seed=1, size=24)))
    a, b = plain(images), cl(images)
    # other convolution kernels: the same features up to float32 rounding of the sums
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4 * float(a.abs().max()))


# ---------------------------------------------------------------------- metrics without weights
@pytest.mark.parametrize("suite_name, model, metric, options", [
    ("synth-v0", "synth:oracle", "synth", {}),
    ("synth-v0", "synth:clip77", "vqa", {"judge": "synth"}),
    ("synth-v0", "synth:clip77", "count", {"detector": "synth"}),
    ("mini-v0", "mini:clip77", "mini", {}),
])
def test_exact_metrics_take_the_batch_as_is(suite_name, model, metric, options) -> None:
    """What the runner will hand every metric: one ImageBatch; metrics that read images one at a time get
    uint8 (3, H, W) tensors from it and must score them exactly as the PIL images."""
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.models.base import Request, build_model
    from longbench.suites.loaders import load_suite

    suite = load_suite(suite_name)
    items = suite.items[:4]
    images = build_model(model).generate([Request(it, seed=k) for k, it in enumerate(items)])
    a = build_metric(metric, MetricContext(suite=suite), dict(options))
    b = build_metric(metric, MetricContext(suite=suite), dict(options))
    a.update(images, items)
    b.update(ImageBatch.from_images(images), items)
    for col, vals in a.per_sample().items():
        np.testing.assert_array_equal(np.array(b.per_sample()[col]), np.array(vals), err_msg=col)
