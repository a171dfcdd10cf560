"""The packaged ``longbench-v1`` suite: content hash, length spread, counts and sentence annotations."""

from __future__ import annotations

import re

import pytest

from longbench.registry import SUITES
from longbench.suites.loaders import load_suite
from longbench.text.splitters import split_default
from longbench.text.tokenizer import TokenCounter

N_ITEMS = 230
SHA256 = "80dbd8c2d40604add5755293494536f98f9db5f0f792506f473a5caffc35150a"

# Independent of the count parser: the numbers a sentence states, as words, digits or idioms.
_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12}
_IDIOMS = {r"\ba pair of\b": 2, r"\ba couple of\b": 2, r"\btwins?\b": 2, r"\ba dozen\b": 12}


def stated_numbers(sentence: str) -> set[int]:
    s = sentence.lower()
    found = {int(d) for d in re.findall(r"\b\d+\b", s)}
    found |= {_WORDS[w] for w in re.findall(r"[a-z]+", s) if w in _WORDS}
    found |= {v for pattern, v in _IDIOMS.items() if re.search(pattern, s)}
    if re.search(r"\bone\b", s) and re.search(r"\banother\b", s):
        found.add(2)  # "one chair by the window, another against the wall"
    return found


@pytest.fixture(scope="module")
def suite():
    return load_suite("longbench-v1")


@pytest.fixture(scope="module")
def lengths(suite):
    counter = TokenCounter()
    return [n + 2 for n in counter.many([it.prompt for it in suite.items])]


def test_registered_and_identified(suite):
    assert "longbench-v1" in SUITES.names()
    assert suite.name == "longbench-v1" and suite.version == "1"
    assert len(suite) == N_ITEMS
    assert [it.id for it in suite.items] == [f"lb1-{i:04d}" for i in range(1, N_ITEMS + 1)]
    assert all(it.reference_image is None and it.tags for it in suite.items)


def test_content_hash_is_pinned(suite):
    # Any edit to the packaged prompts or annotations must be a deliberate new suite version.
    assert suite.sha256 == SHA256


def test_length_spread(lengths):
    n = len(lengths)
    assert sum(x > 77 for x in lengths) / n >= 0.40
    assert sum(x > 240 for x in lengths) / n >= 0.15
    assert sum(x <= 77 for x in lengths) >= 20
    assert min(lengths) >= 40 and max(lengths) <= 420


def test_segments_are_the_default_split(suite):
    for it in suite.items:
        assert it.segments is not None, it.id
        assert list(it.segments) == split_default(it.prompt), it.id
        assert all(s.endswith((".", "!", "?")) for s in it.segments), it.id


def test_enough_items_state_counts(suite):
    with_counts = [it for it in suite.items if any(f.type == "count" for f in it.facts)]
    assert len(with_counts) >= 100


def test_count_facts_are_stated_in_their_sentence(suite):
    checked = 0
    for it in suite.items:
        by_name = {e.name: e for e in it.entities}
        for f in it.facts:
            if f.type != "count":
                continue
            sentence = it.segments[f.sentence]
            assert isinstance(f.value, int) and 2 <= f.value <= 12, (it.id, f)
            assert f.value in stated_numbers(sentence), (it.id, f.value, sentence)
            assert by_name[f.entity].count == f.value, (it.id, f.entity)
            checked += 1
    assert checked >= 200


def test_fact_entities_are_declared_and_written(suite):
    for it in suite.items:
        names = {e.name for e in it.entities}
        for f in it.facts:
            assert 0 <= f.sentence < len(it.segments), (it.id, f)
            for name in (f.entity, f.target):
                if name is None:
                    continue
                assert name in names, (it.id, name)
                head = name.lower().split(" of ")[0].split()[-1]
                assert head in it.segments[f.sentence].lower(), (it.id, name, f.sentence)
            if f.type == "text":
                assert f'"{f.value}"' in it.segments[f.sentence], (it.id, f.value)


def test_stated_numbers_reference():
    assert stated_numbers("Three cats and 4 dogs.") == {3, 4}
    assert stated_numbers("A pair of boots and a dozen eggs.") == {2, 12}
    assert stated_numbers("One owl sits here, and another flies.") == {2}
    assert stated_numbers("Someone left a stone.") == set()
