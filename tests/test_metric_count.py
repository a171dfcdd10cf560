"""count: box counting logic, per-image columns, a fake detector, a tiny random OWLv2, the synth detector."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from longbench.errors import LongbenchError
from longbench.metrics.count import Detector
from longbench.suites.base import Entity, Item


def test_count_boxes_threshold_and_nms():
    from longbench.metrics.count import count_boxes

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [80, 80, 90, 90]], dtype=torch.float)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.1])
    assert count_boxes(boxes, scores, 0.3, 0.5) == 2        # two overlapping boxes merge, last is below 0.3
    assert count_boxes(boxes, scores, 0.05, 0.5) == 3
    assert count_boxes(boxes, scores, 0.3, 0.99) == 3       # IoU 0.68 < 0.99: both kept
    assert count_boxes(boxes, scores, 0.95, 0.5) == 0       # nothing above threshold
    assert count_boxes(torch.zeros(0, 4), torch.zeros(0), 0.3, 0.5) == 0  # detector returned no boxes


def test_image_scores_cases():
    from longbench.metrics.count import image_scores

    ents = [Entity("cat", 2), Entity("dog", 0), Entity("tree", None), Entity("car", 1)]
    out = image_scores(ents, [2, 0, 1, 3])
    assert out["count-acc"] == pytest.approx(2 / 3)          # cat right, dog (absent) right, car wrong
    assert out["count-mae"] == pytest.approx((0 + 0 + 2) / 3)
    assert out["presence-recall"] == pytest.approx(1.0)      # cat, tree, car all seen; dog not required
    none = image_scores(ents, [0, 0, 0, 0])                  # a detector that finds nothing
    assert none["count-acc"] == pytest.approx(1 / 3) and none["presence-recall"] == 0.0
    absent = image_scores([Entity("dog", 0)], [1])
    assert absent["count-acc"] == 0.0 and absent["count-mae"] == 1.0 and math.isnan(absent["presence-recall"])
    empty = image_scores([], [])
    assert all(math.isnan(v) for v in empty.values())


class FakeDetector(Detector):
    """Returns ``n`` disjoint boxes of score 0.9 for query ``name`` where ``n`` is given per name."""

    name = "fake"

    def __init__(self, counts: dict[str, int]):
        self.counts = counts
        self.calls: list[list[list[str]]] = []

    def detect(self, images, queries):
        self.calls.append([list(q) for q in queries])
        out = []
        for qs in queries:
            per = []
            for q in qs:
                n = self.counts.get(q, 0)
                boxes = torch.tensor([[20.0 * k, 0, 20.0 * k + 10, 10] for k in range(n)]).reshape(n, 4)
                per.append((boxes, torch.full((n,), 0.9)))
            out.append(per)
        return out

    def protocol(self):
        return {"detector": self.name}


def _img():
    from PIL import Image

    return Image.new("RGB", (32, 32), (0, 0, 0))


def test_metric_with_fake_detector():
    from longbench.metrics.count import CountMetric

    fake = FakeDetector({"cat": 2, "dog": 1, "tree": 0})
    metric = CountMetric(detector=fake)
    items = [
        Item(id="a", prompt="two cats and no dogs", entities=(Entity("cat", 2), Entity("dog", 0))),
        Item(id="b", prompt="a tree", entities=(Entity("tree", None),)),
        Item(id="c", prompt="An empty room."),  # no entities, the parser finds none
    ]
    metric.update([_img()] * 3, items)
    per = metric.per_sample()
    assert per["count-acc"][0] == 0.5 and per["count-mae"][0] == 0.5 and per["presence-recall"][0] == 1.0
    assert math.isnan(per["count-acc"][1]) and per["presence-recall"][1] == 0.0
    assert all(math.isnan(v) for v in (per["count-acc"][2], per["presence-recall"][2]))
    assert fake.calls == [[["cat", "dog"], ["tree"]]]  # images without entities are not sent
    out = metric.compute()
    assert out["count-acc"] == 0.5 and out["presence-recall"] == 0.5
    proto = metric.protocol()
    assert proto["score_threshold"] == 0.3 and proto["nms_iou"] == 0.5


def test_unannotated_items_use_count_parser():
    from longbench.metrics import count as count_mod
    from longbench.suites.counts import parse_counts

    parsed = parse_counts("Three red boats on a lake.")
    ents = count_mod.entities_of(Item(id="x", prompt="Three red boats on a lake."))
    assert [(e.name, e.count) for e in ents] == [(e.name, e.count) for e in parsed] == [("boat", 3)]


def test_cli_string_options_are_typed():
    from longbench.metrics.base import MetricContext, build_metric

    ctx = MetricContext(suite=None)
    metric = build_metric("count", ctx, {"score_threshold": "0.2", "nms_iou": "0.4", "trust_remote_code": "no"})
    assert metric.score_threshold == 0.2 and metric.nms_iou == 0.4
    with pytest.raises(LongbenchError, match="has no option 'omega'"):
        build_metric("count", ctx, {"omega": "0.3"})
    with pytest.raises(LongbenchError, match="metric 'count' option 'nms_iou': expected a number, got 'x'"):
        build_metric("count", ctx, {"nms_iou": "x"})
    with pytest.raises(LongbenchError, match="option 'trust_remote_code': expected true/false, got 'maybe'"):
        build_metric("count", ctx, {"trust_remote_code": "maybe"})


def test_bad_options():
    from longbench.metrics.count import CountMetric

    with pytest.raises(LongbenchError, match="unknown detector"):
        CountMetric(detector="yolo")
    with pytest.raises(LongbenchError, match="query_template"):
        CountMetric(query_template="a photo")
    with pytest.raises(LongbenchError, match="score_threshold"):
        CountMetric(score_threshold=1.5)


# ---------------------------------------------------------------------- tiny OWLv2
@pytest.fixture(scope="module")
def tiny_owlv2(tmp_path_factory):
    from tests.helpers_count import save_tiny_owlv2

    return save_tiny_owlv2(tmp_path_factory.mktemp("owl") / "tiny-owlv2")


def test_owlv2_counts_equal_direct_computation(tiny_owlv2):
    from PIL import Image
    from torchvision.ops import nms
    from transformers import Owlv2ForObjectDetection, Owlv2Processor

    from longbench.metrics.base import MetricContext, build_metric

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(2)]
    items = [Item(id="a", prompt="two cats, a dog", entities=(Entity("cat", 2), Entity("dog", 1))),
             Item(id="b", prompt="no birds", entities=(Entity("bird", 0),))]
    model = Owlv2ForObjectDetection.from_pretrained(str(tiny_owlv2)).eval()
    proc = Owlv2Processor.from_pretrained(str(tiny_owlv2))
    found = []  # per image, per entity: (boxes, scores), one image per forward
    with torch.no_grad():
        for img, item in zip(images, items):
            names = [e.name for e in item.entities]
            out = model(**proc(text=[names], images=[img], return_tensors="pt"))
            cx, cy, w, h = out.pred_boxes[0].unbind(-1)
            boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * 64
            found.append([(boxes, torch.sigmoid(out.logits[0, :, j])) for j in range(len(names))])
    # The metric forwards both images in one batch (another composition than above), so its float32 scores
    # differ from these by ~1e-7 and a score that close to the threshold could flip a count. The random
    # detector puts some boxes at 0.5 +- 1e-6: take the first threshold that no score comes within 1e-3 of.
    scores = torch.cat([sc for per_image in found for _, sc in per_image])
    thr = next(t for t in (0.5, 0.45, 0.55, 0.4, 0.6) if float((scores - t).abs().min()) > 1e-3)
    expected_counts = [[int(nms(bx[sc > thr], sc[sc > thr], 0.5).numel()) if (sc > thr).any() else 0
                        for bx, sc in per_image] for per_image in found]

    metric = build_metric("count", MetricContext(suite=None),
                          {"model": str(tiny_owlv2), "score_threshold": thr})
    metric.update(images, items)
    per = metric.per_sample()
    a, b = expected_counts
    assert per["count-acc"][0] == pytest.approx(((a[0] == 2) + (a[1] == 1)) / 2)
    assert per["count-mae"][0] == pytest.approx((abs(a[0] - 2) + abs(a[1] - 1)) / 2)
    assert per["count-acc"][1] == float(b[0] == 0)
    assert math.isnan(per["presence-recall"][1])
    assert sum(sum(c) for c in expected_counts) > 0  # the random detector does fire at this threshold
    proto = metric.protocol()
    assert proto["detector"] == "owlv2" and proto["model"] == str(tiny_owlv2)


def test_missing_detector_weights_is_clear_error():
    from longbench.errors import MissingWeightsError
    from longbench.metrics.count import CountMetric

    metric = CountMetric(model="no-such-org/no-such-owl")
    with pytest.raises(MissingWeightsError, match="not found offline"):
        metric.update([_img()], [Item(id="a", prompt="a cat", entities=(Entity("cat", 1),))])


# ---------------------------------------------------------------------- synth
def test_synth_detector_counts_exactly():
    """The synthetic world's Detector: exact counts on renders (no weights), zero on a blank image, and the
    default of count on synthetic suites (declared by the suite, not sniffed from items)."""
    from longbench.metrics.count import CountMetric
    from longbench.suites.loaders import load_suite
    from longbench.synth import render
    from longbench.synth import suite as synth_suite
    from longbench.synth.count_detector import SynthCountDetector
    from longbench.synth.views import item_scene

    items = synth_suite.make_items(3, seed=1)
    renderer = render.Renderer()
    images = [renderer.render(item_scene(it), seed=0) for it in items]
    metric = CountMetric(detector="synth")
    metric.update(images, items)
    out = metric.compute()
    assert out["count-acc"] == 1.0 and out["count-mae"] == 0.0 and out["presence-recall"] == 1.0
    assert isinstance(metric.detector, SynthCountDetector) and metric.protocol()["detector"] == "synth"
    # the counts, checked against the scenes the images were drawn from
    counts = SynthCountDetector().count(images, [[e.name for e in it.entities] for it in items],
                                        score_threshold=0.3, nms_iou=0.5)
    assert counts == [[item_scene(it).group(e.name).count for e in it.entities] for it in items]
    # a blank image: everything missing
    metric2 = CountMetric(detector="synth")
    from PIL import Image

    metric2.update([Image.new("RGB", images[0].size, (250, 250, 250))], items[:1])
    assert metric2.compute()["presence-recall"] == 0.0
    assert metric2.protocol()["images_by_detector"] == 1
    metric2.reset()  # the runner reuses a metric across models: the count starts again
    assert metric2.protocol()["images_by_detector"] == 0
    with pytest.raises(LongbenchError, match="'a cat' is not a group of the synthetic world"):
        SynthCountDetector().count(images[:1], [["a cat"]], score_threshold=0.3, nms_iou=0.5)
    assert load_suite("synth-v0").metric_args["count"] == {"detector": "synth"}


# ---------------------------------------------------------------------- tiny Grounding DINO
@pytest.fixture(scope="module")
def tiny_gdino(tmp_path_factory):
    from longbench.testing import save_tiny_grounding_dino

    return save_tiny_grounding_dino(tmp_path_factory.mktemp("gdino") / "tiny-gdino")


def test_grounding_dino_counts_equal_direct_computation(tiny_gdino):
    from PIL import Image
    from torchvision.ops import nms
    from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

    from longbench.metrics.count import CountMetric

    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    item = Item(id="a", prompt="two cats, a dog", entities=(Entity("cat", 2), Entity("dog", 1)))
    thr = 0.6
    metric = CountMetric(detector="grounding-dino", model=str(tiny_gdino), score_threshold=thr)
    metric.update([img], [item])
    per = metric.per_sample()

    model = GroundingDinoForObjectDetection.from_pretrained(str(tiny_gdino)).eval()
    proc = GroundingDinoProcessor.from_pretrained(str(tiny_gdino))
    counts = []
    with torch.no_grad():
        for name in ("cat", "dog"):
            inp = proc(images=[img], text=[name + "."], return_tensors="pt")
            out = model(**inp)
            n_tok = int(inp["attention_mask"][0].sum())
            s = torch.sigmoid(out.logits[0, :, :n_tok]).max(-1).values
            assert float((s - thr).abs().min()) > 1e-3  # batched in the metric: see the OWLv2 test
            cx, cy, w, h = out.pred_boxes[0].unbind(-1)
            boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * torch.tensor([64, 48, 64, 48])
            keep = s > thr
            counts.append(int(nms(boxes[keep], s[keep], 0.5).numel()) if keep.any() else 0)
    assert per["count-mae"][0] == pytest.approx((abs(counts[0] - 2) + abs(counts[1] - 1)) / 2)
    assert per["presence-recall"][0] == pytest.approx(sum(c > 0 for c in counts) / 2)
    assert sum(counts) > 0  # the random detector fires at this threshold
    assert metric.protocol()["detector"] == "grounding-dino" and metric.protocol()["score_threshold"] == thr
