"""Importers: public prompt sets → suite JSONL files (``longbench suites import FORMAT PATH --out F``).

An importer is a function ``(path: Path, opts: ImportOptions) -> Iterator[ImportRow]`` registered under its
format name (``BUILTIN``; registry ``longbench.registry.IMPORTERS``; plugins through the entry-point group
``longbench.importers``); this module turns the rows into a checked suite. Built-in formats:

``dpg-bench``      a folder of ``<stem>.txt`` files, one prompt per file; id = file stem; natural order.
``dpg-bench-csv``  the published ``dpg_bench.csv``: one row per question (``item_id, text, keywords,
                   proposition_id, dependency, category_broad, category_detailed, tuple,
                   question_natural_language``); id = ``item_id``, prompt = ``text``, one suite question per
                   row (id = ``proposition_id``, ``depends_on`` = ``dependency`` without ``0``, category =
                   ``tuple`` up to ``(``). A question's rows of one item must be consecutive.
``docci``          JSONL with ``description``; id from ``example_id`` when present; ``image_file`` is kept
                   as the reference image.
``longalign``      the LongAlign training set: ``caption`` + image ``path``, as a JSON list, JSONL or
                   parquet; the image path becomes ``reference_image``.
``geneval``        GenEval ``evaluation_metadata.jsonl``: ``prompt``, ``tag``, ``include`` /
                   ``exclude`` lists of ``{class, count, color?, position?}``; id = 0-based line index
                   zero-padded to 5 digits (GenEval's own image folder names).
``t2i-compbench``  one prompt per line of a ``.txt``; tagged with the file stem.
``jsonl`` / ``csv`` / ``txt``  generic: ``--field`` names the prompt column (default ``prompt``),
                   ``--id-field`` the id column, ``--image-field`` a reference-image column.

Guarantees: prompts are the source's exact text (a line-based format loses only its line terminator,
``\\n`` or ``\\r\\n``; a one-prompt-per-file format keeps the whole file; a UTF-8 byte-order mark at
the start of a file is dropped); ids are derived only from the source (field, file stem or line
number), so two imports of the same file give the same ids and the same suite sha256; when the source
has no entity annotations the count parser (:mod:`longbench.suites.counts`) supplies entities and facts.
Ids that are not valid suite ids are made valid by replacing other characters with ``_`` (the
original is kept in ``meta.source_id``). Any bad input raises LongbenchError naming the file and line,
and nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.registry import IMPORTERS
from longbench.results import atomic_write_text
from longbench.suites.base import ITEM_ID_RE, MAX_PROMPT_CHARS, Entity, Fact, Item, Question, Suite
from longbench.suites.counts import facts_from_mentions, find_counts
from longbench.suites.lexicon import head_noun, mentions_noun
from longbench.suites.options import ImportOptions
from longbench.suites.schema import SCHEMA_VERSION
from longbench.text.splitters import split_default

logger = logging.getLogger(__name__)


@dataclass
class ImportRow:
    """One prompt read by an importer; the suite is assembled (ids checked, counts parsed) from these."""

    where: str                       # "file:line" for error messages
    prompt: Any
    fallback_id: str                 # used when the source has no id
    source_id: Any = None
    reference_image: Any = None
    tags: tuple[str, ...] = ()
    entities: tuple[Entity, ...] | None = None  # None: the source has no annotations
    facts: tuple[Fact, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    questions: tuple[Question, ...] = ()


# -- reading ---------------------------------------------------------------------------------------------

def _read(path: Path) -> bytes:
    raw = jsonio.strip_bom(jsonio.read_bytes(path))
    if not raw.strip():
        raise LongbenchError(f"{path}: file is empty")
    return raw


def _decode(raw: bytes, where: str, first_line: int = 1) -> str:
    return jsonio.decode_utf8(raw, where, first_line)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines (1-based number, bytes without the line terminator) of a text file."""
    raw = _read(path)
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip():
            yield lineno, line


def _check_line_size(line: bytes, where: str) -> None:
    # Checked before decoding, with the limit and message of the JSONL reader.
    jsonio.check_line_size(line, where)


def _jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # The one JSONL reader (as eval --suite and suites validate); the empty-file check is ours.
    for lineno, obj in jsonio.parse_jsonl(_read(path), str(path)):
        if not isinstance(obj, dict):
            raise LongbenchError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _json_list_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Elements of a top-level JSON array, each with the line it starts on."""
    text = _decode(_read(path), str(path))
    pos = len(text) - len(text.lstrip())
    if text[pos:pos + 1] != "[":
        raise LongbenchError(f"{path}:1: expected a JSON array of objects")
    pos += 1
    n = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text[pos:pos + 1] == "]":
            break
        if n:
            if text[pos:pos + 1] != ",":
                raise LongbenchError(f"{path}:{text.count(chr(10), 0, pos) + 1}: invalid JSON (expected ',' or ']')")
            pos += 1
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
        line = text.count("\n", 0, pos) + 1
        obj, pos = jsonio.raw_decode(text, str(path), pos)
        if not isinstance(obj, dict):
            raise LongbenchError(f"{path}:{line}: expected a JSON object, got {type(obj).__name__}")
        n += 1
        yield line, obj
    if text[pos + 1:].strip():
        raise LongbenchError(f"{path}:{text.count(chr(10), 0, pos) + 1}: unexpected text after the JSON array")


def _parquet_objects(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - pyarrow is in the dev/train extras
        raise LongbenchError("reading parquet needs pyarrow: pip install pyarrow") from e
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise LongbenchError(f"{path}: not a readable parquet file ({e})") from e
    names = pf.schema_arrow.names
    if pf.metadata.num_rows == 0:
        raise LongbenchError(f"{path}: file is empty")
    missing = [c for c in columns[:1] if c not in names]
    if missing:
        raise LongbenchError(f"{path}: no column {missing[0]!r} (columns: {', '.join(names)})")
    row = 0
    for batch in pf.iter_batches(columns=[c for c in columns if c in names]):
        for obj in batch.to_pylist():
            row += 1
            yield row, obj


def _string_field(obj: dict[str, Any], key: str, where: str) -> str:
    if key not in obj:
        raise LongbenchError(f"{where}: no field {key!r} (fields: {', '.join(map(str, obj)) or 'none'})")
    value = obj[key]
    if not isinstance(value, str):
        raise LongbenchError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def _image_path(value: Any) -> Any:
    # Hugging Face `Image` columns hold {"bytes": ..., "path": ...}.
    if isinstance(value, dict) and "path" in value:
        return value["path"]
    return value


# -- formats ---------------------------------------------------------------------------------------------

def _natural_key(name: str) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in re.split(r"(\d+)", name) if p]


def _dpg_bench(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    if not path.is_dir():
        raise LongbenchError(f"{path}: dpg-bench expects a folder of <N>.txt prompt files")
    files = sorted((p for p in path.iterdir() if p.suffix == ".txt" and p.is_file()
                    and not p.name.startswith(".")), key=lambda p: _natural_key(p.stem))
    if not files:
        raise LongbenchError(f"{path}: no .txt prompt files in the folder")
    for f in files:
        raw = _read(f)
        # The whole file is the prompt, byte for byte (DPG-Bench files mostly have no final newline).
        text = _decode(raw, str(f))
        yield ImportRow(where=f"{f}:1", prompt=text, fallback_id=f.stem, source_id=f.stem)


def _records(path: Path, opts: ImportOptions, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Objects of a JSONL, JSON-list or parquet file (chosen by suffix, then by the first byte)."""
    if path.is_dir():
        raise LongbenchError(f"{path}: is a directory, expected a file")
    if path.suffix == ".parquet":
        return _parquet_objects(path, columns)
    if path.suffix == ".json":
        return _json_list_objects(path)
    if path.suffix != ".jsonl":
        head = _read(path).lstrip()[:1]
        if head == b"[":
            return _json_list_objects(path)
    return _jsonl_objects(path)


def _record_rows(path: Path, opts: ImportOptions, prompt_field: str, id_field: str | None,
                 image_field: str | None, id_required: bool = False) -> Iterator[ImportRow]:
    cols = [prompt_field] + [c for c in (id_field, image_field) if c]
    stem = _id_stem(path)
    for n, obj in _records(path, opts, cols):
        where = f"{path}:{n}"
        prompt = _string_field(obj, prompt_field, where)
        sid = None
        if id_field:
            if id_field in obj and obj[id_field] is not None:
                sid = obj[id_field]
            elif id_required:
                raise LongbenchError(f"{where}: no field {id_field!r} (fields: {', '.join(map(str, obj))})")
        image = _image_path(obj.get(image_field)) if image_field else None
        yield ImportRow(where=where, prompt=prompt, fallback_id=f"{stem}-{n}", source_id=sid, reference_image=image)


def _docci(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    return _record_rows(path, opts, opts.field or "description", opts.id_field or "example_id",
                        opts.image_field or "image_file", id_required=opts.id_field is not None)


def _longalign(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    prompt_field = opts.field or "caption"
    image_field = opts.image_field or "path"
    rows = _record_rows(path, opts, prompt_field, opts.id_field, image_field,
                        id_required=opts.id_field is not None)
    for row in rows:
        if row.reference_image is None:
            raise LongbenchError(f"{row.where}: no image field {image_field!r} (use --image-field)")
        yield row


def _geneval(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    for index, (lineno, obj) in enumerate(_jsonl_objects(path)):
        where = f"{path}:{lineno}"
        prompt = _string_field(obj, opts.field or "prompt", where)
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


def _line_rows(path: Path, opts: ImportOptions, tag: str | None) -> Iterator[ImportRow]:
    if path.is_dir():
        raise LongbenchError(f"{path}: is a directory, expected a text file")
    stem = _id_stem(path)
    for lineno, line in _lines(path):
        where = f"{path}:{lineno}"
        _check_line_size(line, where)
        text = _decode(line, str(path), lineno)
        yield ImportRow(where=where, prompt=text, fallback_id=f"{stem}-{lineno}", tags=(tag,) if tag else ())


def _t2i_compbench(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    return _line_rows(path, opts, tag=path.stem)


def _txt(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    return _line_rows(path, opts, tag=None)


def _jsonl(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    return _record_rows(path, opts, opts.field or "prompt", opts.id_field, opts.image_field,
                        id_required=opts.id_field is not None)


def _csv_records(path: Path, required: tuple[str | None, ...]) -> tuple[dict[str, int], Iterator[tuple[int, list[str]]]]:
    """The header (column → index) of a CSV file, after checking the ``required`` columns, and its non-blank
    records with their 1-based line numbers (each with as many fields as the header)."""
    if path.is_dir():
        raise LongbenchError(f"{path}: is a directory, expected a CSV file")
    raw = _read(path)
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        _check_line_size(line, f"{path}:{lineno}")
    text = _decode(raw, str(path))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration as e:  # pragma: no cover - _read rejects empty files
        raise LongbenchError(f"{path}: file is empty") from e
    cols = {name: k for k, name in enumerate(header)}
    for need in required:
        if need and need not in cols:
            raise LongbenchError(f"{path}:1: no column {need!r} (columns: {', '.join(header)})")

    def records() -> Iterator[tuple[int, list[str]]]:
        while True:
            lineno = reader.line_num + 1
            try:
                rec = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise LongbenchError(f"{path}:{lineno}: invalid CSV ({e})") from e
            if not any(c.strip() for c in rec):
                continue
            if len(rec) != len(header):
                raise LongbenchError(f"{path}:{lineno}: {len(rec)} columns, the header has {len(header)}")
            yield lineno, rec

    return cols, records()


def _csv(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    prompt_field = opts.field or "prompt"
    cols, records = _csv_records(path, (prompt_field, opts.id_field, opts.image_field))
    stem = _id_stem(path)
    for n, (lineno, rec) in enumerate(records, 1):
        where = f"{path}:{lineno}"
        sid = rec[cols[opts.id_field]] if opts.id_field else None
        if opts.id_field and not sid.strip():
            raise LongbenchError(f"{where}: empty {opts.id_field!r}")
        image = rec[cols[opts.image_field]] if opts.image_field else None
        yield ImportRow(where=where, prompt=rec[cols[prompt_field]], fallback_id=f"{stem}-{n}",
                   source_id=sid, reference_image=image or None)


DPG_CSV_COLUMNS = ("item_id", "text", "proposition_id", "dependency", "tuple", "question_natural_language")


def _dpg_bench_csv(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    """DPG-Bench's ``dpg_bench.csv``: consecutive rows of an item → one item with its questions.

    ``meta.dpg_bench`` keeps what the CSV says beyond the questions (``keywords``, each question's ``tuple``
    and broad/detailed categories) and ``first_row_question`` on the item of the first data row: the
    question the reference script skips (the ``vqa`` metric's ``dpg_compat`` switch).
    """
    from longbench.suites.schema import question_problems

    cols, records = _csv_records(path, DPG_CSV_COLUMNS)
    items: dict[str, dict[str, Any]] = {}
    previous = None
    first_data_row = True
    for lineno, rec in records:
        where = f"{path}:{lineno}"

        def col(name: str, rec: list[str] = rec) -> str:
            return rec[cols[name]] if name in cols else ""

        item_id = col("item_id").strip()
        if not item_id:
            raise LongbenchError(f"{where}: empty item_id")
        if item_id in items and previous != item_id:
            raise LongbenchError(f"{where}: the rows of item {item_id!r} are not consecutive (it first appears on "
                                 f"line {items[item_id]['line']}); the reference script would keep only its last run "
                                 f"of rows")
        pid_raw = col("proposition_id").strip()
        if not (re.fullmatch(r"[0-9]+", pid_raw) and int(pid_raw) >= 1):
            raise LongbenchError(f"{where}: proposition_id must be an integer >= 1, got {pid_raw!r}")
        qid = str(int(pid_raw))
        deps = []
        for part in col("dependency").split(","):
            part = part.strip()
            if not re.fullmatch(r"[0-9]+", part):
                raise LongbenchError(f"{where}: dependency must be proposition ids separated by commas (0: none), "
                                     f"got {col('dependency')!r}")
            if int(part) != 0 and str(int(part)) not in deps:
                deps.append(str(int(part)))
        text = col("question_natural_language")
        if not text.strip():
            raise LongbenchError(f"{where}: item {item_id!r} question {qid}: empty question_natural_language")
        tup = col("tuple")
        category = tup.split("(")[0].strip()
        if not category:
            raise LongbenchError(f"{where}: item {item_id!r} question {qid}: tuple {tup!r} has no category before '('")
        entry = items.get(item_id)
        if entry is None:
            entry = items[item_id] = {"line": lineno, "prompt": col("text"), "questions": [], "lines": {},
                                      "meta": {"keywords": col("keywords"), "tuples": {}, "categories": {}}}
            if first_data_row:
                entry["meta"]["first_row_question"] = qid
        elif col("text") != entry["prompt"]:
            raise LongbenchError(f"{where}: item {item_id!r} has a different text than on line {entry['line']}")
        first_data_row = False
        if qid in entry["lines"]:
            raise LongbenchError(f"{where}: item {item_id!r} has proposition_id {qid} twice (first on line "
                                 f"{entry['lines'][qid]})")
        entry["lines"][qid] = lineno
        entry["questions"].append({"id": qid, "text": text, "depends_on": deps, "category": category})
        entry["meta"]["tuples"][qid] = tup
        entry["meta"]["categories"][qid] = [col("category_broad"), col("category_detailed")]
        previous = item_id
    for item_id, entry in items.items():
        for q in entry["questions"]:
            for d in q["depends_on"]:
                if d not in entry["lines"]:
                    raise LongbenchError(f"{path}:{entry['lines'][q['id']]}: item {item_id!r} question {q['id']} "
                                         f"depends on question {d}, which the item does not have")
        problems = question_problems(entry["questions"], 0)
        if problems:
            raise LongbenchError(f"{path}:{entry['line']}: item {item_id!r}: {problems[0]}")
        questions = tuple(Question(id=q["id"], text=q["text"], depends_on=tuple(q["depends_on"]),
                                   category=q["category"]) for q in entry["questions"])
        yield ImportRow(where=f"{path}:{entry['line']}", prompt=entry["prompt"], fallback_id=item_id, source_id=item_id,
                   tags=("dpg-bench",), meta={"dpg_bench": entry["meta"]}, questions=questions)


#: the built-in importers (registry ``IMPORTERS``)
BUILTIN: dict[str, Callable[[Path, ImportOptions], Iterator[ImportRow]]] = {
    "dpg-bench": _dpg_bench,
    "dpg-bench-csv": _dpg_bench_csv,
    "docci": _docci,
    "longalign": _longalign,
    "geneval": _geneval,
    "t2i-compbench": _t2i_compbench,
    "jsonl": _jsonl,
    "csv": _csv,
    "txt": _txt,
}


# -- assembling ------------------------------------------------------------------------------------------

def _id_stem(path: Path) -> str:
    return _safe_id(path.stem) or "item"


def _safe_id(raw: str) -> str:
    """A valid item id from arbitrary text: other characters → '_', no leading punctuation, no '..'."""
    s = re.sub(r"[^A-Za-z0-9_.-]", "_", raw)
    s = re.sub(r"\.{2,}", ".", s).lstrip("_.-")
    return s[:128]


def _finish(rows: Iterator[ImportRow], *, fmt: str, path: Path, opts: ImportOptions) -> Suite:
    items: list[Item] = []
    first_seen: dict[str, str] = {}
    parsed = 0
    for row in rows:
        prompt = row.prompt
        if not prompt.strip():
            raise LongbenchError(f"{row.where}: empty prompt")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise LongbenchError(f"{row.where}: prompt has {len(prompt):,} characters, over the "
                                 f"{MAX_PROMPT_CHARS:,}-character limit")
        meta = dict(row.meta)
        if row.source_id is not None:
            raw_id = str(row.source_id)
            item_id = raw_id if ITEM_ID_RE.match(raw_id) and ".." not in raw_id else _safe_id(raw_id)
            if not item_id:
                raise LongbenchError(f"{row.where}: id {raw_id!r} has no usable characters")
            if item_id != raw_id:
                meta["source_id"] = raw_id
        else:
            item_id = row.fallback_id
        if item_id in first_seen:
            raise LongbenchError(f"{row.where}: duplicate id {item_id!r} (first at {first_seen[item_id]})")
        first_seen[item_id] = row.where
        entities, facts = row.entities, row.facts
        if entities is None and opts.parse_counts:
            mentions = find_counts(prompt)
            entities, facts = tuple(m.entity for m in mentions), tuple(facts_from_mentions(mentions))
            parsed += bool(mentions)
        image = row.reference_image
        if image is not None:
            if not isinstance(image, str) or not image.strip():
                raise LongbenchError(f"{row.where}: reference image must be a non-empty string, got {image!r}")
            if opts.image_root and not os.path.isabs(image):
                image = os.path.join(os.path.abspath(opts.image_root), image)
        items.append(Item(id=item_id, prompt=prompt, entities=entities or (), facts=facts, tags=row.tags,
                          reference_image=image, meta=meta, questions=row.questions))
    if not items:
        raise LongbenchError(f"{path}: no prompts")
    logger.info("imported %d items from %s (%d with parsed counts)", len(items), path, parsed)
    name = opts.name or _safe_id(path.stem if path.is_file() else path.name) or fmt
    desc = f"imported from {fmt} {path.name}"
    return Suite(name=name, version=opts.version or "1", items=items, description=desc,
                 root=str((path.parent if path.is_file() else path).resolve()))


def check_format(fmt: str) -> str:
    """``fmt`` if it is a registered format, else a LongbenchError with a did-you-mean hint."""
    if fmt not in IMPORTERS:
        raise IMPORTERS.unknown(fmt)
    return fmt


def import_suite(fmt: str, path: str | os.PathLike, opts: ImportOptions | None = None) -> Suite:
    """Read ``path`` in format ``fmt`` into a Suite (nothing is written).

    Args:
        fmt: a registered format (``IMPORTERS``).
        path: the source file (a folder for ``dpg-bench``).
        opts: field names, suite name/version, image root; defaults per format.

    Raises:
        LongbenchError: unknown format, unreadable or empty source, undecodable bytes, missing field,
            over-long prompt or duplicate id — the message names the file and line.
    """
    check_format(fmt)
    opts = opts or ImportOptions()
    p = Path(path)
    if not p.exists():
        raise LongbenchError(f"{p}: no such file or folder")
    return _finish(IMPORTERS.get(fmt)(p, opts), fmt=fmt, path=p, opts=opts)


def suite_jsonl(suite: Suite, source: dict[str, Any] | None = None, out_dir: str | os.PathLike | None = None) -> str:
    """The suite file text: a ``{"suite": ...}`` header line, then one item per line.

    Relative reference-image paths (relative to ``suite.root``) are rewritten relative to ``out_dir``
    so the written file resolves them from its own folder.
    """
    header: dict[str, Any] = {"name": suite.name, "version": suite.version, "schema_version": SCHEMA_VERSION}
    if suite.description:
        header["description"] = suite.description
    if source:
        header["source"] = source
    if suite.default_metrics:
        header["default_metrics"] = list(suite.default_metrics)
    if suite.metric_args:
        header["metric_args"] = suite.metric_args
    lines = [json.dumps({"suite": header}, ensure_ascii=False)]
    for it in suite.items:
        d = it.to_dict()
        ref = d.get("reference_image")
        if ref and out_dir is not None and suite.root and not os.path.isabs(ref):
            rebased = os.path.relpath(os.path.join(suite.root, ref), Path(out_dir).resolve())
            d["reference_image"] = Path(rebased).as_posix()
        lines.append(json.dumps(d, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def import_to_file(fmt: str, path: str | os.PathLike, out: str | os.PathLike,
                   opts: ImportOptions | None = None) -> Suite:
    """Import ``path`` and write the suite atomically to ``out``; returns the suite as written."""
    opts = opts or ImportOptions()
    suite = import_suite(fmt, path, opts)
    out = Path(out)
    source = {"format": fmt, "file": Path(path).name,
              "entities": "source" if fmt == "geneval" else ("count-parser" if opts.parse_counts else "none")}
    text = suite_jsonl(suite, source, out.parent)
    atomic_write_text(out, text)
    from longbench.suites.loaders import load_jsonl_suite

    return load_jsonl_suite(out)
