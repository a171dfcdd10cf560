"""The suite annotation schema (version 1) and a validator that reports every problem of a suite file.

A suite file is UTF-8 JSONL. The optional first line is a header, then one item per line::

    {"suite": {"name": "my-suite", "version": "1", "schema_version": 1, "description": "..."}}
    {"id": "kitchen-03", "prompt": "...", "segments": [...], "entities": [...], "facts": [...], ...}

Optional header fields beyond those: ``default_metrics`` (list of metric names ``longbench eval`` runs when
no ``--metric`` is given, e.g. ``["synth"]``) and ``metric_args`` (metric → {option: value} defaults for
this suite, e.g. ``{"count": {"detector": "synth"}}``; ``--metric-arg`` overrides them).

Item fields (only ``id`` and ``prompt`` are required):

``id`` (str)
    Unique in the file; letters, digits, ``_ - .``, at most 128 characters, no ``..`` (ids become
    file names).
``prompt`` (str)
    The text given to the model, non-empty, at most ``MAX_PROMPT_CHARS`` characters, stored exactly as
    the source wrote it.
``segments`` (list of str)
    The prompt's sentences when the default splitter would cut them differently; each is a substring
    of the prompt, in order. Without it, sentences are ``longbench.text.split_default(prompt)``.
``entities`` (list of objects)
    Things the prompt asks to appear: ``{"name": str, "count": int >= 0 (omitted when the prompt
    states no number), "attributes": [str, ...]}``. Names are unique within an item (case-insensitive)
    and are what a detector is asked to find ("red balloon", "dog").
``facts`` (list of objects)
    Checkable statements, each attached to the 0-based index of the sentence that states it:
    ``{"type", "sentence", "entity"?, "value"?, "target"?}`` with ``type`` one of

    * ``presence``  — ``entity`` appears (entity required);
    * ``count``     — ``entity`` appears exactly ``value`` times (entity and int value required);
    * ``attribute`` — ``entity`` has property ``value`` ("red", "wooden");
    * ``spatial``   — ``entity`` stands in relation ``value`` ("left of", "on", "top-left") to
      ``target`` (another entity, optional for absolute positions);
    * ``text``      — the string ``value`` is written in the image (``entity``: what bears it);
    * ``style``     — the image has style ``value`` ("watercolor").
``questions`` (list of objects)
    Yes/no questions a judge asks about the image (``vqa`` metric), when the suite brings its own (DPG-Bench)
    instead of the ones generated from ``facts``: ``{"id": str, "text": str, "depends_on": [id, ...],
    "category": str?, "fact": int?}``. Ids are unique in the item; ``depends_on`` names other questions of
    the item (a question whose parent is answered "no" scores 0) and the dependencies form no cycle;
    ``text`` is non-empty; ``fact`` is a 0-based index into the item's ``facts``
    (:mod:`longbench.suites.question_checks`).
``tags`` (list of str), ``reference_image`` (str, a path relative to the suite file or absolute),
``meta`` (object, free-form; part of the suite hash).

Checks of an item against its own text (what ``longbench suites validate`` adds to the structure;
:mod:`longbench.suites.item_checks`):

* segments are substrings of the prompt, in order;
* a fact's ``sentence`` is a valid sentence index;
* the ``entity`` (and ``target``) of a fact appears in that sentence — its head noun, case-insensitive,
  singular or plural ("red wooden chairs" is found by "chair");
* a ``count`` fact's value is stated in that sentence as a digit or number word ("3", "three",
  "a pair of", "a dozen", "one … another");
* a ``text`` fact's string appears in that sentence (case-insensitive);
* entity counts and count facts agree: a count fact names a declared entity with the same count, and
  when an item has facts, every entity with a count >= 1 has a count fact;
* ids are unique in the file; entity names are unique in the item.

``SCHEMA_VERSION`` is written into the header of every suite the importers produce; a file whose header
declares a newer version is reported rather than misread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.suites.base import (
    FACT_TYPES,
    ITEM_ID_RE,
    MAX_PROMPT_CHARS,
    Item,
    Suite,
    is_int,
    nonempty_str,
    object_list,
)
from longbench.suites.item_checks import item_problems
from longbench.suites.question_checks import question_problems

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ITEM_FIELDS = ("id", "prompt", "segments", "entities", "facts", "tags", "reference_image", "meta", "questions")
ENTITY_FIELDS = ("name", "count", "attributes")
FACT_FIELDS = ("type", "sentence", "entity", "value", "target")


@dataclass(frozen=True)
class Problem:
    """One problem found in a suite file: where (file, 1-based line) and what."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def structure_problems(d: Any) -> list[str]:
    """Every structural problem of one item's JSON value (empty when it matches the schema)."""
    if not isinstance(d, dict):
        return [f"expected a JSON object, got {type(d).__name__}"]
    out: list[str] = []
    unknown = sorted(set(d) - set(ITEM_FIELDS))
    if unknown:
        out.append(f"unknown field(s) {', '.join(unknown)}")
    item_id = d.get("id")
    if "id" not in d:
        out.append("missing id")
    elif not isinstance(item_id, str) or not ITEM_ID_RE.match(item_id) or ".." in item_id:
        out.append(f"invalid id {item_id!r} (use letters, digits, '_', '-', '.'; max 128; no '..')")
    prompt = d.get("prompt")
    if not nonempty_str(prompt):
        out.append("empty or missing prompt")
    elif len(prompt) > MAX_PROMPT_CHARS:
        out.append(f"prompt has {len(prompt):,} characters, over the {MAX_PROMPT_CHARS:,}-character limit")
    segs = d.get("segments")
    if segs is not None and (not isinstance(segs, list) or not all(nonempty_str(s) for s in segs)):
        out.append("segments must be a list of non-empty strings")
    elif isinstance(segs, list) and not segs:
        out.append("segments is an empty list (omit it to use the default splitter)")
    for key in ("tags",):
        v = d.get(key, [])
        if not isinstance(v, list) or not all(isinstance(t, str) for t in v):
            out.append(f"{key} must be a list of strings")
    if "reference_image" in d and not nonempty_str(d["reference_image"]):
        out.append("reference_image must be a non-empty string")
    if not isinstance(d.get("meta", {}), dict):
        out.append("meta must be an object")
    out += _entity_structure(d.get("entities", []))
    out += _fact_structure(d.get("facts", []))
    facts = d.get("facts", [])
    out += question_problems(d.get("questions", []), len(facts) if isinstance(facts, list) else 0)
    return out


def _entity_structure(entities: Any) -> list[str]:
    out: list[str] = []
    for _, w, e in object_list(entities, "entities", ENTITY_FIELDS, out):
        if not nonempty_str(e.get("name")):
            out.append(f"{w} needs a non-empty string name")
        if "count" in e and e["count"] is not None and not (is_int(e["count"]) and e["count"] >= 0):
            out.append(f"{w} ({e.get('name')!r}) count must be an integer >= 0, got {e['count']!r}")
        attrs = e.get("attributes", [])
        if not isinstance(attrs, list) or not all(nonempty_str(a) for a in attrs):
            out.append(f"{w} ({e.get('name')!r}) attributes must be a list of non-empty strings")
    return out


def _fact_structure(facts: Any) -> list[str]:
    out: list[str] = []
    for _, w, f in object_list(facts, "facts", FACT_FIELDS, out):
        t = f.get("type")
        if t not in FACT_TYPES:
            out.append(f"{w} type {t!r} is not one of {', '.join(FACT_TYPES)}")
        if not (is_int(f.get("sentence")) and f["sentence"] >= 0):
            out.append(f"{w} sentence must be an integer >= 0, got {f.get('sentence')!r}")
        for key in ("entity", "target"):
            if f.get(key) is not None and not nonempty_str(f[key]):
                out.append(f"{w} {key} must be a non-empty string")
        if t in ("presence", "count", "attribute", "spatial") and f.get("entity") is None:
            out.append(f"{w} ({t}) needs an entity")
        if t == "count" and not (is_int(f.get("value")) and f["value"] >= 0):
            out.append(f"{w} (count) value must be an integer >= 0, got {f.get('value')!r}")
        if t in ("attribute", "spatial", "text", "style") and not nonempty_str(f.get("value")):
            out.append(f"{w} ({t}) value must be a non-empty string")
        if t == "presence" and f.get("value") is not None:
            out.append(f"{w} (presence) takes no value")
    return out


def metric_header_problems(header: dict[str, Any]) -> list[str]:
    """Problems of a header's ``default_metrics`` (a list of names) and ``metric_args`` (metric → {option:
    string value}); metric names are checked against the registry when the suite is run."""
    out = []
    dm = header.get("default_metrics", [])
    if not isinstance(dm, list) or not all(nonempty_str(m) for m in dm):
        out.append("suite header default_metrics must be a list of metric names")
    ma = header.get("metric_args", {})
    if not isinstance(ma, dict) or not all(
            nonempty_str(m) and isinstance(o, dict) and all(nonempty_str(k) and isinstance(v, str) for k, v in o.items())
            for m, o in ma.items()):
        out.append('suite header metric_args must map metric names to {"option": "value"} objects of strings')
    return out


def _header_problems(header: Any) -> list[str]:
    if not isinstance(header, dict):
        return ["suite header must be an object"]
    out = []
    unknown = sorted(set(header) - {"name", "version", "schema_version", "description", "source", "default_metrics",
                                    "metric_args"})
    if unknown:
        out.append(f"suite header has unknown field(s) {', '.join(unknown)}")
    out += metric_header_problems(header)
    for key in ("name", "version"):
        if key in header and not nonempty_str(header[key]):
            out.append(f"suite header {key} must be a non-empty string")
    sv = header.get("schema_version", SCHEMA_VERSION)
    if not is_int(sv) or sv < 1:
        out.append(f"suite header schema_version must be a positive integer, got {sv!r}")
    elif sv > SCHEMA_VERSION:
        out.append(f"schema_version {sv} is newer than this longbench supports ({SCHEMA_VERSION})")
    return out


def validate_file(path: str | Path) -> list[Problem]:
    """Check every line of a suite file; return all problems (empty list: the file is valid).

    Raises:
        LongbenchError: the file cannot be read at all.
    """
    path = Path(path)
    raw = jsonio.read_bytes(path)
    where = str(path)
    if not jsonio.strip_bom(raw).strip():
        return [Problem(where, 1, "file is empty")]
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    n_items = 0

    def bad_line(lineno: int, error: LongbenchError) -> None:
        problems.append(Problem(where, lineno, jsonio.problem_text(error, where, lineno)))

    # The one JSONL reader decides what a line is (BOM, size limit, UTF-8, JSON), as for eval --suite.
    rows = jsonio.parse_jsonl(raw, where, on_error=bad_line)
    first_line = min([lineno for lineno, _ in rows] + [p.line for p in problems])
    for lineno, obj in rows:
        is_first = lineno == first_line
        if isinstance(obj, dict) and set(obj) == {"suite"}:
            msgs = _header_problems(obj["suite"]) if is_first else ["suite header must be the first line"]
            problems.extend(Problem(where, lineno, m) for m in msgs)
            continue
        n_items += 1
        msgs = structure_problems(obj)
        item_id = obj.get("id") if isinstance(obj, dict) else None
        if isinstance(item_id, str):
            if item_id in seen:
                msgs.append(f"duplicate id {item_id!r} (first on line {seen[item_id]})")
            else:
                seen[item_id] = lineno
        if not msgs:
            try:
                msgs = item_problems(Item.from_dict(obj, where=f"{where}:{lineno}"))
            except LongbenchError as e:  # a rule of Item.from_dict that the structure checks missed
                msgs = [str(e).split(": ", 1)[-1]]
        label = f"item {item_id!r}: " if isinstance(item_id, str) else ""
        problems.extend(Problem(where, lineno, label + m) for m in msgs)
    problems.sort(key=lambda p: p.line)  # stable: a line's own messages keep their order
    if n_items == 0:
        problems.append(Problem(where, 1, "file has no items"))
    return problems


def validate_suite(suite: Suite) -> list[Problem]:
    """Check the items of an already loaded suite (a registered name); ``line`` is the 1-based item
    position and ``path`` the suite name."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for pos, item in enumerate(suite.items, 1):
        d = item.to_dict()
        msgs = structure_problems(d)
        if item.id in seen:
            msgs.append(f"duplicate id {item.id!r} (first at item {seen[item.id]})")
        seen.setdefault(item.id, pos)
        if not msgs:
            msgs = item_problems(item)
        problems.extend(Problem(suite.name, pos, f"item {item.id!r}: {m}") for m in msgs)
    return problems
