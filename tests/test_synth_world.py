"""Synthetic world: scene sampler, grammar, token positions, splitter agreement."""

from __future__ import annotations

import random
import re

import pytest

from longbench.errors import LongbenchError
from longbench.synth.grammar import make_prompt
from longbench.synth.sampler import sample_scene
from longbench.synth.suite import make_items
from longbench.synth.world import (
    NEUTRAL_COLOURS,
    OBJECT_COLOURS,
    REGIONS,
    SHAPES,
    SIZES,
    Group,
    Scene,
    group_name,
    visible,
)
from longbench.text.splitters import split_default
from longbench.text.tokenizer import TokenCounter, load_clip_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_clip_tokenizer()


@pytest.fixture(scope="module")
def items(tokenizer):
    return make_items(300, seed=12345, prefix="t", counter=TokenCounter(tokenizer))


def test_sampler_invariants_and_determinism():
    for seed in range(500):
        scene = sample_scene(seed)
        assert scene == sample_scene(random.Random(seed))
        assert 3 <= len(scene.groups) <= 8
        regions = [g.region for g in scene.groups]
        assert len(set(regions)) == len(regions)
        assert regions == sorted(regions, key=REGIONS.index)
        assert len({(g.colour, g.shape) for g in scene.groups}) == len(scene.groups)
        for g in scene.groups:
            assert g.colour in OBJECT_COLOURS and g.colour != scene.background
            assert g.shape in SHAPES and g.size in SIZES and 1 <= g.count <= 4
        assert Scene.from_dict(scene.to_dict()) == scene


def test_sampler_is_pinned():
    # Pure-Python Mersenne Twister: the same scene on every platform and Python >= 3.10.
    assert sample_scene(0).to_dict() == {
        "background": "pink",
        "groups": [
            {"shape": "star", "colour": "green", "size": "small", "region": "left", "count": 3},
            {"shape": "square", "colour": "green", "size": "small", "region": "center", "count": 2},
            {"shape": "circle", "colour": "purple", "size": "large", "region": "bottom", "count": 2},
        ],
    }


def test_sampler_covers_vocabulary():
    scenes = [sample_scene(s) for s in range(400)]
    groups = [g for sc in scenes for g in sc.groups]
    assert {g.shape for g in groups} == set(SHAPES)
    assert {g.colour for g in groups} == set(OBJECT_COLOURS)
    assert {g.region for g in groups} == set(REGIONS)
    assert {g.count for g in groups} == {1, 2, 3, 4}
    backgrounds = {sc.background for sc in scenes}
    assert set(NEUTRAL_COLOURS) <= backgrounds and backgrounds - set(NEUTRAL_COLOURS)


@pytest.mark.parametrize("bad, msg", [
    ({"background": "white", "groups": [{"shape": "hexagon", "colour": "red", "size": "small",
                                         "region": "top", "count": 1}]}, "unknown shape"),
    ({"background": "red", "groups": [{"shape": "circle", "colour": "red", "size": "small",
                                       "region": "top", "count": 1}]}, "background colour"),
    ({"background": "white", "groups": [{"shape": "circle", "colour": "red", "size": "small",
                                         "region": "top", "count": 5}]}, "count"),
    ({"background": "white", "groups": [
        {"shape": "circle", "colour": "red", "size": "small", "region": "top", "count": 1},
        {"shape": "star", "colour": "blue", "size": "small", "region": "top", "count": 1},
    ]}, "share a region"),
    ({"background": "white", "groups": [{"shape": "circle"}]}, "malformed"),
    ({"background": "white"}, "groups"),
])
def test_scene_validation_errors(bad, msg):
    with pytest.raises(LongbenchError, match=msg):
        Scene.from_dict(bad)


def test_prompt_sentences_and_splitter(items, tokenizer):
    counter = TokenCounter(tokenizer)
    for it in items:
        assert 4 <= len(it.segments) <= 12
        assert it.prompt == " ".join(it.segments)
        assert split_default(it.prompt) == list(it.segments)
        assert split_default(it.prompt, counter) == list(it.segments)  # no sentence needs cutting


def test_facts_match_scene(items):
    for it in items:
        scene = Scene.from_dict(it.meta["scene"])
        assert [e.name for e in it.entities] == [g.name for g in scene.groups]
        assert [(e.count, e.attributes) for e in it.entities] == [(g.count, (g.colour, g.size))
                                                                  for g in scene.groups]
        assert [f.sentence for f in it.facts] == sorted(f.sentence for f in it.facts)
        for g in scene.groups:
            facts = {f.type: f for f in it.facts if f.entity == g.name}
            assert len([f for f in it.facts if f.entity == g.name]) == 4
            assert facts["presence"].value is None
            assert facts["count"].value == g.count
            assert facts["attribute"].value == g.size
            assert facts["spatial"].value == g.region
            # presence is stated in the first sentence that mentions the group
            assert facts["presence"].sentence == min(f.sentence for f in facts.values())
        bg = it.meta["background_sentence"]
        assert not any(f.sentence == bg for f in it.facts)


_COLOUR_SYNONYMS = {"purple": ("purple", "violet"), "gray": ("gray", "grey")}
_SHAPE_SYNONYMS = {s: (s,) for s in SHAPES}
_NUMBERS = {1: ("one", "1", "single"), 2: ("two", "2", "pair"), 3: ("three", "3"), 4: ("four", "4")}
_SIZE_SYNONYMS = {"small": ("small", "tiny", "little"), "large": ("large", "big")}


def _region_words_ok(sentence: str, region: str) -> bool:
    s = sentence.lower()
    vert = "top" if region.startswith("top") else "bottom" if region.startswith("bottom") else "mid"
    horiz = "left" if region.endswith("left") else "right" if region.endswith("right") else "mid"
    words = set(re.findall(r"[a-z]+", s))
    has = {"top": bool(words & {"top", "upper"}), "bottom": bool(words & {"bottom", "lower"}),
           "left": "left" in words, "right": "right" in words}
    if vert != "mid" and not has[vert]:
        return False
    if horiz != "mid" and not has[horiz]:
        return False
    other_v = {"top": "bottom", "bottom": "top"}.get(vert)
    other_h = {"left": "right", "right": "left"}.get(horiz)
    if vert == "mid" and (has["top"] or has["bottom"]):
        return False
    if horiz == "mid" and (has["left"] or has["right"]):
        return False
    return not (other_v and has[other_v]) and not (other_h and has[other_h])


def test_sentences_state_their_facts(items):
    """An independent reading of the text: each single-group sentence mentions what its facts say."""
    checked = 0
    for it in items:
        scene = Scene.from_dict(it.meta["scene"])
        for si, sentence in enumerate(it.segments):
            facts = [f for f in it.facts if f.sentence == si]
            if not facts or len({f.entity for f in facts}) != 1:
                continue
            g = scene.group(facts[0].entity)
            low = sentence.lower()
            assert any(c in low for c in _COLOUR_SYNONYMS.get(g.colour, (g.colour,))), sentence
            assert any(s in low for s in _SHAPE_SYNONYMS[g.shape]), sentence
            words = set(re.findall(r"[a-z0-9]+", low))
            for f in facts:
                if f.type == "count":
                    assert words & set(_NUMBERS[g.count]), sentence
                elif f.type == "attribute":
                    assert words & set(_SIZE_SYNONYMS[g.size]), sentence
                elif f.type == "spatial":
                    assert _region_words_ok(sentence, g.region), (sentence, g.region)
            if not any(f.type == "count" for f in facts):  # no number word for an unstated count
                assert not words & {"two", "three", "four", "2", "3", "4"}, sentence
            checked += 1
    assert checked > 1000


def test_wording_varies(items):
    openings = {s.split()[0] for it in items for s in it.segments}
    assert len(openings) > 25
    prompts = [it.prompt for it in items]
    assert len(set(prompts)) == len(prompts)
    digits = sum(bool(re.search(r"\b[1-4]\b", p)) for p in prompts)
    assert 0.2 * len(prompts) < digits < len(prompts)  # both digits and number words


def test_token_positions_are_exact(items, tokenizer):
    """Sentence starts agree with tokenizing each prompt prefix directly."""
    for it in items[:60]:
        for i, start in enumerate(it.meta["segment_starts"]):
            prefix = " ".join(it.segments[:i])
            ids = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
            assert len(ids) == start
        full = tokenizer(it.prompt, add_special_tokens=False)["input_ids"]
        assert len(full) == it.meta["n_tokens"]


def test_fact_spans_point_at_the_words_that_state_each_fact(items):
    """Each fact's spans cover the group's name in its own sentence and, except presence, a value word."""
    for it in items:
        scene = Scene.from_dict(it.meta["scene"])
        starts = [sum(len(s) + 1 for s in it.segments[:i]) for i in range(len(it.segments))]
        assert len(it.meta["fact_spans"]) == len(it.facts)
        for f, spans in zip(it.facts, it.meta["fact_spans"]):
            lo, hi = starts[f.sentence], starts[f.sentence] + len(it.segments[f.sentence])
            assert all(lo <= a < b <= hi for a, b in spans), (it.id, f)  # inside the fact's own sentence
            name = it.prompt[spans[0][0]:spans[0][1]].lower()
            g = scene.group(f.entity)
            assert name.split()[0] in _COLOUR_SYNONYMS.get(g.colour, (g.colour,)), (it.id, f, name)
            assert g.shape in name, (it.id, f, name)
            if f.type == "presence":
                assert len(spans) == 1
                continue
            assert len(spans) == 2
            value = it.prompt[spans[1][0]:spans[1][1]].lower()
            if f.type == "count":
                assert any(w in value.split() for w in _NUMBERS[g.count]) or "one" in value, (it.id, value)
            elif f.type == "attribute":
                assert value in _SIZE_SYNONYMS[g.size], (it.id, value)
            else:
                assert value.startswith(("in ", "at ", "on ", "up ", "down ", "exactly ")), (it.id, value)
        a, b = it.meta["background_span"]
        bg_start = starts[it.meta["background_sentence"]]
        assert bg_start <= a and it.prompt[a:b].lower() in _COLOUR_SYNONYMS.get(scene.background,
                                                                                (scene.background,))


def test_visible_boundary():
    # 77 positions = start token (position 0) + 75 content tokens (positions 1-75) + end token (76):
    # content token k sits at position k + 1 and is read iff k + 1 <= 75
    assert visible(0) and visible(74)
    assert not visible(75) and not visible(200)
    assert visible(245, 248) and not visible(246, 248)


def test_group_names():
    assert group_name("red", "circle") == "red circles"
    assert group_name("blue", "cross") == "blue crosses"
    assert Group("star", "pink", "small", "top", 2).name == "pink stars"


def test_grammar_deterministic():
    scene = sample_scene(3)
    a = make_prompt(scene, random.Random(9))
    b = make_prompt(scene, random.Random(9))
    assert a == b
    assert a != make_prompt(scene, random.Random(10))


def test_non_fact_sentences_state_nothing():
    """Fillers, flourishes and background sentences carry no shape, size, number or place words."""
    from longbench.synth.grammar import BACKGROUND_TEMPLATES, FILLERS, FLOURISHES

    banned = {"circle", "circles", "disc", "square", "squares", "triangle", "diamond", "rhombus", "star",
              "stars", "cross", "plus", "small", "tiny", "little", "large", "big", "one", "two", "three",
              "four", "single", "pair", "left", "right", "top", "bottom", "upper", "lower", "centre",
              "center", "middle"} | set(OBJECT_COLOURS) | set(NEUTRAL_COLOURS) | {"grey", "violet"}
    for text in FILLERS + FLOURISHES + BACKGROUND_TEMPLATES:
        words = set(re.findall(r"[a-z]+", text.lower()))
        assert not words & banned, (text, words & banned)
