"""Which words of a training prompt name each entity, for attribute concentration.

An entity's words are its noun and the attribute words bound to it (TokenCompose/CoMat concentrate the
attention of both onto the entity's region; numbers and locations are not among them). Two sources:

* **the synthetic worlds** (``data.format: synth`` or ``mini``) — every prompt is written from a scene and its
  facts carry the character spans that state them (``longbench.synth.grammar``, ``longbench.mini.suite``). An
  entity is a group of the scene. In ``synth`` every fact's first span is a mention of its group (colour and
  shape words, synonyms included), kept whole, and an ``attribute`` fact's value span (the size word) is added;
  in ``mini`` the words inside the spans of the group's facts that are words of its name (the noun up to
  number) or its attribute (the colour) are kept. Every mention counts: a group named in three sentences
  concentrates the tokens of all three. The scene also gives the exact mask (:mod:`longalign.comat.masks`);
* **any other caption** — the count parser (``longbench.suites.counts.find_counts``): noun phrases with a
  stated or vague quantity ("three small red boats" → boat, with small and red), minus nouns of
  ``comat.skip_entities`` (background stuff such as sky or grass, which a detector cannot box). No dependency
  parser is needed offline; uncounted nouns ("a boat") are not found.

The words' tokens are then located in the segment-encoded context
(:meth:`longbench.longsd.encoding.SegmentEncoder.token_rows`), so entities beyond the 77th token are trained
like the first ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from longbench.errors import LongbenchError


@dataclass(frozen=True)
class EntityWords:
    """An entity of a prompt: the name a detector is asked for, the character spans of its words, and its group
    index in the scene (synthetic worlds)."""

    name: str
    spans: tuple[tuple[int, int], ...]
    group: int | None = None


@dataclass(frozen=True)
class WorldPrompt:
    """A training prompt of a synthetic world: its scene, the layout seed its image is drawn with, the
    renderer's world (``synth`` or ``mini``) and image size, and its entities."""

    world: str
    scene: Any
    seed: int
    image_size: int
    entities: tuple[EntityWords, ...]


def entity_words(text: str, spans: Iterable[tuple[int, int]], name: str,
                 attributes: Iterable[str] = ()) -> list[tuple[int, int]]:
    """Character spans of the words inside ``spans`` that name the entity (module docstring), in text order."""
    from longbench.suites.lexicon import WORD_RE, head_noun, same_noun, words

    name_words = set(words(name))
    head = head_noun(name)
    attrs = {a.lower() for a in attributes}
    found: set[tuple[int, int]] = set()
    for a, b in spans:
        matches = list(WORD_RE.finditer(text, a, b))
        for m in matches:
            w = m.group(0).lower()
            if w in name_words or w in attrs or (head and same_noun(w, head)) or len(matches) == 1:
                found.add((m.start(), m.end()))
    return sorted(found)


def world_entities(text: str, scene: Any, facts: Sequence[Any], fact_spans: Sequence[Sequence[tuple[int, int]]],
                   attributes: dict[str, Sequence[str]], *, mentions_first: bool = False) -> tuple[EntityWords, ...]:
    """The entities of a world prompt, one per group of ``scene`` that the prompt names.

    ``mentions_first`` (the synthetic world): the first span of every fact is a mention of its group (colour and
    shape words, possibly synonyms), kept whole; an ``attribute`` fact's other spans are its value words. Otherwise
    (the miniature world) every span of the group's facts is filtered by :func:`entity_words`.
    """
    out = []
    for gi, g in enumerate(scene.groups):
        own = [(f, fs) for f, fs in zip(facts, fact_spans) if f.entity == g.name]
        if mentions_first:
            from longbench.suites.lexicon import WORD_RE

            spans = [fs[0] for _, fs in own] + [sp for f, fs in own if f.type == "attribute" for sp in fs[1:]]
            found = sorted({(m.start(), m.end()) for a, b in spans for m in WORD_RE.finditer(text, a, b)})
        else:
            found = entity_words(text, [sp for _, fs in own for sp in fs], g.name, attributes.get(g.name, ()))
        if found:
            out.append(EntityWords(g.name, tuple(found), gi))
    return tuple(out)


def world_prompt(dataset: Any, index: int) -> WorldPrompt | None:
    """The world prompt of element ``index`` of a training dataset; None when the dataset is not a synthetic
    world's.

    Raises:
        LongbenchError: a miniature dataset whose elements are not the items' long prompts.
    """
    from longalign.data.captions import SynthDataset

    if isinstance(dataset, SynthDataset):
        from longbench.synth.render import MIN_IMAGE_SIZE
        from longbench.synth.suite import draft

        scene, prompt = draft(dataset.seed, index)
        attrs = {g.name: (g.colour, g.size) for g in scene.groups}
        ents = world_entities(prompt.text, scene, prompt.facts, prompt.fact_spans, attrs, mentions_first=True)
        return WorldPrompt("synth", scene, index, max(dataset.resolution, MIN_IMAGE_SIZE), ents)
    mini = _mini_dataset_class()
    if mini is not None and isinstance(dataset, mini):
        from longbench.mini.views import item_scene
        from longbench.mini.world import IMAGE_SIZE
        from longbench.worlds.tokens import fact_spans

        i, sentence = dataset.elements[index]
        if sentence is not None or dataset.captions != "prompt":
            raise LongbenchError(f"data.mini_captions={dataset.captions!r}: exact entity masks need the items' long "
                                 "prompts (data.mini_captions=prompt)")
        item = dataset.items[i]
        scene = item_scene(item)
        attrs = {e.name: e.attributes for e in item.entities}
        ents = world_entities(item.prompt, scene, item.facts, fact_spans(item) or [], attrs)
        return WorldPrompt("mini", scene, i, IMAGE_SIZE * dataset.scale, ents)
    return None


def _mini_dataset_class() -> type | None:
    try:
        from longalign.data.mini import MiniDataset
    except ImportError:  # the miniature data format is optional to this module
        return None
    return MiniDataset


def sentence_offsets(prompt: str, sentences: Sequence[str]) -> list[int]:
    """Character offset in ``prompt`` of each sentence (stripped substrings of it, in order)."""
    out, cursor = [], 0
    for s in sentences:
        at = prompt.find(s, cursor)
        if at < 0:
            raise LongbenchError(f"sentence {s[:40]!r} is not a piece of the prompt {prompt[:40]!r}")
        out.append(at)
        cursor = at + len(s)
    return out


def parsed_entities(prompt: str, skip: Iterable[str] = ()) -> tuple[EntityWords, ...]:
    """Entities of any caption, from the count parser (module docstring)."""
    from longbench.suites.counts import find_counts
    from longbench.suites.lexicon import head_noun, same_noun
    from longbench.text.splitters import split_default

    sentences = split_default(prompt)
    offsets = sentence_offsets(prompt, sentences)
    skipped = [s.lower() for s in skip]
    out = []
    for m in find_counts(prompt, sentences):
        name = m.entity.name
        if any(same_noun(head_noun(name), s) for s in skipped):
            continue
        a = offsets[m.sentence] + m.start
        found = entity_words(prompt, [(a, offsets[m.sentence] + m.end)], name, m.entity.attributes)
        if found:
            out.append(EntityWords(name, tuple(found)))
    return tuple(out)


def entity_rows(encoder: Any, prompt: str, entities: Sequence[EntityWords]) -> list[list[int]]:
    """Per entity, the rows of the segment-encoded context that hold its words' tokens (sorted, distinct)."""
    if not entities:
        return []
    spans = [sp for e in entities for sp in e.spans]
    rows = encoder.token_rows(prompt, spans)
    out, k = [], 0
    for e in entities:
        out.append(sorted({r for rs in rows[k:k + len(e.spans)] for r in rs}))
        k += len(e.spans)
    return out
