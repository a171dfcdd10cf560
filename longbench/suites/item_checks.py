"""Checks of a structurally valid item against its own text (the rules are listed in :mod:`longbench.suites.schema`):
segments in the prompt, facts' entities and counts stated in their sentences, entities and count facts in
agreement."""

from __future__ import annotations

import re

from longbench.suites.base import Item
from longbench.suites.counts import find_counts
from longbench.suites.lexicon import head_noun, mentions_noun, number_value, same_noun, words
from longbench.text.splitters import split_default

# Words that state a quantity in a sentence, with the count they state.
_QUANTITY_WORDS = {
    "a": 1, "an": 1, "single": 1, "lone": 1, "solitary": 1, "sole": 1, "once": 1,
    "pair": 2, "couple": 2, "twin": 2, "twins": 2, "both": 2, "double": 2, "twice": 2,
    "trio": 3, "triple": 3, "triplets": 3, "quartet": 4, "quintet": 5, "dozen": 12,
    "no": 0, "zero": 0, "none": 0, "without": 0, "nothing": 0, "nobody": 0,
}


def number_values(sentence: str) -> set[int]:
    """Every quantity a sentence states in words or digits ("a pair of" → 2, "half a dozen" → 6)."""
    ws = words(sentence)
    vals: set[int] = set()
    for k, w in enumerate(ws):
        if w in _QUANTITY_WORDS:
            vals.add(_QUANTITY_WORDS[w])
        n = number_value(w)
        if n is None and w.isdigit():
            n = int(w)
        if n is not None:
            vals.add(n)
            if k + 1 < len(ws) and ws[k + 1] == "dozen":
                vals.add(n * 12)
        if w == "half" and ws[k + 1:k + 3] == ["a", "dozen"]:
            vals.add(6)
    vals.update(int(d) for d in re.findall(r"\d+", sentence))
    return vals


def item_problems(item: Item) -> list[str]:
    """Problems of a structurally valid item against its own text (see the module docstring)."""
    out: list[str] = []
    if item.segments is not None:
        pos = 0
        for k, seg in enumerate(item.segments):
            at = item.prompt.find(seg, pos)
            if at < 0:
                where = "is not in the prompt" if seg not in item.prompt else "is out of order"
                out.append(f"segments[{k}] {where}: {seg[:60]!r}")
            else:
                pos = at + len(seg)
    sentences = list(item.segments) if item.segments is not None else split_default(item.prompt)
    names: dict[str, int | None] = {}
    for e in item.entities:
        key = e.name.strip().lower()
        if key in names:
            out.append(f"entity {e.name!r} is declared twice")
        names[key] = e.count
    parsed = None  # count-parser mentions, computed only when a count fact needs them
    counted_facts: set[str] = set()
    for k, f in enumerate(item.facts):
        w = f"facts[{k}] ({f.type}"
        w += f" {f.entity!r})" if f.entity else ")"
        if f.sentence >= len(sentences):
            out.append(f"{w} sentence {f.sentence} is out of range (the item has {len(sentences)} "
                       f"sentence{'s' if len(sentences) != 1 else ''})")
            continue
        sent = sentences[f.sentence]
        for role, name in (("entity", f.entity), ("target", f.target)):
            if name and not mentions_noun(sent, head_noun(name)):
                out.append(f"{w} {role} {name!r} does not appear in sentence {f.sentence}: {sent[:80]!r}")
        if f.type == "count" and f.entity:
            counted_facts.add(f.entity.strip().lower())
            if f.value not in number_values(sent):
                if parsed is None:
                    parsed = find_counts(item.prompt, item.segments)
                head = head_noun(f.entity)
                if not any(m.sentence == f.sentence and m.entity.count == f.value
                           and same_noun(head_noun(m.entity.name), head) for m in parsed):
                    out.append(f"{w} value {f.value} is not stated in sentence {f.sentence}: {sent[:80]!r}")
            key = f.entity.strip().lower()
            if key not in names:
                out.append(f"{w} names no declared entity (entities: "
                           f"{', '.join(repr(e.name) for e in item.entities) or 'none'})")
            elif names[key] != f.value:
                out.append(f"{w} value {f.value} disagrees with the entity's count {names[key]!r}")
        if f.type == "text" and isinstance(f.value, str) and (
                " ".join(f.value.lower().split()) not in " ".join(sent.lower().split())):
            out.append(f"{w} text {f.value!r} does not appear in sentence {f.sentence}")
    if item.facts:
        for e in item.entities:
            # count 0 (absence, e.g. a GenEval exclusion) is a constraint, not something a sentence states
            if e.count and e.name.strip().lower() not in counted_facts:
                out.append(f"entity {e.name!r} has count {e.count} but no count fact states it")
    return out
