"""Count parser: finds stated quantities of things in raw prompts so imported suites get entities.

Recognised (case-insensitive):

* a number then a noun phrase: number words ("two" … "twenty", "thirty" … "ninety", "twenty-five"),
  digits 1–999, "N dozen"; the head noun is the first plural noun within a few words, across commas
  and colour pairs ("three small red boats" → boat ×3, attributes small, red; "3 red and black
  funnels"); "N other/more X" counts X;
* "a pair of", "a couple of" (2), "a trio of" (3), "a quartet of" (4), also with an adjective before
  the noun ("a gleaming pair of"), "a dozen" (12), "half a dozen" (6), "twin" (2), "two of <noun>"
  without a determiner ("two of fatty tuna");
* "one <noun> … another / a second …" (2, and one more per "a third" …), except after a preposition
  ("in one cage …, in another" spreads things over places);
* "several", "many", "a few", "numerous", "multiple", "countless", "a handful of", "dozens of", and
  "a single / lone / solitary <noun>": the entity, without a count (the annotation convention of
  ``longbench-v1``: counts there are 2 and more). A bare "one <noun>" is not an entity ("in one
  corner", "one hand").

Rejected as counts: times ("3 pm", "five o'clock", "3:30"), ages and sizes written as compounds
("5-year-old", "two-story"), measurements ("10 cm", "ten feet tall", "two years old"), years, decades
("the nineteen fifties") and numbers over 999, decimals, percentages, money, labels ("number 7",
"Route 66", "Apollo 11"), "one of the" / "two of them", ranges ("two or three", "3-4"), approximations
("about 20", "around 30", "more than two"), ordinals, "at one point", "one another", "without a single",
numbers inside quoted text, and "a pair of" before a one-piece noun ("a pair of glasses").

:func:`find_counts` returns mentions with their sentence index (into ``split_default(prompt)`` or the
given segments) so callers can attach facts; :func:`parse_counts` returns just the entities.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from longbench.suites.base import Entity, Fact
from longbench.suites.count_parser import SentenceParser
from longbench.text.splitters import split_default

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CountMention:
    """One entity found in a prompt: the entity, the 0-based sentence that states it, and the
    character span of the quantifier + noun phrase within that sentence."""

    entity: Entity
    sentence: int
    start: int
    end: int


def find_counts(prompt: str, segments: Sequence[str] | None = None) -> list[CountMention]:
    """Entities with stated counts (or vague quantities) in ``prompt``, each with its sentence index.

    Args:
        prompt: the raw prompt.
        segments: the item's segments when it has them; sentence indexes refer to these. Default:
            ``split_default(prompt)``.

    Returns:
        One mention per distinct entity, in order of first mention. A noun mentioned twice with the
        same count ("Two cats … the two cats …") is kept once.
    """
    sentences = list(segments) if segments is not None else split_default(prompt)
    found: list[CountMention] = []
    for si, sent in enumerate(sentences):
        nxt = sentences[si + 1] if si + 1 < len(sentences) else ""
        for ent, a, b in SentenceParser(sent, nxt).mentions():
            found.append(CountMention(ent, si, a, b))
    return _dedupe(found)


def _dedupe(found: list[CountMention]) -> list[CountMention]:
    out: list[CountMention] = []
    for m in found:
        clash = [k for k, o in enumerate(out) if o.entity.name == m.entity.name]
        if any(out[k].entity.count == m.entity.count for k in clash):
            continue  # the same entity mentioned again
        if clash and m.entity.count is None:
            continue  # "three cats … several cats": keep the stated count
        if clash:
            # Same noun, different counts ("two red and three blue balloons"): name them by attributes.
            for k in clash:
                out[k] = _with_attribute_name(out[k])
            m = _with_attribute_name(m)
            if any(o.entity.name == m.entity.name for o in out):
                continue
        out.append(m)
    return out


def _with_attribute_name(m: CountMention) -> CountMention:
    e = m.entity
    if not e.attributes or e.name.startswith(" ".join(e.attributes) + " "):
        return m
    return CountMention(Entity(" ".join(e.attributes + (e.name,)), e.count, e.attributes), m.sentence, m.start, m.end)


def parse_counts(prompt: str) -> list[Entity]:
    """The entities of :func:`find_counts` (count None for "several"/"many"/"a few")."""
    return [m.entity for m in find_counts(prompt)]


def facts_from_mentions(mentions: Sequence[CountMention]) -> list[Fact]:
    """A ``count`` fact per counted mention and a ``presence`` fact per uncounted one."""
    facts = []
    for m in mentions:
        if m.entity.count is None:
            facts.append(Fact(type="presence", sentence=m.sentence, entity=m.entity.name))
        else:
            facts.append(Fact(type="count", sentence=m.sentence, entity=m.entity.name, value=m.entity.count))
    return facts
