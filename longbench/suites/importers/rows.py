"""What every importer shares: the :class:`ImportRow` it yields, and the readers of its sources (text lines,
JSONL, JSON lists, parquet, CSV) with ``FILE:LINE`` errors and the checks of the one JSONL reader
(:mod:`longbench.jsonio`), plus the rules that turn source names into valid item ids."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.suites.base import Entity, Fact, Question
from longbench.suites.options import ImportOptions


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


# -- ids -------------------------------------------------------------------------------------------------

def id_stem(path: Path) -> str:
    """The id prefix of items read from ``path`` (its file stem, made valid)."""
    return safe_id(path.stem) or "item"


def safe_id(raw: str) -> str:
    """A valid item id from arbitrary text: other characters → '_', no leading punctuation, no '..'."""
    s = re.sub(r"[^A-Za-z0-9_.-]", "_", raw)
    s = re.sub(r"\.{2,}", ".", s).lstrip("_.-")
    return s[:128]


# -- bytes and lines -------------------------------------------------------------------------------------

def read_source(path: Path) -> bytes:
    """The bytes of a source file without a byte-order mark; an empty file is an error."""
    raw = jsonio.strip_bom(jsonio.read_bytes(path))
    if not raw.strip():
        raise LongbenchError(f"{path}: file is empty")
    return raw


def decode(raw: bytes, where: str, first_line: int = 1) -> str:
    return jsonio.decode_utf8(raw, where, first_line)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines (1-based number, bytes without the line terminator) of a text file."""
    raw = read_source(path)
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip():
            yield lineno, line


def line_rows(path: Path, tag: str | None) -> Iterator[ImportRow]:
    """One row per non-blank line of a text file (id ``<stem>-<line>``), tagged ``tag`` when given."""
    if path.is_dir():
        raise LongbenchError(f"{path}: is a directory, expected a text file")
    stem = id_stem(path)
    for lineno, line in _lines(path):
        where = f"{path}:{lineno}"
        jsonio.check_line_size(line, where)  # before decoding, with the limit and message of the JSONL reader
        text = decode(line, str(path), lineno)
        yield ImportRow(where=where, prompt=text, fallback_id=f"{stem}-{lineno}", tags=(tag,) if tag else ())


# -- records: JSONL, JSON list, parquet ------------------------------------------------------------------

def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of a JSONL file with their line numbers."""
    # The one JSONL reader (as eval --suite and suites validate); the empty-file check is ours.
    for lineno, obj in jsonio.parse_jsonl(read_source(path), str(path)):
        if not isinstance(obj, dict):
            raise LongbenchError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _json_list_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Elements of a top-level JSON array, each with the line it starts on."""
    text = decode(read_source(path), str(path))
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


def string_field(obj: dict[str, Any], key: str, where: str) -> str:
    """``obj[key]``, which must be a string; the error names the field and the fields there are."""
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


def _records(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Objects of a JSONL, JSON-list or parquet file (chosen by suffix, then by the first byte)."""
    if path.is_dir():
        raise LongbenchError(f"{path}: is a directory, expected a file")
    if path.suffix == ".parquet":
        return _parquet_objects(path, columns)
    if path.suffix == ".json":
        return _json_list_objects(path)
    if path.suffix != ".jsonl":
        head = read_source(path).lstrip()[:1]
        if head == b"[":
            return _json_list_objects(path)
    return jsonl_objects(path)


def record_rows(path: Path, prompt_field: str, id_field: str | None, image_field: str | None,
                id_required: bool = False) -> Iterator[ImportRow]:
    """One row per record of a JSONL / JSON-list / parquet file: the prompt from ``prompt_field``, the id from
    ``id_field`` (else ``<stem>-<n>``), the reference image from ``image_field``."""
    cols = [prompt_field] + [c for c in (id_field, image_field) if c]
    stem = id_stem(path)
    for n, obj in _records(path, cols):
        where = f"{path}:{n}"
        prompt = string_field(obj, prompt_field, where)
        sid = None
        if id_field:
            if id_field in obj and obj[id_field] is not None:
                sid = obj[id_field]
            elif id_required:
                raise LongbenchError(f"{where}: no field {id_field!r} (fields: {', '.join(map(str, obj))})")
        image = _image_path(obj.get(image_field)) if image_field else None
        yield ImportRow(where=where, prompt=prompt, fallback_id=f"{stem}-{n}", source_id=sid, reference_image=image)


def option_record_rows(path: Path, opts: ImportOptions, prompt_field: str, id_field: str | None = None,
                       image_field: str | None = None) -> Iterator[ImportRow]:
    """:func:`record_rows` with the user's ``--field`` / ``--id-field`` / ``--image-field`` over the format's
    defaults; an id field the user named is required on every record."""
    return record_rows(path, opts.field or prompt_field, opts.id_field or id_field, opts.image_field or image_field,
                       id_required=opts.id_field is not None)


# -- CSV -------------------------------------------------------------------------------------------------

def csv_records(path: Path, required: tuple[str | None, ...]) -> tuple[dict[str, int], Iterator[tuple[int, list[str]]]]:
    """The header (column → index) of a CSV file, after checking the ``required`` columns, and its non-blank
    records with their 1-based line numbers (each with as many fields as the header)."""
    if path.is_dir():
        raise LongbenchError(f"{path}: is a directory, expected a CSV file")
    raw = read_source(path)
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        jsonio.check_line_size(line, f"{path}:{lineno}")
    text = decode(raw, str(path))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration as e:  # pragma: no cover - read_source rejects empty files
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
