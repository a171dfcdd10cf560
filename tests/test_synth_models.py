"""Synthetic world: the synth-v0 suite, synth:<name> models and the 'synth' metric."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from longbench.errors import LongbenchError
from longbench.metrics.base import MetricContext, build_metric
from longbench.models.base import Request, build_model, request_seed
from longbench.registry import METRICS, MODELS, SUITES
from longbench.suites.base import Fact, Item
from longbench.suites.loaders import load_jsonl_suite, load_suite
from longbench.synth.detect import Detector
from longbench.synth.metric import SynthFactsMetric
from longbench.synth.render import Renderer
from longbench.synth.world import Group, Scene

SYNTH_V0_SHA256 = "548d101bdd3fa61b149cf5bde355442157952781fb340d2ffd581f705462a122"


@pytest.fixture(scope="module")
def suite():
    return load_suite("synth-v0")


def _requests(items, seed=0):
    return [Request(it, request_seed(seed, "synth-v0", it.id)) for it in items]


def _score(images, items, **kw):
    metric = SynthFactsMetric(**kw)
    metric.update(images, items)
    return metric


# --- suite -----------------------------------------------------------------------------------------

def test_suite_registered_and_stable(suite):
    from longbench.synth.suite import synth_v0

    assert SUITES.get("synth-v0") is synth_v0
    assert suite.name == "synth-v0" and suite.version == "0" and len(suite) == 240
    assert [it.id for it in suite.items] == [f"synth-{i:04d}" for i in range(240)]
    assert suite.sha256 == SYNTH_V0_SHA256


def test_suite_length_spread(suite):
    n = np.array([it.meta["n_tokens"] for it in suite.items])
    assert 40 <= n.min() and n.max() <= 320
    assert (n <= 75).sum() >= 12  # some prompts fit CLIP's window entirely ...
    assert (n > 75).mean() >= 0.7  # ... most do not
    assert (n > 150).sum() >= 60
    starts = np.array([s for it in suite.items for s in it.meta["fact_tokens"]])
    assert 0.2 <= (starts >= 75).mean() <= 0.6  # a good share of facts lies beyond token 77


def test_suite_passes_the_suite_validator(suite):
    from longbench.suites.schema import validate_suite

    assert validate_suite(suite) == []  # every fact's sentence names its entity and states its count


def test_suite_jsonl_roundtrip(suite, tmp_path):
    path = tmp_path / "synth.jsonl"
    path.write_text("\n".join(json.dumps(it.to_dict()) for it in suite.items) + "\n", encoding="utf-8")
    loaded = load_jsonl_suite(path, name="synth-v0", version="0")
    assert loaded.sha256 == suite.sha256
    model = build_model("synth:oracle")
    reqs = _requests(loaded.items[:8])
    model.prepare(reqs)
    metric = _score(model.generate(reqs), loaded.items[:8])
    assert metric.compute()["fact_recall"] == 1.0


# --- metric on a hand-made item ----------------------------------------------------------------------

def _hand_item() -> Item:
    a = Group("circle", "red", "large", "top-left", 2)
    b = Group("square", "blue", "small", "center", 3)
    c = Group("triangle", "green", "large", "bottom-right", 1)
    segments = (
        "Two large red circles sit in the top left corner.",
        "There are blue squares.",
        "The style is clean and flat.",
        "The blue squares are small and sit in the very centre, and there are three of them.",
        "A single large green triangle is placed at the bottom right.",
    )
    facts = (
        Fact("presence", 0, "red circles"), Fact("count", 0, "red circles", 2),
        Fact("attribute", 0, "red circles", "large"), Fact("spatial", 0, "red circles", "top-left"),
        Fact("presence", 1, "blue squares"),
        Fact("count", 3, "blue squares", 3), Fact("attribute", 3, "blue squares", "small"),
        Fact("spatial", 3, "blue squares", "center"),
        Fact("presence", 4, "green triangles"), Fact("count", 4, "green triangles", 1),
        Fact("attribute", 4, "green triangles", "large"),
        Fact("spatial", 4, "green triangles", "bottom-right"),
    )
    starts = [0, 10, 74, 75, 100]  # by hand: sentence 3 starts exactly at the first position beyond 77
    scene = Scene("white", (a, b, c))
    return Item(id="hand-1", prompt=" ".join(segments), segments=segments, facts=facts,
                meta={"scene": scene.to_dict(), "segment_starts": starts,
                      "fact_tokens": [starts[f.sentence] for f in facts], "background_sentence": 2})


def test_metric_hand_computed():
    item = _hand_item()
    # the "model" drew 3 red circles (count wrong), the blue squares at the top (position wrong), no triangle
    drawn = Scene("white", (Group("square", "blue", "small", "top", 3),
                            Group("circle", "red", "large", "top-left", 3)))
    image = Renderer().render(drawn.sorted(), seed=4)
    truth = Renderer().render(Scene.from_dict(item.meta["scene"]), seed=4)
    metric = _score([image, truth], [item, item])
    per = metric.per_sample()
    expected = {
        "fact_recall": 6 / 12, "fact_recall@<=77": 4 / 5, "fact_recall@>77": 2 / 7,
        "count_acc": 1 / 3, "count_acc@<=77": 0.0, "count_acc@>77": 1 / 2,
        "binding_acc": 2 / 3, "binding_acc@<=77": 1.0, "binding_acc@>77": 1 / 2,
        "position_acc": 1 / 3, "position_acc@<=77": 1.0, "position_acc@>77": 0.0,
    }
    assert set(per) == set(expected) == set(SynthFactsMetric.columns)
    for col, value in expected.items():
        assert per[col][0] == pytest.approx(value), col
        assert per[col][1] == 1.0, col
    values = metric.compute()
    for col, value in expected.items():
        assert values[col] == pytest.approx((value + 1.0) / 2), col
    seg = metric.per_segment()
    assert seg[0][:2] == [pytest.approx(3 / 4), 1.0] and math.isnan(seg[0][2])
    assert seg[0][3:] == [pytest.approx(2 / 3), 0.0]
    assert seg[1][:2] == [1.0, 1.0] and seg[1][3:] == [1.0, 1.0]
    assert all(v is True for v in SynthFactsMetric.columns.values())


def test_metric_nan_when_no_fact_of_a_kind():
    item = _hand_item()
    few = Item(id="hand-2", prompt=item.prompt, segments=item.segments, facts=item.facts[:1],
               meta={**item.meta, "fact_tokens": [0]})
    image = Renderer().render(Scene.from_dict(item.meta["scene"]), seed=0)
    per = _score([image], [few]).per_sample()
    assert per["fact_recall"] == [1.0] and per["fact_recall@<=77"] == [1.0]
    assert math.isnan(per["fact_recall@>77"][0]) and math.isnan(per["count_acc"][0])


def test_metric_counts_tokens_when_meta_lacks_them(suite):
    items = suite.items[:6]
    bare = [Item(id=it.id, prompt=it.prompt, segments=it.segments, facts=it.facts, entities=it.entities,
                 meta={"scene": it.meta["scene"]}) for it in items]
    images = build_model("synth:clip77").generate(_requests(items))
    assert _score(images, bare).per_sample() == _score(images, items).per_sample()


def test_metric_registered_and_protocol(suite):
    assert METRICS.get("synth") is SynthFactsMetric
    metric = build_metric("synth", MetricContext(suite=suite))
    proto = metric.protocol()
    assert proto["name"] == "synth" and proto["detector_version"]
    assert proto["palette"]["red"] == [220, 30, 30] and "circle" in proto["shapes"]
    assert "75" in proto["split"]


def test_metric_rejects_non_synth_items():
    item = Item(id="cat-1", prompt="A cat on a mat.")
    with pytest.raises(LongbenchError, match=r"'cat-1'.*meta.scene"):
        _score([Renderer().render(Scene("white", ()), 0)], [item])


# --- models --------------------------------------------------------------------------------------------

def test_model_registered():
    from longbench.models.synth import SynthModel

    assert MODELS.get("synth") is SynthModel
    m = build_model("synth:oracle")
    assert m.kind == "synth" and m.spec == "synth:oracle"
    assert build_model("synth:clip77").identity_hash() != m.identity_hash()
    assert build_model("synth:oracle", {"size": "512"}).identity_hash() != m.identity_hash()


def test_oracle_is_perfect_and_deterministic(suite):
    items = suite.items[:60]
    model = build_model("synth:oracle")
    reqs = _requests(items)
    images = model.generate(reqs)
    again = model.generate(reqs[:10])
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, again))
    other = model.generate(_requests(items[:10], seed=1))
    assert sum(a.tobytes() != b.tobytes() for a, b in zip(images, other)) >= 5  # the seed moves objects
    detector = Detector()
    for img, it in zip(images, items):
        assert detector.detect(img).to_scene() == Scene.from_dict(it.meta["scene"])
    values = _score(images, items).compute()
    assert all(v == 1.0 for v in values.values()), values


def test_oracle_at_other_size(suite):
    items = suite.items[:10]
    images = build_model("synth:oracle", {"size": "512"}).generate(_requests(items))
    assert all(im.size == (512, 512) for im in images)
    assert all(v == 1.0 for v in _score(images, items).compute().values())


def test_clip77_sees_only_the_window(suite):
    items = suite.items[:80]
    images = build_model("synth:clip77").generate(_requests(items))
    detector = Detector()
    for img, it in zip(images, items):
        scene = Scene.from_dict(it.meta["scene"])
        early = {f.entity for f, s in zip(it.facts, it.meta["fact_tokens"])
                 if f.type == "presence" and s < 75}
        drawn = {(o.colour, o.shape) for o in detector.detect(img).objects}
        assert drawn == {(g.colour, g.shape) for g in scene.groups if g.name in early}, it.id
    metric = _score(images, items)
    per = metric.per_sample()
    for col in ("fact_recall@<=77", "count_acc@<=77", "binding_acc@<=77", "position_acc@<=77"):
        assert all(v == 1.0 for v in per[col] if not math.isnan(v)), col
    values = metric.compute()
    assert values["fact_recall@>77"] < 0.3 and values["position_acc@>77"] < 0.3
    assert values["fact_recall@<=77"] == 1.0 and 0.3 < values["fact_recall"] < 0.95


def test_clip77_on_hand_item_guesses_unknown_attributes():
    item = _hand_item()
    model = build_model("synth:clip77")
    sizes, regions = set(), set()
    for seed in range(20):
        scene = model.scene_for(Request(item, seed))
        names = [g.name for g in scene.groups]
        assert sorted(names) == ["blue squares", "red circles"]  # the triangle is introduced too late
        assert scene.group("red circles") == Group("circle", "red", "large", "top-left", 2)
        blue = scene.group("blue squares")
        assert blue.region != "top-left"
        sizes.add(blue.size)
        regions.add(blue.region)
    assert len(sizes) == 2 and len(regions) > 3  # unknown facts are guessed, not copied
    assert build_model("synth:clip248").scene_for(Request(item, 0)) == Scene.from_dict(item.meta["scene"])


def test_corrupt_k_degrades_monotonically(suite):
    items = suite.items[:30]
    reqs = _requests(items)
    oracle = build_model("synth:oracle").generate(reqs)
    zero = build_model("synth:corrupt-0").generate(reqs)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(oracle, zero))
    curves = []
    for k in (0, 1, 2, 4, 8, 16, 1000):
        per = _score(build_model(f"synth:corrupt-{k}").generate(reqs), items).per_sample()["fact_recall"]
        curves.append(per)
    curves = np.array(curves)
    assert (np.diff(curves, axis=0) <= 0).all()  # every image, every step
    assert (curves[0] == 1.0).all() and (curves[-1] == 0.0).all()
    n_facts = np.array([len(it.facts) for it in items])
    one = curves[1]
    assert np.all(np.isclose(one, 1 - 1 / n_facts) | np.isclose(one, 1 - 4 / n_facts))
    means = curves.mean(axis=1)
    assert (np.diff(means) < 0).all()


@pytest.mark.parametrize("spec, args, match", [
    ("synth:orcale", None, "did you mean 'synth:oracle'"),
    ("synth:clip", None, "did you mean 'synth:clip77'"),
    ("synth:clip2", None, "at least 3"),
    ("synth:corrupt--1", None, "unknown synth model"),
    ("synth:oracle", {"size": "64"}, "size"),
    ("synth:oracle", {"size": "big"}, "size"),
    ("synth:oracle", {"steps": "4"}, "does not accept"),
])
def test_model_spec_errors(spec, args, match):
    with pytest.raises(LongbenchError, match=match):
        build_model(spec, args)


def test_model_rejects_non_synth_items():
    reqs = [Request(Item(id="dog-7", prompt="A dog."), 0)]
    model = build_model("synth:oracle")
    with pytest.raises(LongbenchError, match=r"'dog-7'.*synthetic suites"):
        model.prepare(reqs)
    with pytest.raises(LongbenchError, match="dog-7"):
        build_model("synth:clip77").generate(reqs)


def test_model_rejects_inconsistent_facts():
    item = _hand_item()
    bad = Item(id="hand-bad", prompt=item.prompt, segments=item.segments,
               facts=(Fact("count", 0, "red circles", 4),), meta={**item.meta, "fact_tokens": [0]})
    with pytest.raises(LongbenchError, match=r"hand-bad.*says 4"):
        build_model("synth:oracle").prepare([Request(bad, 0)])
    unknown = Item(id="hand-bad2", prompt=item.prompt, segments=item.segments,
                   facts=(Fact("presence", 0, "pink stars"),), meta={**item.meta, "fact_tokens": [0]})
    with pytest.raises(LongbenchError, match="pink stars"):
        build_model("synth:corrupt-1").generate([Request(unknown, 0)])


def test_clip77_counts_tokens_when_meta_lacks_them(suite):
    items = suite.items[:6]
    bare = [Item(id=it.id, prompt=it.prompt, segments=it.segments, facts=it.facts,
                 meta={"scene": it.meta["scene"], "background_sentence": it.meta["background_sentence"]})
            for it in items]
    model = build_model("synth:clip77")
    for it, b in zip(items, bare):
        assert model.scene_for(Request(b, 3)) == model.scene_for(Request(it, 3))
