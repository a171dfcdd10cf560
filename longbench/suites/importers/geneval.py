"""GenEval: ``evaluation_metadata.jsonl`` — ``prompt``, ``tag``, ``include`` / ``exclude`` lists of ``{class, count,
color?, position?}`` → items whose entities and facts come from the annotations (the count parser is not
run); id = 0-based line index zero-padded to 5 digits (GenEval's own image folder names)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from longbench.errors import LongbenchError
from longbench.suites.base import Entity, Fact
from longbench.suites.importers.rows import ImportRow, jsonl_objects, string_field
from longbench.suites.lexicon import head_noun, mentions_noun
from longbench.suites.options import ImportOptions
from longbench.text.splitters import split_default


def read_geneval(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    for index, (lineno, obj) in enumerate(jsonl_objects(path)):
        where = f"{path}:{lineno}"
        prompt = string_field(obj, opts.field or "prompt", where)
        include = obj.get("include", [])
        exclude = obj.get("exclude", [])
        for key, val in (("include", include), ("exclude", exclude)):
            if not isinstance(val, list) or not all(
                    isinstance(x, dict) and isinstance(x.get("class"), str) and x["class"].strip()
                    and isinstance(x.get("count", 1), int) for x in val):
                raise LongbenchError(f"{where}: {key} must be a list of {{\"class\": str, \"count\": int}} objects")
        tag = obj.get("tag")
        entities, facts = _geneval_annotations(prompt, include, exclude, where)
        meta = {"geneval": {"include": include, "exclude": exclude}}
        sid = obj.get(opts.id_field) if opts.id_field else None
        if opts.id_field and sid is None:
            raise LongbenchError(f"{where}: no field {opts.id_field!r} (fields: {', '.join(obj)})")
        yield ImportRow(where=where, prompt=prompt, fallback_id=f"{index:05d}", source_id=sid,
                        tags=(tag,) if isinstance(tag, str) and tag else (), entities=entities, facts=facts, meta=meta)


def _geneval_annotations(prompt: str, include: list[dict], exclude: list[dict],
                         where: str) -> tuple[tuple[Entity, ...], tuple[Fact, ...]]:
    """GenEval include → entities with counts (+ colour attribute, position relation);
    an excluded class that is not included → an entity with count 0. An exclusion of an included class
    ("not 3 or more") is already implied by the exact count and is kept only in ``meta``."""
    sentences = split_default(prompt)

    def sentence_of(name: str) -> int:
        head = head_noun(name)
        return next((k for k, s in enumerate(sentences) if mentions_noun(s, head)), 0)

    entities: list[Entity] = []
    facts: list[Fact] = []
    names = [x["class"] for x in include]
    for x in include:
        cls, count = x["class"], x.get("count", 1)
        colour = x.get("color")
        attrs = (colour,) if isinstance(colour, str) and colour else ()
        # The same class twice (different colours) needs distinct entity names.
        name = f"{colour} {cls}" if attrs and names.count(cls) > 1 else cls
        entities.append(Entity(name=name, count=count, attributes=attrs))
        s = sentence_of(cls)
        facts.append(Fact(type="count", sentence=s, entity=name, value=count))
        if attrs:
            facts.append(Fact(type="attribute", sentence=s, entity=name, value=colour))
        pos = x.get("position")
        if pos is not None:
            if not (isinstance(pos, list) and len(pos) == 2 and isinstance(pos[0], str)
                    and isinstance(pos[1], int) and 0 <= pos[1] < len(include)):
                raise LongbenchError(f"{where}: position must be [relation, index into include], got {pos!r}")
            facts.append(Fact(type="spatial", sentence=s, entity=name, value=pos[0],
                              target=include[pos[1]]["class"]))
    for x in exclude:
        if x["class"] not in names and x.get("count", 1) <= 1:
            entities.append(Entity(name=x["class"], count=0))
    return tuple(entities), tuple(facts)
