"""The miniature world: exact render → read, per-fact visibility, splits, determinism, the mini-v0 suite,
the mini models and metric."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import numpy as np
import pytest

from longbench.errors import LongbenchError
from longbench.mini import views
from longbench.mini.grammar import fill, make_prompt
from longbench.mini.read import Reader
from longbench.mini.render import LAYOUTS, Renderer, glyph, layout
from longbench.mini.sampler import sample_scene
from longbench.mini.suite import (
    MAX_TOKENS,
    MINI_V0_SEED,
    MINI_V0_SIZE,
    make_items,
    mini_v0,
    split_scene_keys,
    train_items,
)
from longbench.mini.world import (
    BACKGROUND_COLOURS,
    OBJECT_COLOURS,
    PALETTE,
    REGIONS,
    SHAPES,
    Group,
    Scene,
    shape_of,
    visible,
)
from longbench.suites.base import Fact, Item
from longbench.text.tokenizer import TokenCounter, load_clip_tokenizer_fast
from longbench.worlds.tokens import token_positions

MINI_V0_SHA256 = "bebef3d25bcc73de5569666a566e79832ec9f46f111bc6c3ec878dc2961be503"


@pytest.fixture(scope="module")
def suite():
    return mini_v0()


@pytest.fixture(scope="module")
def counter():
    return TokenCounter()


# ---------------------------------------------------------------- render / read


def test_glyphs_are_distinct_solid_and_7px():
    from scipy import ndimage

    masks = {s: glyph(s) for s in SHAPES}
    for m in masks.values():
        assert m.shape == (7, 7)
        assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()  # the box is the full 7×7
        assert ndimage.label(m, structure=np.ones((3, 3)))[1] == 1
    for a, b in itertools.combinations(SHAPES, 2):
        assert (masks[a] != masks[b]).sum() >= 12, (a, b)
    # hand transcription of two glyphs (pixel counts and rows)
    assert masks["square"].sum() == 49 and masks["diamond"].sum() == 25
    assert masks["triangle"][0].tolist() == [False, False, False, True, False, False, False]


def test_render_pixels_by_hand():
    scene = Scene("white", (Group("square", "red", "top-left", 1), Group("circle", "blue", "bottom-right", 4)))
    arr = Renderer().render_array(scene, seed=0)
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8
    red, blue, white = (np.array(PALETTE[c]) for c in ("red", "blue", "white"))
    assert (arr[5:12, 5:12] == red).all()  # the single square fills x, y in 5..11
    assert (arr[4, 4:13] == white).all() and (arr[12, 4:13] == white).all() and (arr[4:13, 4] == white).all()
    # four circles at offsets 1 and 9 of the bottom-right quadrant: the centre pixels and a cut corner
    for x0, y0 in itertools.product((17, 25), (17, 25)):
        assert (arr[y0 + 3, x0 + 3] == blue).all() and (arr[y0, x0] == white).all()
    assert int((arr == blue).all(-1).sum()) == 4 * 37
    colours = {tuple(c) for c in arr.reshape(-1, 3)}
    assert colours == {tuple(PALETTE[c]) for c in ("red", "blue", "white")}  # no antialiasing


def test_render_read_exact_on_random_scenes():
    renderer, big, reader = Renderer(), Renderer(scale=3), Reader()
    for i in range(300):
        scene = sample_scene(random.Random(f"t{i}"))
        reading = reader.read(renderer.render(scene, seed=i))
        assert reading.to_scene() == scene, i
        assert all(o.distance == 0 for o in reading.objects)
        if i % 10 == 0:  # enlargements read the same
            assert reader.read(big.render(scene, seed=i)).to_scene() == scene


def test_render_read_exact_on_every_arrangement():
    reader = Reader()
    for shape, region, count in itertools.product(SHAPES, REGIONS, range(1, 5)):
        for arrangement in range(len(LAYOUTS[count])):
            colour = random.Random(f"{shape}{region}{count}").choice(tuple(OBJECT_COLOURS))
            scene = Scene("black", (Group(shape, colour, region, count),))
            seed = next(s for s in range(200) if _arrangement(scene, s) == LAYOUTS[count][arrangement])
            assert reader.read(Renderer().render(scene, seed)).to_scene() == scene


def _arrangement(scene: Scene, seed: int) -> tuple:
    return tuple(((p.x % 16), (p.y % 16)) for p in layout(scene, seed))


def test_reader_background_and_degradation():
    reader = Reader()
    scene = Scene("gray", (Group("cross", "yellow", "top-right", 3), Group("triangle", "green", "bottom-left", 2)))
    arr = Renderer().render_array(scene, 5).astype(np.int16)
    noisy = np.clip(arr + np.random.default_rng(0).integers(-20, 21, arr.shape), 0, 255).astype(np.uint8)
    assert reader.read(noisy).to_scene() == scene  # mild noise stays within the palette's margins
    blank = np.full((32, 32, 3), 255, np.uint8)
    assert reader.read(blank).objects == () and reader.read(blank).background == "white"
    assert reader.read(np.full((32, 32, 3), 0, np.uint8)).background == "black"
    assert reader.read(np.full((32, 32, 3), PALETTE["red"], np.uint8)).background is None


# ---------------------------------------------------------------- per-fact visibility


def test_token_positions_hand_counted(counter):
    # 71 × "the" + "." = 72 content tokens; then "three"=72 "red"=73 "circles"=74 "sit"=75 ... "corner"=80
    lead = " ".join(["the"] * 71) + "."
    s = "Three red circles sit in the top left corner."
    spans = {"presence": s.index("circles") + 7, "count": s.index("circles") + 7, "colour": s.index("circles") + 7,
             "region": s.index("corner") + 6, "three": s.index("Three") + 5}
    starts, lasts, total = token_positions([[lead, s]], [[(1, e) for e in spans.values()]], counter)
    assert starts == [[0, 72]] and total == [72 + 10]
    assert dict(zip(spans, lasts[0])) == {"presence": 74, "count": 74, "colour": 74, "region": 80, "three": 72}
    assert [k for k, last in zip(spans, lasts[0]) if visible(last)] == ["presence", "count", "colour", "three"]
    ids = counter.tokenizer(lead + " " + s)["input_ids"]  # start token at 0: content token k at k + 1
    assert counter.tokenizer.convert_ids_to_tokens(ids[1 + 74]) == "circles</w>"
    assert counter.tokenizer.convert_ids_to_tokens(ids[1 + 80]) == "corner</w>"
    # digits are one token each; a span ending mid-word is refused
    starts, lasts, _ = token_positions([["Add 12 blue crosses now."]], [[(0, 6), (0, 19)]], counter)
    assert lasts == [[2, 4]]
    with pytest.raises(ValueError, match="cuts a word"):
        token_positions([["Add blue crosses."]], [[(0, 7)]], counter)


def _hand_item(sentences: list[str], facts: list[tuple[Fact, str]], scene: Scene, bg_phrase: tuple[int, str],
               counter: TokenCounter) -> Item:
    """An item built by hand: each fact's span is the first occurrence of a phrase in its sentence."""
    from longbench.mini.grammar import Prompt
    from longbench.mini.suite import build_items

    spans = []
    for f, phrase in facts:
        a = sentences[f.sentence].index(phrase)
        spans.append((a, a + len(phrase)))
    bi, bp = bg_phrase
    ba = sentences[bi].index(bp)
    prompt = Prompt(tuple(sentences), tuple(f for f, _ in facts), tuple(spans), bi, (ba, ba + len(bp)), ())
    return build_items([("hand-0", scene, prompt)], ("mini",), counter)[0]


def test_clip77_knows_exactly_the_hand_counted_facts(counter):
    lead = " ".join(["the"] * 66) + "."  # tokens 0..66
    sentences = [lead, "Three red circles sit in the top left corner.",  # 67..76: "circles" 69, "corner" 75
                 "The background is black.",  # 77..81: "black" 80
                 "Two blue squares are at the bottom right."]  # 82..90: "squares" 84, "right" 89
    scene = Scene("black", (Group("circle", "red", "top-left", 3), Group("square", "blue", "bottom-right", 2)))
    facts = [(Fact("presence", 1, "circles"), "circles"), (Fact("count", 1, "circles", 3), "Three red circles"),
             (Fact("attribute", 1, "circles", "red"), "red circles"),
             (Fact("spatial", 1, "circles", "top-left"), "circles sit in the top left corner"),
             (Fact("presence", 3, "squares"), "squares"), (Fact("count", 3, "squares", 2), "Two blue squares"),
             (Fact("attribute", 3, "squares", "blue"), "blue squares"),
             (Fact("spatial", 3, "squares", "bottom-right"), "squares are at the bottom right")]
    item = _hand_item(sentences, facts, scene, (2, "background is black"), counter)
    assert item.meta["fact_last_tokens"] == [69, 69, 69, 75, 84, 84, 84, 89]
    assert [visible(t) for t in item.meta["fact_last_tokens"]] == [True, True, True, False] + [False] * 4
    assert item.meta["background_last_token"] == 80
    for seed in range(20):  # the circles' colour and count are known, the quadrant is guessed; no squares
        known = views.known_scene(item, seed)
        assert known.background == "white" and len(known.groups) == 1
        g = known.groups[0]
        assert (g.shape, g.colour, g.count) == ("circle", "red", 3)
    assert {views.known_scene(item, s).groups[0].region for s in range(40)} == set(REGIONS)
    assert views.known_scene(item, 0, window=200).groups == scene.groups  # a long window reads everything


def test_suite_positions_match_fast_tokenizer_offsets(suite):
    """Independent route: the fast tokenizer's character offsets on the whole prompt."""
    fast = load_clip_tokenizer_fast()
    enc = fast([it.prompt for it in suite.items], add_special_tokens=False, return_offsets_mapping=True)
    for it, ids, offsets in zip(suite.items, enc["input_ids"], enc["offset_mapping"]):
        assert len(ids) == it.meta["n_tokens"]
        for (a, b), last in zip(it.meta["fact_spans"], it.meta["fact_last_tokens"]):
            assert last == max(k for k, (s, _) in enumerate(offsets) if s < b), it.id
        b = it.meta["background_span"][1]
        assert it.meta["background_last_token"] == max(k for k, (s, _) in enumerate(offsets) if s < b)


def test_generic_span_rule_reads_mini_items(suite, counter):
    """The one span → token rule (``longbench.worlds.tokens``, used by synth items and the VQA questions)
    reads mini's bare ``[start, end]`` spans: without the stored positions it recomputes them exactly
    (the stored ones come from batched prefix counts at build time, a different route)."""
    from longbench.worlds.tokens import background_last_token, fact_last_tokens

    for it in suite.items[:40]:
        meta = {k: v for k, v in it.meta.items() if k not in ("fact_last_tokens", "background_last_token")}
        bare = Item(id=it.id, prompt=it.prompt, segments=it.segments, facts=it.facts, meta=meta)
        assert fact_last_tokens(bare, counter) == it.meta["fact_last_tokens"], it.id
        assert background_last_token(bare, counter) == it.meta["background_last_token"], it.id
        assert fact_last_tokens(it) == it.meta["fact_last_tokens"]  # stored positions need no tokenizer
    bad = Item(id="mini-bad", prompt="two red circles.", segments=("two red circles.",),
               facts=(Fact("presence", 0, "circles"),), meta={"fact_spans": [[3, 99]]})
    with pytest.raises(LongbenchError, match=r"'mini-bad'.*inside the prompt \(16 characters\)"):
        fact_last_tokens(bad, counter)


def test_fact_spans_state_the_fact(suite):
    from longbench.mini.grammar import BARE_COUNT, COLOUR_WORDS, COUNT_WORDS, LOCATIONS, SHAPE_WORDS

    for it in suite.items:
        scene = views.item_scene(it)
        for f, (a, b) in zip(it.facts, it.meta["fact_spans"]):
            text = it.prompt[a:b].lower()
            g = scene.group(next(s for s, (_, p) in SHAPE_WORDS.items() if p == f.entity))
            assert text.startswith(SHAPE_WORDS[g.shape]) or text.endswith(SHAPE_WORDS[g.shape])
            if f.type == "presence":
                assert text in SHAPE_WORDS[g.shape]
            elif f.type == "count":
                assert any(w in text for w in COUNT_WORDS[g.count] + BARE_COUNT[g.count])
            elif f.type == "attribute":
                assert any(text.endswith(w) or text.startswith(w) for w in COLOUR_WORDS[g.colour])
            else:
                assert any(loc in text for loc in LOCATIONS[g.region])
            assert it.segments[f.sentence] in it.prompt and a >= it.prompt.index(it.segments[f.sentence])


# ---------------------------------------------------------------- suite, splits, determinism


def test_suite_stats(suite):
    assert len(suite) == MINI_V0_SIZE
    n = [it.meta["n_tokens"] for it in suite.items]
    assert max(n) <= MAX_TOKENS and 110 <= statistics.median(n) <= 160
    assert sum(x > 75 for x in n) / len(n) >= 0.8  # mostly beyond CLIP's window
    lasts = [t for it in suite.items for t in it.meta["fact_last_tokens"]]
    share = sum(not visible(t) for t in lasts) / len(lasts)
    assert 0.30 <= share <= 0.50, share
    for it in suite.items:
        assert len(it.facts) == 4 * len(it.entities)
        assert it.prompt == " ".join(it.segments)


def test_default_splitter_returns_the_sentences(suite, counter):
    from longbench.text.splitters import split_default

    for it in suite.items:
        assert split_default(it.prompt, counter) == list(it.segments), it.id


def test_suite_validates_with_the_schema(suite):
    from longbench.suites.schema import validate_suite

    assert validate_suite(suite) == []


def test_suite_sha256_pinned(suite):
    assert suite.sha256 == MINI_V0_SHA256


def test_train_and_test_splits_never_share_scenes(counter):
    test_keys = split_scene_keys()
    assert len(test_keys) > 190
    train = train_items(400, seed=1, counter=counter)
    assert not {views.item_scene(it).key() for it in train} & test_keys
    assert not {it.prompt for it in train} & {it.prompt for it in mini_v0().items}
    with pytest.raises(ValueError, match="test split"):
        train_items(1, seed=MINI_V0_SEED)
    # the exclusion is what guarantees it: excluding the scene item 0 would draw forces a redraw
    first = views.item_scene(make_items(1, seed=5, prefix="x", counter=counter)[0])
    redrawn = views.item_scene(make_items(1, seed=5, prefix="x", exclude=frozenset({first.key()}), counter=counter)[0])
    assert redrawn.key() != first.key()


def test_generator_is_deterministic_by_seed(counter):
    a = train_items(6, seed=3, counter=counter)
    assert [it.to_dict() for it in a] == [it.to_dict() for it in train_items(6, seed=3, counter=counter)]
    assert [it.to_dict() for it in a[2:]] == [it.to_dict() for it in train_items(4, seed=3, start=2, counter=counter)]
    assert [it.prompt for it in a] != [it.prompt for it in train_items(6, seed=4, counter=counter)]
    rng1, rng2 = random.Random("p"), random.Random("p")
    scene = sample_scene(rng1)
    assert make_prompt(scene, rng1) == make_prompt(sample_scene(rng2), rng2)


def test_wording_varies(suite):
    from longbench.mini.grammar import LOCATIONS

    stating = [it.segments[i] for it in suite.items for i in sorted({f.sentence for f in it.facts})]
    assert len(set(stating)) > 0.8 * len(stating)  # few fact-stating sentences repeat word for word
    text = " ".join(it.prompt.lower() for it in suite.items)
    assert all(loc in text for locs in LOCATIONS.values() for loc in locs)
    assert " violet " in text and " grey " in text and " a pair of " in text


def test_fill_records_spans():
    text, spans = fill("<l0>, there are <n0> <c0> <s0>.", {"l0": "at the top left", "n0": "3", "c0": "red",
                                                           "s0": "circles"})
    assert text == "At the top left, there are 3 red circles."
    assert {k: text[a:b] for k, (a, b) in spans.items()} == {"l0": "At the top left", "n0": "3", "c0": "red",
                                                               "s0": "circles"}
    with pytest.raises(ValueError, match="twice"):
        fill("<s0> and <s0>", {"s0": "x"})


# ---------------------------------------------------------------- models and metric


def _recall_by_hand(item: Item, drawn: Scene) -> tuple[float, float, float]:
    """Fact recall (all, visible, beyond) from comparing the drawn scene with the truth, without the reader."""
    truth = views.item_scene(item)
    ok, vis = [], []
    for f, last in zip(item.facts, item.meta["fact_last_tokens"]):
        g = truth.group(shape_of(f.entity))
        d = drawn.group(g.shape)
        holds = d is not None and (f.type == "presence" or {"count": d.count == g.count, "attribute":
                                   d.colour == g.colour, "spatial": d.region == g.region}[f.type])
        ok.append(holds)
        vis.append(visible(last))

    def mean(xs: list[bool]) -> float:
        return sum(xs) / len(xs) if xs else math.nan

    return mean(ok), mean([o for o, v in zip(ok, vis) if v]), mean([o for o, v in zip(ok, vis) if not v])


def test_models_and_metric_against_hand_comparison(suite):
    from longbench.mini.metric import MiniFactsMetric
    from longbench.models.base import Request, build_model

    items = suite.items[:40]
    requests = [Request(it, seed=i) for i, it in enumerate(items)]
    for spec in ("mini:oracle", "mini:clip77", "mini:corrupt-3"):
        model = build_model(spec)
        model.prepare(requests)
        images = model.generate(requests)
        metric = MiniFactsMetric()
        metric.update(images, items)
        got = metric.per_sample()
        for k, (req, it) in enumerate(zip(requests, items)):
            want = _recall_by_hand(it, model.scene_for(req))
            for col, w in zip(("fact_recall", "fact_recall@<=77", "fact_recall@>77"), want):
                g = got[col][k]
                assert (math.isnan(g) and math.isnan(w)) or g == pytest.approx(w, abs=1e-12), (spec, it.id, col)
        values = metric.compute()
        if spec == "mini:oracle":
            assert all(v == 1.0 for v in values.values())
        elif spec == "mini:clip77":
            assert values["fact_recall@<=77"] == 1.0 and values["fact_recall@>77"] < 0.5
        assert len(metric.per_segment()) == len(items)


def test_corruption_is_nested_and_bad_specs_fail(suite):
    from longbench.models.base import build_model

    it = suite.items[0]
    recalls = [_recall_by_hand(it, views.corrupt_scene(it, k, 7))[0] for k in range(len(it.facts) + 1)]
    assert recalls[0] == 1.0 and all(a >= b for a, b in itertools.pairwise(recalls)) and recalls[-1] < 0.5
    with pytest.raises(LongbenchError, match="did you mean 'mini:oracle'"):
        build_model("mini:oracel")
    with pytest.raises(LongbenchError, match="scale"):
        build_model("mini:oracle", {"scale": "0"})
    synth_item = Item(id="s", prompt="A red circle.", meta={"scene": {}})
    with pytest.raises(LongbenchError, match="no miniature scene"):
        views.item_scene(synth_item)


def test_backgrounds_are_neutral_and_objects_never_are():
    assert not set(BACKGROUND_COLOURS) & set(OBJECT_COLOURS)
    with pytest.raises(LongbenchError, match="background"):
        Scene("red", (Group("circle", "blue", "top-left", 1),)).validate(strict=False)
    with pytest.raises(LongbenchError, match="share a region"):
        Scene("white", (Group("circle", "blue", "top-left", 1), Group("square", "red", "top-left", 1))).validate()


def test_random_model_ignores_the_prompt_and_scores_chance(suite):
    """mini:random draws a world scene from the request seed alone: the same image for any prompt with the same
    seed, read back exactly, and a mean fact recall at the level of drawing *another* item's scene (an
    independent estimate of chance, computed by hand without the reader)."""
    from longbench.mini.metric import MiniFactsMetric
    from longbench.mini.world import MINI
    from longbench.models.base import Request, build_model

    model = build_model("mini:random")
    items = suite.items
    a, b = model.generate([Request(item=items[0], seed=5), Request(item=items[1], seed=5)])
    assert np.array_equal(np.asarray(a), np.asarray(b))
    c, = model.generate([Request(item=items[0], seed=6)])
    assert not np.array_equal(np.asarray(a), np.asarray(c))

    seeds = list(range(len(items)))
    images = model.generate([Request(item=it, seed=s) for it, s in zip(items, seeds)])
    metric = MiniFactsMetric()
    metric.update(images, items)
    by_reader = metric.per_sample()["fact_recall"]
    by_hand = [_recall_by_hand(it, MINI.random_scene(s))[0] for it, s in zip(items, seeds)]
    assert by_reader == pytest.approx(by_hand, abs=1e-12)
    shuffled = [_recall_by_hand(it, views.item_scene(items[(i + 1) % len(items)]))[0] for i, it in enumerate(items)]
    assert 0.1 < statistics.mean(by_hand) < 0.35
    assert abs(statistics.mean(by_hand) - statistics.mean(shuffled)) < 0.05
    with pytest.raises(LongbenchError, match="did you mean 'mini:random'"):
        build_model("mini:randon")
