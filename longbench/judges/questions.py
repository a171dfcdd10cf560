"""Yes/no questions for a judge: generated from an item's facts (DSG style) or taken from the suite.

Generated questions (deterministic templates, one per fact; English only):

=============  ====================================================  =====================================
fact           question                                              depends on
=============  ====================================================  =====================================
presence       "Is there a cat?" / "Are there red circles?"          —
count (n≥1)    "Is there exactly one cat?" / "Are there exactly      presence of the entity
               three cats?"
count (0)      "Are there no cats?"                                  —
attribute      "Is the cat black?" / "Are the red circles large?"    presence of the entity
spatial        "Is the cat left of the dog?" (relation to a target)  presence of the entity (and target)
               "Are the red circles in the top left of the image?"
               (absolute region)
text           'Is the text "OPEN" written on the sign?' /           presence of the entity, if any
               'Does the image show the text "OPEN"?'
style          "Is the image in a watercolor style?"                 —
=============  ====================================================  =====================================

The grammatical number follows the entity's stated count (``entities`` or a count fact): 1 → singular,
≥ 2 → plural, unknown → the number of the name's head noun. An entity referred to by a dependent fact but
without a presence fact gets a presence question of its own (the DSG rule that an attribute, count or
relation question depends on the presence of its entities). Question order: every presence question first
(in order of first mention), then the other facts in the item's order; ids are ``"1"``, ``"2"``, ... in
that order, so parents always precede their children. The category of a generated question is its fact
type.

Suite questions (``item.questions``, e.g. imported from DPG-Bench) are used as given: id, text,
dependencies, category (``"other"`` when absent) and, when ``fact`` is set, the fact they check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.suites.base import Fact
from longbench.suites.lexicon import head_noun, is_plural, noun_forms, singular

if TYPE_CHECKING:
    from longbench.text.tokenizer import TokenCounter

QUESTION_SOURCES = ("auto", "suite", "facts")
#: Bumped whenever a template or the dependency rule changes (recorded in the metric protocol).
QUESTIONS_VERSION = "1"
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve")
#: Absolute positions (the synthetic world's regions, GenEval-style words) → a phrase after "Is the X ...".
REGION_PHRASES = {
    "top-left": "in the top left", "top left": "in the top left", "top": "at the top",
    "top-right": "in the top right", "top right": "in the top right", "left": "on the left",
    "center": "in the center", "centre": "in the center", "middle": "in the middle", "right": "on the right",
    "bottom-left": "in the bottom left", "bottom left": "in the bottom left", "bottom": "at the bottom",
    "bottom-right": "in the bottom right", "bottom right": "in the bottom right",
}


@dataclass(frozen=True)
class VQAQuestion:
    """One question as the metric asks it.

    Attributes:
        id: unique within the item.
        text: the question put to the judge.
        depends_on: ids of parent questions (a "no" to any of them scores this question 0).
        category: result group ("presence", "attribute", "entity - whole", ...).
        fact: the fact the question checks (what the exact ``synth`` judge reads), if any.
        fact_index: its index in ``item.facts`` (None for a generated presence question without a fact).
    """

    id: str
    text: str
    depends_on: tuple[str, ...] = ()
    category: str = "other"
    fact: Fact | None = None
    fact_index: int | None = None


# ---------------------------------------------------------------------------- wording
def _pluralize(word: str) -> str:
    if is_plural(word):
        return word
    regular = {word + "s", word + "es", word[:-1] + "ies"}
    irregular = sorted(f for f in noun_forms(word) if f not in regular and f != word and singular(f) == word)
    if irregular:  # "goose" → "geese", "leaf" → "leaves"
        return irregular[0]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _forms(name: str) -> tuple[str, str, bool]:
    """(singular phrase, plural phrase, whether the name as written is plural) of an entity name."""
    name = " ".join(name.split())
    head = head_noun(name)
    if not head:
        return name, name, False
    low = name.lower()
    at = low.rfind(head)
    if at < 0:  # the head is always a word of the name; be safe with odd punctuation
        return name, name, False
    plural = is_plural(head)
    sg = name[:at] + singular(head) + name[at + len(head):]
    pl = name if plural else name[:at] + _pluralize(head) + name[at + len(head):]
    return sg, pl, plural


def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def _number(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


class _Namer:
    """Noun phrases of an item's entities with the grammatical number of their stated count."""

    def __init__(self, item: Any):
        self.counts: dict[str, int | None] = {}
        for e in getattr(item, "entities", ()):
            self.counts[e.name.strip().lower()] = e.count
        for f in getattr(item, "facts", ()):
            if f.type == "count" and f.entity and isinstance(f.value, int):
                self.counts.setdefault(f.entity.strip().lower(), f.value)

    def plural(self, name: str) -> bool:
        count = self.counts.get(name.strip().lower())
        if count is None:
            return _forms(name)[2]
        return count != 1

    def phrase(self, name: str) -> str:
        sg, pl, _ = _forms(name)
        return pl if self.plural(name) else sg


def question_text(fact: Fact, namer: _Namer) -> str:
    """The question for one fact (see the module docstring for the templates)."""
    t, e, v = fact.type, fact.entity, fact.value
    if t == "presence" and e:
        if namer.plural(e):
            return f"Are there {_forms(e)[1]}?"
        sg = _forms(e)[0]
        return f"Is there {_article(sg)} {sg}?"
    if t == "count" and e and isinstance(v, int):
        sg, pl, _ = _forms(e)
        if v == 0:
            return f"Are there no {pl}?"
        if v == 1:
            return f"Is there exactly one {sg}?"
        return f"Are there exactly {_number(v)} {pl}?"
    if t == "attribute" and e:
        verb = "Are" if namer.plural(e) else "Is"
        return f"{verb} the {namer.phrase(e)} {v}?"
    if t == "spatial" and e:
        verb = "Are" if namer.plural(e) else "Is"
        if fact.target:
            return f"{verb} the {namer.phrase(e)} {v} the {namer.phrase(fact.target)}?"
        region = REGION_PHRASES.get(str(v).strip().lower())
        if region:
            return f"{verb} the {namer.phrase(e)} {region} of the image?"
        return f"{verb} the {namer.phrase(e)} {v}?"
    if t == "text":
        if e:
            return f'Is the text "{v}" written on the {namer.phrase(e)}?'
        return f'Does the image show the text "{v}"?'
    if t == "style":
        return f"Is the image in {_article(str(v))} {v} style?"
    # A fact type added to the schema later: still a well-formed question.
    parts = " ".join(str(p) for p in (e, v, fact.target) if p is not None)
    return f"Does the image show {parts}?"


# ---------------------------------------------------------------------------- questions
def questions_from_facts(item: Any) -> list[VQAQuestion]:
    """The DSG questions of an item's facts (module docstring); empty when the item has no facts."""
    facts: Sequence[Fact] = getattr(item, "facts", ())
    namer = _Namer(item)
    # Entities whose presence the dependent facts need, in order of first mention, with that sentence.
    first_mention: dict[str, tuple[str, int]] = {}
    explicit: dict[str, int] = {}
    for k, f in enumerate(facts):
        for name in (f.entity, f.target if f.type == "spatial" else None):
            if not name or (f.type == "count" and f.value == 0 and name == f.entity):
                continue
            first_mention.setdefault(name.strip().lower(), (name, f.sentence))
        if f.type == "presence" and f.entity:
            explicit.setdefault(f.entity.strip().lower(), k)
    presence: list[VQAQuestion] = []
    presence_id: dict[str, str] = {}
    for key, (name, sentence) in first_mention.items():
        qid = str(len(presence) + 1)
        presence_id[key] = qid
        k = explicit.get(key)
        fact = facts[k] if k is not None else Fact(type="presence", sentence=sentence, entity=name)
        presence.append(VQAQuestion(id=qid, text=question_text(fact, namer), category="presence", fact=fact,
                                    fact_index=k))
    others: list[VQAQuestion] = []
    for k, f in enumerate(facts):
        if f.type == "presence" and f.entity:
            continue
        deps: list[str] = []
        for name in (f.entity, f.target if f.type == "spatial" else None):
            if name and not (f.type == "count" and f.value == 0):
                pid = presence_id.get(name.strip().lower())
                if pid and pid not in deps:
                    deps.append(pid)
        qid = str(len(presence) + len(others) + 1)
        others.append(VQAQuestion(id=qid, text=question_text(f, namer), depends_on=tuple(deps), category=f.type,
                                  fact=f, fact_index=k))
    return presence + others


def suite_questions(item: Any) -> list[VQAQuestion]:
    """The item's own questions (``item.questions``) as the metric asks them."""
    facts = getattr(item, "facts", ())
    out = []
    for q in getattr(item, "questions", ()):
        fact = facts[q.fact] if q.fact is not None and 0 <= q.fact < len(facts) else None
        category = q.category or (fact.type if fact is not None else "other")
        out.append(VQAQuestion(id=q.id, text=q.text, depends_on=tuple(q.depends_on), category=category, fact=fact,
                               fact_index=q.fact if fact is not None else None))
    return out


def item_questions(item: Any, source: str = "auto") -> list[VQAQuestion]:
    """Questions of an item: ``suite`` (its own), ``facts`` (generated) or ``auto`` (its own when it has
    any, else generated)."""
    if source not in QUESTION_SOURCES:
        raise LongbenchError(f"vqa: questions must be one of {', '.join(QUESTION_SOURCES)}, got {source!r}")
    if source == "suite" or (source == "auto" and getattr(item, "questions", ())):
        return suite_questions(item)
    return questions_from_facts(item)


def parents_by_index(questions: Sequence[VQAQuestion]) -> list[list[int]]:
    """Dependencies as indices into ``questions``; an unknown id is a LongbenchError (suites are validated
    on load, so this only fires for questions built in code)."""
    index = {q.id: i for i, q in enumerate(questions)}
    out = []
    for q in questions:
        row = []
        for d in q.depends_on:
            if d not in index:
                raise LongbenchError(f"question {q.id!r} depends on unknown question {d!r}")
            row.append(index[d])
        out.append(row)
    return out


def question_last_tokens(item: Any, questions: Sequence[VQAQuestion], counter: TokenCounter | None = None
                         ) -> list[int | None]:
    """Per question, the CLIP content-token index (0-based, start token not counted) of the last token that
    states its fact; None for a question without a fact.

    The rule is the project's one (``longbench.worlds.tokens.fact_last_tokens``): the end of the fact's
    character spans when the item records them (``meta.fact_spans``, synth and mini items), else the last
    token of the fact's sentence (``segments``, or the default splitter's sentences). A generated presence
    question without a fact of its own uses its entity's first sentence.
    """
    if not any(q.fact is not None for q in questions):
        return [None] * len(questions)
    if counter is None:
        from longbench.text.tokenizer import TokenCounter

        counter = TokenCounter()
    sentence_ends = _sentence_last_tokens(item, counter)
    fact_ends: list[int] | None = None
    if item.segments is not None and any(q.fact_index is not None for q in questions):
        from longbench.worlds.tokens import fact_last_tokens

        fact_ends = fact_last_tokens(item, counter)
    out: list[int | None] = []
    for q in questions:
        if q.fact is None:
            out.append(None)
        elif fact_ends is not None and q.fact_index is not None:
            out.append(fact_ends[q.fact_index])
        elif 0 <= q.fact.sentence < len(sentence_ends):
            out.append(sentence_ends[q.fact.sentence])
        else:
            out.append(None)
    return out


def _sentence_last_tokens(item: Any, counter: TokenCounter) -> list[int]:
    """The content-token index of the last token of each sentence (``segments`` or the default splitter)."""
    from longbench.text.splitters import split_default

    sentences = list(item.segments) if item.segments is not None else split_default(item.prompt)
    out, pos = [], 0
    for n in counter.many(sentences):
        pos += n
        out.append(pos - 1)
    return out
