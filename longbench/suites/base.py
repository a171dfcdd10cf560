"""Suite items and suites: the data model every loader produces and every metric reads.

An item is ``{id, prompt, segments?, entities?, facts?, tags?, reference_image?, meta?, questions?}``. A
suite is a named, versioned list of items whose ``sha256`` is computed over the canonical JSON of its items,
so two suites with the same content have the same hash whatever file they came from.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from longbench.errors import LongbenchError

# Item ids become file names: keep them to a safe alphabet (no path separators, no "..").
ITEM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
FACT_TYPES = ("presence", "count", "attribute", "spatial", "text", "style")
# A text-to-image prompt is at most a few hundred words; far longer input is a data error.
MAX_PROMPT_CHARS = 20_000


def is_int(x: Any) -> bool:
    """Whether a JSON value is an integer (``true``/``false`` are not)."""
    return isinstance(x, int) and not isinstance(x, bool)


def nonempty_str(x: Any) -> bool:
    """Whether a JSON value is a string with a non-blank character."""
    return isinstance(x, str) and bool(x.strip())


@dataclass(frozen=True)
class Entity:
    """Something the prompt asks to appear. ``count`` is None when the prompt states no number."""

    name: str
    count: int | None = None
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fact:
    """A checkable statement, attached to the sentence (0-based segment index) that states it.

    ``type`` is one of FACT_TYPES. ``value`` holds the count (int), attribute word, relation
    ("left of", "top-left"), quoted text or style name; ``target`` the second entity of a relation.
    """

    type: str
    sentence: int
    entity: str | None = None
    value: Any = None
    target: str | None = None


@dataclass(frozen=True)
class Question:
    """A yes/no question a judge asks about the image (DSG / DPG-Bench style).

    ``depends_on`` lists the ids of parent questions: when a parent is answered "no" the question scores 0
    (e.g. "Is the cat black?" depends on "Is there a cat?"). ``category`` groups questions in the results
    ("entity - whole", "attribute"); ``fact`` is the 0-based index into the item's ``facts`` of the fact the
    question checks, when there is one (it places the question before or beyond CLIP's 77 tokens).
    """

    id: str
    text: str
    depends_on: tuple[str, ...] = ()
    category: str | None = None
    fact: int | None = None


@dataclass(frozen=True)
class Item:
    id: str
    prompt: str
    segments: tuple[str, ...] | None = None
    entities: tuple[Entity, ...] = ()
    facts: tuple[Fact, ...] = ()
    tags: tuple[str, ...] = ()
    reference_image: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    questions: tuple[Question, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "prompt": self.prompt}
        if self.segments is not None:
            d["segments"] = list(self.segments)
        if self.entities:
            d["entities"] = [_drop_none(asdict(e)) for e in self.entities]
        if self.facts:
            d["facts"] = [_drop_none(asdict(f)) for f in self.facts]
        if self.tags:
            d["tags"] = list(self.tags)
        if self.reference_image is not None:
            d["reference_image"] = self.reference_image
        if self.questions:
            d["questions"] = [_drop_none(asdict(q)) for q in self.questions]
        if self.meta:
            d["meta"] = self.meta
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "item") -> Item:
        """Build an item from its JSON form; ``where`` (e.g. "suite.jsonl:12") prefixes errors."""
        if not isinstance(d, dict):
            raise LongbenchError(f"{where}: expected a JSON object, got {type(d).__name__}")
        unknown = set(d) - {"id", "prompt", "segments", "entities", "facts", "tags", "reference_image", "meta",
                            "questions"}
        if unknown:
            raise LongbenchError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        item_id = d.get("id")
        if not isinstance(item_id, str) or not ITEM_ID_RE.match(item_id) or ".." in item_id:
            raise LongbenchError(
                f"{where}: invalid id {item_id!r} (use letters, digits, '_', '-', '.'; max 128; no '..')")
        prompt = d.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise LongbenchError(f"{where}: item {item_id!r} has an empty or missing prompt")
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError as e:
            raise LongbenchError(f"{where}: item {item_id!r} prompt has a character that is not valid Unicode text "
                                 f"(position {e.start})") from None
        if len(prompt) > MAX_PROMPT_CHARS:
            raise LongbenchError(f"{where}: item {item_id!r} prompt has {len(prompt):,} characters, "
                                 f"over the {MAX_PROMPT_CHARS:,}-character limit")
        try:
            entities = tuple(
                Entity(name=e["name"], count=e.get("count"), attributes=tuple(e.get("attributes", ())))
                for e in d.get("entities", ()))
            facts = tuple(Fact(**f) for f in d.get("facts", ()))
        except (KeyError, TypeError) as e:
            raise LongbenchError(f"{where}: item {item_id!r} has a malformed entity or fact ({e})") from e
        for ent in entities:
            if ent.count is not None and (not isinstance(ent.count, int) or ent.count < 0):
                raise LongbenchError(f"{where}: item {item_id!r}: entity {ent.name!r} count must be an int >= 0")
        for f in facts:
            if f.type not in FACT_TYPES:
                raise LongbenchError(f"{where}: item {item_id!r}: fact type {f.type!r} not in {FACT_TYPES}")
        raw_questions = d.get("questions", [])
        if raw_questions:
            from longbench.suites.question_checks import question_problems  # the rules have one home

            problems = question_problems(raw_questions, len(facts))
            if problems:
                raise LongbenchError(f"{where}: item {item_id!r}: {problems[0]}")
        questions = tuple(Question(id=q["id"], text=q["text"], depends_on=tuple(q.get("depends_on", ())),
                                   category=q.get("category"), fact=q.get("fact")) for q in raw_questions)
        segments = d.get("segments")
        return cls(
            id=item_id, prompt=prompt,
            segments=tuple(segments) if segments is not None else None,
            entities=entities, facts=facts, tags=tuple(d.get("tags", ())),
            reference_image=d.get("reference_image"), meta=dict(d.get("meta", {})), questions=questions,
        )


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
            if v is not None and v != ()}


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Suite:
    """A named, versioned list of items.

    ``default_metrics``: the metrics ``longbench eval`` runs on it when no ``--metric`` is given (empty:
    the general defaults); ``metric_args``: metric → option defaults for this suite (e.g. the synthetic
    suites' ``{"count": {"detector": "synth"}}``), overridden by ``--metric-arg``. Neither is part of
    the content hash. Suite files declare both in their header line."""

    name: str
    version: str
    items: list[Item]
    description: str = ""
    root: str | None = None  # directory that relative reference_image paths are resolved against
    default_metrics: tuple[str, ...] = ()
    metric_args: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for it in self.items:
            if it.id in seen:
                raise LongbenchError(f"suite {self.name!r}: duplicate item id {it.id!r}")
            seen.add(it.id)
        if not self.items:
            raise LongbenchError(f"suite {self.name!r} has no items")

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for it in self.items:
            h.update(canonical_json(it.to_dict()).encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.items)

    def head(self, n: int) -> Suite:
        return Suite(self.name, self.version, self.items[:n], self.description, self.root, self.default_metrics,
                     self.metric_args)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "n_items": len(self.items)}


def object_list(value: Any, label: str, fields: Collection[str], out: list[str]) -> list[tuple[int, str, dict]]:
    """The ``(k, where, object)`` of each object of a JSON list (``where`` = ``label[k]``), appending to ``out`` the
    problems every such list shares: not a list, an element that is not an object, unknown fields."""
    if not isinstance(value, list):
        out.append(f"{label} must be a list")
        return []
    objs = []
    for k, obj in enumerate(value):
        where = f"{label}[{k}]"
        if not isinstance(obj, dict):
            out.append(f"{where} must be an object")
            continue
        unknown = sorted(set(obj) - set(fields))
        if unknown:
            out.append(f"{where} has unknown field(s) {', '.join(unknown)}")
        objs.append((k, where, obj))
    return objs
