"""Suite statistics on a tiny suite whose token counts, sentences and counts are known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from longbench.suites.base import Entity, Item, Suite
from longbench.suites.stats import histogram, plot_histogram, suite_stats
from longbench.text.tokenizer import TokenCounter


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def tiny_suite() -> Suite:
    # "cat" is one CLIP token and "." another, so each prompt's content length is known by hand:
    # k words of "cat" plus one "." per sentence.
    def prompt(words_per_sentence: list[int]) -> str:
        return " ".join(" ".join(["cat"] * k) + "." for k in words_per_sentence)

    items = [
        Item("s1", prompt([9]), entities=(Entity("cat", 2), Entity("dog"))),            # 10 content tokens
        Item("s2", prompt([40, 39])),                                                   # 81
        Item("s3", prompt([50, 47, 2]), entities=(Entity("cat", 3), Entity("cup", 1))), # 102
        Item("s4", prompt([100, 100, 49]), segments=("cat.",)),                         # 252 (segments: 1)
    ]
    return Suite("tiny", "1", items)


def test_numbers_against_hand_counts(counter: TokenCounter) -> None:
    st = suite_stats(tiny_suite(), counter)
    lengths = [10 + 2, 81 + 2, 102 + 2, 252 + 2]  # content + start/end tokens
    assert counter.many([it.prompt for it in tiny_suite().items]) == [n - 2 for n in lengths]
    tok = st["tokens"]
    assert st["n_items"] == 4
    assert (tok["min"], tok["max"], tok["mean"], tok["median"]) == (12, 254, sum(lengths) / 4, (83 + 104) / 2)
    assert tok["share_over_77"] == 0.75 and tok["share_over_240"] == 0.25
    assert tok["buckets"] == {"<=77": 1, "78-154": 2, "155-240": 0, ">240": 1}
    sent = st["sentences"]
    assert (sent["min"], sent["max"], sent["mean"], sent["median"]) == (1, 3, (1 + 2 + 3 + 1) / 4, 1.5)
    cnt = st["counted_entities"]
    assert (cnt["total"], cnt["max"], cnt["share_of_items"], cnt["mean"]) == (3, 2, 0.5, 0.75)
    assert st["suite"]["sha256"] == tiny_suite().sha256


def test_histogram_matches_numpy() -> None:
    lengths = [12, 83, 104, 254, 20, 19, 0]
    h = histogram(lengths, width=20)
    ref, _edges = np.histogram(lengths, bins=h["edges"])
    # numpy closes the last bin on the right; ours is half-open everywhere, so compare all but the edge case
    assert h["edges"][-1] > max(lengths)
    assert h["counts"] == ref.tolist()
    assert sum(h["counts"]) == len(lengths)


def test_plot_writes_png(tmp_path: Path, counter: TokenCounter) -> None:
    out = plot_histogram(suite_stats(tiny_suite(), counter), tmp_path / "plots" / "h.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (800, 400)
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
