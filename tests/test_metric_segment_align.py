"""segment-align: hand-checked coverage, an independent numpy computation, order invariance, edge cases."""

from __future__ import annotations

import hashlib
import math
import random

import numpy as np
import pytest
import torch

from longbench.suites.base import Item
from tests.helpers_clip import features, save_tiny_clip


def test_coverage_hand_checked():
    from longbench.metrics.segment_align import segment_coverage

    # 3 images on the unit circle; image 0 has two segments, image 1 one, image 2 one.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    s = torch.tensor([[1.0, 0.0],      # seg of 0: own 1, vs img1 0, vs img2 -1 → wins 2/2
                      [0.0, 1.0],      # seg of 0: own 0, vs img1 1 (loss), vs img2 0 (tie) → 0.5/2
                      [0.0, 1.0],      # seg of 1: own 1, vs img0 0 → win
                      [1.0, 0.0]])     # seg of 2: own -1, vs img0 1 → loss
    owners = torch.tensor([0, 0, 1, 2])
    cov = segment_coverage(x, s, owners, [[1, 2], [0], [0]])
    assert cov.tolist() == pytest.approx([(1.0 + 0.25) / 2, 1.0, 0.0])
    assert math.isnan(segment_coverage(x, s, owners, [[], [0], [0]])[0])


def test_coverage_random_against_loop_and_at_scale():
    import time

    from longbench.metrics.segment_align import segment_coverage

    g = torch.Generator().manual_seed(0)
    n, d = 30, 8
    x = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)
    counts = torch.randint(1, 5, (n,), generator=g)
    owners = torch.repeat_interleave(torch.arange(n), counts)
    s = torch.nn.functional.normalize(torch.randn(len(owners), d, generator=g), dim=-1)
    others = [[(i + j) % n for j in range(1, 1 + (i % 6))] for i in range(n)]  # 0..5 others, image 0 none
    got = segment_coverage(x, s, owners, others)
    for i in range(n):
        rows = [r for r in range(len(owners)) if owners[r] == i]
        if not others[i]:
            assert math.isnan(got[i])
            continue
        rates = [np.mean([float(s[r] @ x[i] > s[r] @ x[o]) for o in others[i]]) for r in rows]
        assert float(got[i]) == pytest.approx(np.mean(rates), abs=1e-12)
    # 2,000 images × 8 segments × K=16 stays fast and memory-bounded
    big_n, big_d = 2000, 64
    xb = torch.nn.functional.normalize(torch.randn(big_n, big_d, generator=g), dim=-1)
    ob = torch.arange(big_n).repeat_interleave(8)
    sb = torch.nn.functional.normalize(torch.randn(len(ob), big_d, generator=g), dim=-1)
    t0 = time.perf_counter()
    cov = segment_coverage(xb, sb, ob, [[(i + j) % big_n for j in range(1, 17)] for i in range(big_n)])
    assert time.perf_counter() - t0 < 10 and abs(float(cov.mean()) - 0.5) < 0.02  # chance level


def test_other_items_are_earlier_items_fixed_by_id():
    import random

    from longbench.metrics.segment_align import other_items, other_sets

    assert other_items(0, 123, k=3) == []
    assert other_items(2, 123, k=3) == [0, 1]
    assert other_items(3, 123, k=3) == [0, 1, 2]
    picked = other_items(40, 123, k=3)
    # transcription of the documented rule: random.Random(key).sample of the earlier positions
    assert picked == sorted(random.Random(123).sample(range(40), 3))
    assert len(set(picked)) == 3 and all(0 <= p < 40 for p in picked)
    assert other_items(40, 124, k=3) != picked or other_items(40, 125, k=3) != picked  # the key matters
    # samples 0 and 2 are images of one item (key 5); the suite order is 1, 3, 5, then 9 (not in it)
    keys = torch.tensor([5, 1, 5, 3, 9])
    sets = other_sets(keys, {1: 0, 3: 1, 5: 2}, k=2)
    assert sets[1] == []  # first item of the suite
    assert sets[3] == [1]
    assert sets[0] == sets[2] == [1, 3]  # both earlier items, never its own other image
    # key 9 comes after the suite (position 3): 2 of the 3 suite items, with all their images
    assert sets[4] == [j for p in other_items(3, 9, 2) for j in {0: [1], 1: [3], 2: [0, 2]}[p]]
    assert len(sets[4]) in (2, 3)
    # without a suite the run's items ordered by key take its place
    assert other_sets(keys, {}, k=2)[1] == [] and other_sets(keys, {}, k=2)[3] == [1]
    assert other_sets(torch.tensor([7, 7]), {}, k=3) == [[], []]


def test_prefix_of_the_suite_keeps_every_set():
    """--limit N scores the first N items: their other items are all among them."""
    from longbench.metrics.segment_align import item_key, other_sets

    ids = [f"item-{i}" for i in range(50)]
    order = {item_key(i): p for p, i in enumerate(ids)}
    full = other_sets(torch.tensor([item_key(i) for i in ids]), order, k=4)
    for n in (1, 5, 17, 50):
        part = other_sets(torch.tensor([item_key(i) for i in ids[:n]]), order, k=4)
        assert part == full[:n]
    assert [len(s) for s in full[:6]] == [0, 1, 2, 3, 4, 4]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import CLIPModel, CLIPProcessor

    path = save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny", seed=7)
    model = CLIPModel.from_pretrained(str(path), local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(str(path), local_files_only=True)
    return path, model, processor


ITEMS = [
    Item(id="a", prompt="A red fox in snow. A pine tree on the left! Pale sky."),
    Item(id="b", prompt="Two dogs chase a ball", segments=("Two dogs chase a ball",)),
    Item(id="c", prompt="A boat on a lake. " + "The water is very " + "very " * 80 + "calm."),
    Item(id="d", prompt="City lights at night; rain on the road."),
    Item(id="e", prompt="A bowl of fruit. A wooden table."),
]


def _images(n, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)) for _ in range(n)]


def test_metric_equals_independent_computation(tiny):
    from longbench.metrics.segment_align import SegmentAlign
    from longbench.text.splitters import split_default

    path, model, processor = tiny
    images = _images(5)
    metric = SegmentAlign(str(path), others=2)
    metric.update(images[:2], ITEMS[:2])
    metric.update(images[2:], ITEMS[2:])
    per = metric.per_sample()
    segs_out = metric.per_segment()

    tok = processor.tokenizer
    count = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        pix = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        x = features(model.get_image_features(pixel_values=pix)).double()
        x = (x / x.norm(dim=-1, keepdim=True)).numpy()
        segs = [list(it.segments) if it.segments else split_default(it.prompt, count, 75) for it in ITEMS]
        assert all(count(s) <= 75 for ss in segs for s in ss) and len(segs[2]) >= 3
        seg_vecs = []
        for ss in segs:
            enc = tok(ss, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
            t = features(model.get_text_features(**enc)).double()
            seg_vecs.append((t / t.norm(dim=-1, keepdim=True)).numpy())
    # no suite: the run's items ordered by their key (first 8 bytes of sha256(id), signed); each item is
    # compared with 2 of the items before it, drawn with random.Random(key) (here: all of them, k=2)
    keys = [int.from_bytes(hashlib.sha256(it.id.encode()).digest()[:8], "big", signed=True) for it in ITEMS]
    order = sorted(range(5), key=lambda i: keys[i])
    for i in range(5):
        own = 100 * seg_vecs[i] @ x[i]
        assert per["segment-align-mean"][i] == pytest.approx(own.mean(), abs=1e-4)
        assert per["segment-align-min"][i] == pytest.approx(own.min(), abs=1e-4)
        np.testing.assert_allclose(segs_out[i], own, atol=1e-4)
        p = order.index(i)
        earlier = order[:p]
        others = earlier if p <= 2 else [order[q] for q in sorted(random.Random(keys[i]).sample(range(p), 2))]
        if not others:
            assert math.isnan(per["segment-coverage"][i])
            continue
        # a win is a comparison of float32 features from other batches than the metric's (~1e-7 apart):
        # it can only be transcribed exactly if no pair is that close to a tie
        assert min(abs(seg_vecs[i][j] @ (x[i] - x[o])) for o in others for j in range(len(own))) > 1e-4
        wins = [[float(seg_vecs[i][j] @ x[i] > seg_vecs[i][j] @ x[o]) for o in others] for j in range(len(own))]
        assert per["segment-coverage"][i] == pytest.approx(np.mean(wins))
    out = metric.compute()
    assert out["segment-coverage"] == pytest.approx(np.nanmean(per["segment-coverage"]))


def test_single_item_run_has_nan_coverage(tiny):
    from longbench.metrics.segment_align import SegmentAlign

    _, model, processor = tiny
    metric = SegmentAlign(model, processor)
    black = np.zeros((32, 32, 3), dtype=np.uint8)
    metric.update([black, black], [ITEMS[0], ITEMS[0]])  # two images of one item: no other item
    out = metric.compute()
    assert math.isnan(out["segment-coverage"]) and math.isfinite(out["segment-align-mean"])
    with pytest.warns(UserWarning, match="before the ``update``"):
        empty = SegmentAlign(model, processor).compute()  # no images: NaN, no crash
    assert all(math.isnan(v) for v in empty.values())


def test_protocol_and_registry(tiny):
    from longbench.errors import LongbenchError
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.suites.base import Suite

    path, _, _ = tiny
    metric = build_metric("segment-align", MetricContext(suite=Suite("t", "1", list(ITEMS))), {"model": str(path)})
    proto = metric.protocol()
    assert proto["coverage"]["others"] == 16 and proto["coverage"]["order"].startswith("suite:t@1:")
    metric = build_metric("segment-align", MetricContext(suite=None),
                          {"model": str(path), "others": "3", "use_suite_segments": "false"})
    assert metric.others == 3 and metric.use_suite_segments is False
    with pytest.raises(LongbenchError, match="others must be"):
        build_metric("segment-align", MetricContext(suite=None), {"model": str(path), "others": 0})
