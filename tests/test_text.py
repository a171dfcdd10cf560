"""Tokenizer parity, the two splitters, and `encode` guarantees on long real-world prompts."""

from __future__ import annotations

import re

import pytest

from longbench.text.splitters import split, split_default, split_longalign
from longbench.text.tokenizer import TokenCounter, length_bucket, load_clip_tokenizer

LONG_PROMPTS = [
    # Long, messy prompts of the kind users paste (run-on sentences, lists, decimals, abbreviations).
    "A sprawling night market in a coastal city, lanterns strung between stalls in red, amber and teal, "
    "steam rising from noodle pots, a vendor in a blue apron handing skewers to a child in a yellow raincoat, "
    "wet cobblestones reflecting neon signs that read 'OPEN LATE' and 'FRESH FISH', a tram passing behind the "
    "crowd with its windows fogged, a cat sleeping on a stack of crates, bicycles chained to a lamp post, "
    "puddles with rings from light rain, and in the far distance a lighthouse sweeping its beam across low clouds "
    "while fishing boats bob in the harbour with their lamps lit and gulls resting on the pier railings",
    "Dr. Alvarez stands at 5.30 p.m. beside a 2.5 m tall bronze statue, e.g. the one from the old plaza. "
    "She holds three books! Behind her; two dogs wait... and a bus (No. 12) pulls away? The sky is orange.",
    "word " * 200,
    "Supercalifragilisticexpialidocious" * 30,
]


@pytest.fixture(scope="module")
def counter():
    return TokenCounter(load_clip_tokenizer())


def test_tokenizer_matches_open_clip_on_plain_text(counter):
    import open_clip

    st = open_clip.tokenizer.SimpleTokenizer()
    tok = counter.tokenizer
    for text in ["A photo of a cat.", "Two dogs, 3 birds; and a 1,000-piece puzzle!", "", "MiXeD CaSe words"]:
        assert tok(text)["input_ids"] == [st.sot_token_id] + st.encode(text) + [st.eot_token_id]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.model_max_length) == (49406, 49407, 49407, 77)
    assert len(tok) == 49408


def test_longalign_splitter_is_the_reference_regex():
    pattern = re.compile(r'"!|\.|\?|;"')
    for text in ["A cat. A dog! Wow; really? Yes", 'He said "! stop;" then left.', "", "no end", "...", " . "]:
        ref = [s + "." for s in re.split(pattern, text) if len(s) > 0] or [text]
        assert split_longalign(text) == ref
    # A bare '!' or ';' never splits; decimals do (reference behaviour).
    assert split_longalign("Hi! there; you") == ["Hi! there; you."]
    assert split_longalign("It costs 3.5 dollars") == ["It costs 3.", "5 dollars."]


def test_default_splitter_sentences_and_abbreviations():
    text = "Dr. Smith walks 3.5 km, e.g. to the U.S. embassy! Then he rests; the sun sets. Is it late? Yes..."
    assert split_default(text) == [
        "Dr. Smith walks 3.5 km, e.g. to the U.S. embassy!", "Then he rests;", "the sun sets.", "Is it late?",
        "Yes..."]
    assert split_default('She said "stop." He left.') == ['She said "stop."', "He left."]
    assert split_default("no sentence end at all") == ["no sentence end at all"]
    assert split_default("") == [""]


@pytest.mark.parametrize("prompt", LONG_PROMPTS)
def test_default_segments_fit_77_and_lose_nothing(counter, prompt):
    segments = split(prompt, "default", counter)
    assert all(counter(s) + 2 <= 77 for s in segments)
    # Nothing lost: the words of the segments, in order, are the words of the prompt.
    assert "".join(" ".join(segments).split()) == "".join(prompt.split())


def test_length_buckets():
    assert [length_bucket(n) for n in (2, 77, 78, 154, 155, 240, 241, 5000)] == [
        "<=77", "<=77", "78-154", "78-154", "155-240", "155-240", ">240", ">240"]
