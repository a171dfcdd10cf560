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
from longbench.synth.check import fact_holds
from longbench.synth.detect import Detector
from longbench.synth.metric import SynthFactsMetric
from longbench.synth.render import Renderer
from longbench.synth.world import Group, Scene

SYNTH_V0_SHA256 = "8ddb8464a5c9da23778f7ec25cd1f8cfd22bd0c07edb6bf7dc976d7c67d8c35e"


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
    assert suite.name == "synth-v0" and suite.version == "1" and len(suite) == 240
    assert [it.id for it in suite.items] == [f"synth-{i:04d}" for i in range(240)]
    assert suite.sha256 == SYNTH_V0_SHA256


def test_suite_length_spread(suite):
    n = np.array([it.meta["n_tokens"] for it in suite.items])
    assert 40 <= n.min() and n.max() <= 320
    assert (n <= 75).sum() >= 12  # some prompts fit CLIP's window entirely ...
    assert (n > 75).mean() >= 0.7  # ... most do not
    assert (n > 150).sum() >= 60
    from longbench.synth.views import fact_last_tokens
    from longbench.text.tokenizer import TokenCounter

    counter = TokenCounter()
    last = np.array([t for it in suite.items for t in fact_last_tokens(it, counter)])
    assert 0.2 <= (last >= 75).mean() <= 0.6  # a good share of facts lies beyond token 77


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


# --- hand-made items: which facts a 77-position encoder reads, counted by hand ------------------------
# Every word and punctuation mark of these sentences is one CLIP token (checked against the tokenizer in
# test_hand_item_token_counts). Content tokens (start token not counted):
#   s0  0-10   "Two large red circles sit in the top left corner."
#   s1 11-69   "The style is very ×54 calm."                       (59 tokens, no fact)
#   s2 70-83   "There are three blue squares, and they sit in the very centre."
#              there70 are71 three72 blue73 squares74 ,75 and76 they77 sit78 in79 the80 very81 centre82 .83
#   s3 84-95   "A single large green triangle is placed at the bottom right."
#   s4 96-104  "The background is a flat, even gray."
# A 77-position context reads content tokens 0-74 (start token, 75 content tokens, end token). So the blue
# squares' presence and count (last token "squares", 74) are read, their position ("centre", 82) is not,
# although their sentence starts at 70; nothing of s3 or s4 is read.
HAND_SEGMENTS = (
    "Two large red circles sit in the top left corner.",
    "The style is " + "very " * 54 + "calm.",
    "There are three blue squares, and they sit in the very centre.",
    "A single large green triangle is placed at the bottom right.",
    "The background is a flat, even gray.",
)
HAND_PROMPT = " ".join(HAND_SEGMENTS)


def _span(words: str, sentence: int) -> list[int]:
    """[start, end] of ``words`` inside sentence ``sentence`` of HAND_PROMPT."""
    offset = sum(len(s) + 1 for s in HAND_SEGMENTS[:sentence])
    start = offset + HAND_SEGMENTS[sentence].index(words)
    return [start, start + len(words)]


def _hand_item(with_spans: bool = True) -> Item:
    a = Group("circle", "red", "large", "top-left", 2)
    b = Group("square", "blue", "small", "center", 3)
    c = Group("triangle", "green", "large", "bottom-right", 1)
    stated = [  # (fact, spans): the group's name and the words giving the value
        (Fact("presence", 0, "red circles"), [_span("red circles", 0)]),
        (Fact("count", 0, "red circles", 2), [_span("red circles", 0), _span("Two", 0)]),
        (Fact("attribute", 0, "red circles", "large"), [_span("red circles", 0), _span("large", 0)]),
        (Fact("spatial", 0, "red circles", "top-left"), [_span("red circles", 0), _span("in the top left corner", 0)]),
        (Fact("presence", 2, "blue squares"), [_span("blue squares", 2)]),
        (Fact("count", 2, "blue squares", 3), [_span("blue squares", 2), _span("three", 2)]),
        (Fact("spatial", 2, "blue squares", "center"), [_span("blue squares", 2), _span("in the very centre", 2)]),
        (Fact("presence", 3, "green triangles"), [_span("green triangle", 3)]),
        (Fact("count", 3, "green triangles", 1), [_span("green triangle", 3), _span("single", 3)]),
        (Fact("attribute", 3, "green triangles", "large"), [_span("green triangle", 3), _span("large", 3)]),
        (Fact("spatial", 3, "green triangles", "bottom-right"),
         [_span("green triangle", 3), _span("at the bottom right", 3)]),
    ]
    meta = {"scene": Scene("gray", (a, b, c)).to_dict(), "background_sentence": 4}
    if with_spans:
        meta.update(fact_spans=[spans for _, spans in stated], background_span=_span("gray", 4))
    return Item(id="hand-1", prompt=HAND_PROMPT, segments=HAND_SEGMENTS, facts=tuple(f for f, _ in stated),
                meta=meta)


#: indices of the facts of _hand_item() read by clip77, by hand (see the table above)
HAND_VISIBLE_77 = {0, 1, 2, 3, 4, 5}


def test_hand_item_token_counts():
    from longbench.text.tokenizer import load_clip_tokenizer

    tok = load_clip_tokenizer()
    n = lambda text: len(tok(text, add_special_tokens=False, verbose=False)["input_ids"])
    assert [n(s) for s in HAND_SEGMENTS] == [11, 59, 14, 12, 9]
    assert n(HAND_PROMPT[:_span("blue squares", 2)[1]]) == 75  # "squares" is content token 74
    assert n(HAND_PROMPT[:_span("in the very centre", 2)[1]]) == 83  # "centre" is content token 82


def test_hand_item_visible_facts_by_hand():
    from longbench.synth.views import fact_last_tokens

    item = _hand_item()
    last = fact_last_tokens(item)
    assert last == [3, 3, 3, 9, 74, 74, 82, 88, 88, 88, 94]
    for window, expected in ((77, HAND_VISIBLE_77), (84, HAND_VISIBLE_77), (85, HAND_VISIBLE_77 | {6}),
                             (97, set(range(11))), (96, set(range(10))), (76, {0, 1, 2, 3})):
        assert {i for i, t in enumerate(last) if t < window - 2} == expected, window


def test_clip77_draws_exactly_the_visible_facts_of_the_hand_item():
    item = _hand_item()
    model = build_model("synth:clip77")
    regions = set()
    for seed in range(20):
        scene = model.scene_for(Request(item, seed))
        assert scene.background == "white"  # "gray" is content token 103: unread, the default is drawn
        assert sorted(g.name for g in scene.groups) == ["blue squares", "red circles"]  # green: too late
        assert scene.group("red circles") == Group("circle", "red", "large", "top-left", 2)
        blue = scene.group("blue squares")
        assert blue.count == 3  # read: "three blue squares" ends at token 74
        assert blue.region != "top-left"
        regions.add(blue.region)  # unread ("centre" is token 82): guessed among the free cells
    assert len(regions) > 3
    # clip85 reads up to content token 82: the blue squares' cell too, nothing of the triangle
    for seed in range(5):
        scene = build_model("synth:clip85").scene_for(Request(item, seed))
        assert scene.group("blue squares").region == "center" and scene.group("green triangles") is None
    clip84 = build_model("synth:clip84")  # reads up to token 81: "centre" (82) is one token too far
    assert any(clip84.scene_for(Request(item, seed)).group("blue squares").region != "center" for seed in range(10))
    full = build_model("synth:clip248").scene_for(Request(item, 0))
    assert full == Scene.from_dict(item.meta["scene"]).sorted()


def test_metric_hand_computed():
    item = _hand_item()
    # the "model" drew 3 red circles (count wrong), the blue squares at the top (position wrong), no triangle
    drawn = Scene("white", (Group("square", "blue", "small", "top", 3),
                            Group("circle", "red", "large", "top-left", 3)))
    image = Renderer().render(drawn.sorted(), seed=4)
    truth = Renderer().render(Scene.from_dict(item.meta["scene"]), seed=4)
    metric = _score([image, truth], [item, item])
    per = metric.per_sample()
    # holds: red presence ✓ count ✗ size ✓ cell ✓ | blue presence ✓ count ✓ cell ✗ | green ✗ ✗ ✗ ✗
    # inside (HAND_VISIBLE_77): facts 0-5; beyond: 6-10
    expected = {
        "fact_recall": 5 / 11, "fact_recall@<=77": 5 / 6, "fact_recall@>77": 0 / 5,
        "count_acc": 1 / 3, "count_acc@<=77": 1 / 2, "count_acc@>77": 0.0,
        "binding_acc": 1 / 2, "binding_acc@<=77": 1.0, "binding_acc@>77": 0.0,
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
    assert seg[0][0] == pytest.approx(3 / 4) and math.isnan(seg[0][1]) and seg[0][2] == pytest.approx(2 / 3)
    assert seg[0][3] == 0.0 and math.isnan(seg[0][4])
    assert seg[1][0] == 1.0 and seg[1][2:4] == [1.0, 1.0]
    assert all(v is True for v in SynthFactsMetric.columns.values())


def test_metric_nan_when_no_fact_of_a_kind():
    item = _hand_item()
    few = Item(id="hand-2", prompt=item.prompt, segments=item.segments, facts=item.facts[:1],
               meta={**item.meta, "fact_spans": item.meta["fact_spans"][:1]})
    image = Renderer().render(Scene.from_dict(item.meta["scene"]), seed=0)
    per = _score([image], [few]).per_sample()
    assert per["fact_recall"] == [1.0] and per["fact_recall@<=77"] == [1.0]
    assert math.isnan(per["fact_recall@>77"][0]) and math.isnan(per["count_acc"][0])


def test_without_spans_a_fact_is_inside_only_when_its_whole_sentence_is():
    """Items without character spans: the fallback never claims more than a 77-token encoder reads."""
    from longbench.synth.views import fact_last_tokens

    bare = _hand_item(with_spans=False)
    # whole sentences: s0 ends at token 10, s2 at 83, s3 at 95 → only the red circles' facts are inside
    assert fact_last_tokens(bare) == [10] * 4 + [83] * 3 + [95] * 4
    scene = build_model("synth:clip77").scene_for(Request(bare, 0))
    assert [g.name for g in scene.groups] == ["red circles"] and scene.background == "white"
    per = _score([Renderer().render(Scene.from_dict(bare.meta["scene"]), seed=0)], [bare]).per_sample()
    assert per["fact_recall@<=77"] == [1.0] and per["fact_recall@>77"] == [1.0]


@pytest.mark.parametrize("bad, match", [
    ({"fact_spans": [[[0, 3]]]}, "list of 11 lists"),
    ({"fact_spans": [[[5, 2]]] * 11}, r"\[start, end\] spans inside the prompt"),
    ({"fact_spans": [[[0, 10**6]]] * 11}, "inside the prompt"),
    ({"background_span": [1]}, r"meta.background_span must be a \[start, end\] span"),
])
def test_bad_spans_are_clear_errors(bad, match):
    item = _hand_item()
    broken = Item(id="hand-bad", prompt=item.prompt, segments=item.segments, facts=item.facts,
                  meta={**item.meta, **bad})
    with pytest.raises(LongbenchError, match=rf"'hand-bad'.*{match}"):
        build_model("synth:clip77").scene_for(Request(broken, 0))


def test_clip_models_check_spans_before_generating():
    """``prepare`` sees every request before any image is drawn, so a bad span stops a clip<N> run up
    front; a model that does not read spans does not look at them."""
    item = _hand_item()
    broken = Item(id="hand-bad", prompt=item.prompt, segments=item.segments, facts=item.facts,
                  meta={**item.meta, "fact_spans": [[[5, 2]]] * 11})
    with pytest.raises(LongbenchError, match=r"'hand-bad'.*inside the prompt"):
        build_model("synth:clip77").prepare([Request(item, 0), Request(broken, 1)])
    build_model("synth:oracle").prepare([Request(broken, 0)])


# --- the whole suite against an independent count ----------------------------------------------------
def _inside_by_prefix(item: Item, tokenizer, window: int = 77) -> list[bool]:
    """Per fact: tokenize the prompt up to the end of the fact's last span; the fact is read when those
    content tokens fit between the start and end tokens (<= window - 2). Independent of longbench.synth."""
    out = []
    for spans in item.meta["fact_spans"]:
        end = max(e for _, e in spans)
        n = len(tokenizer(item.prompt[:end], add_special_tokens=False, verbose=False)["input_ids"])
        out.append(n <= window - 2)
    return out


def test_suite_visibility_equals_prefix_tokenization(suite):
    from longbench.synth.views import fact_last_tokens
    from longbench.text.tokenizer import TokenCounter, load_clip_tokenizer

    tok = load_clip_tokenizer()
    counter = TokenCounter(tok)
    changed = 0
    for it in suite.items[:120]:
        expected = _inside_by_prefix(it, tok)
        assert [t < 75 for t in fact_last_tokens(it, counter)] == expected, it.id
        starts = it.meta["segment_starts"]
        changed += sum(starts[f.sentence] < 75 and not e for f, e in zip(it.facts, expected))
    assert changed > 30  # many facts sit in a sentence that starts inside but ends beyond the window


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


def test_clip77_draws_exactly_what_the_window_reads(suite):
    from longbench.text.tokenizer import load_clip_tokenizer

    tok = load_clip_tokenizer()
    items = suite.items[:80]
    images = build_model("synth:clip77").generate(_requests(items))
    detector = Detector()
    metric = _score(images, items)
    per = metric.per_sample()
    for k, (img, it) in enumerate(zip(images, items)):
        scene = Scene.from_dict(it.meta["scene"])
        inside = _inside_by_prefix(it, tok)
        early = {f.entity for f, ok in zip(it.facts, inside) if f.type == "presence" and ok}
        detection = detector.detect(img)
        assert {(o.colour, o.shape) for o in detection.objects} == {
            (g.colour, g.shape) for g in scene.groups if g.name in early}, it.id
        for f, ok in zip(it.facts, inside):  # every fact the window reads is drawn right
            if ok:
                assert fact_holds(f, scene, detection), (it.id, f)
        n_in = sum(inside)
        assert per["fact_recall@<=77"][k] == (1.0 if n_in else pytest.approx(math.nan, nan_ok=True))
        if n_in < len(inside):  # the @>77 column averages exactly the facts the window does not read
            beyond = [fact_holds(f, scene, detection) for f, ok in zip(it.facts, inside) if not ok]
            assert per["fact_recall@>77"][k] == pytest.approx(sum(beyond) / len(beyond))
    values = metric.compute()
    assert values["fact_recall@>77"] < 0.3 and values["position_acc@>77"] < 0.3
    assert values["fact_recall@<=77"] == 1.0 and 0.3 < values["fact_recall"] < 0.95


def test_clip77_on_hand_item_guesses_unknown_attributes():
    item = _hand_item()
    model = build_model("synth:clip77")
    sizes = {model.scene_for(Request(item, seed)).group("blue squares").size for seed in range(20)}
    assert sizes == {"small", "large"}  # never stated: guessed, not copied


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
    ("synth:oracle", {"steps": "4"}, "model 'synth' has no option 'steps'"),
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
               facts=(Fact("count", 0, "red circles", 4),), meta={**item.meta, "fact_spans": [[[0, 3]]]})
    with pytest.raises(LongbenchError, match=r"hand-bad.*says 4"):
        build_model("synth:oracle").prepare([Request(bad, 0)])
    unknown = Item(id="hand-bad2", prompt=item.prompt, segments=item.segments,
                   facts=(Fact("presence", 0, "pink stars"),), meta={**item.meta, "fact_spans": [[[0, 3]]]})
    with pytest.raises(LongbenchError, match="pink stars"):
        build_model("synth:corrupt-1").generate([Request(unknown, 0)])


def test_synth_random_ignores_the_prompt():
    """synth:random: a scene of the world drawn from the request seed alone (the chance level): any two prompts
    with one seed give one image, and it is not the oracle's drawing."""
    suite = load_suite("synth-v0")
    a, b = suite.items[0], suite.items[1]
    model = build_model("synth:random", {"size": "128"})
    x, y = model.generate([Request(item=a, seed=3), Request(item=b, seed=3)])
    assert np.array_equal(np.asarray(x), np.asarray(y))
    oracle, = build_model("synth:oracle", {"size": "128"}).generate([Request(item=a, seed=3)])
    assert not np.array_equal(np.asarray(x), np.asarray(oracle))
