"""The one JSON / JSONL reader: every file longbench reads as JSON goes through here.

Suites (``eval --suite``, ``suites validate``, ``suites import``), ``results.json`` / ``samples.jsonl``
(``--compare-to``, the leaderboard) and the trainer's data tables all decode with these functions, so
they accept and reject exactly the same files and report problems the same way, as
``FILE:LINE: message`` in a ``LongbenchError``:

* a UTF-8 byte-order mark at the start of a file is dropped (editors on Windows write one);
* a JSONL line may hold at most ``MAX_LINE_BYTES`` bytes, checked before decoding, so a giant line
  fails fast with the same message wherever it is read;
* bytes that are not UTF-8, invalid JSON, numbers with more digits than Python converts, and nesting
  deeper than ``MAX_DEPTH`` arrays/objects are all one-line errors. (Deep nesting would otherwise hit
  Python's recursion limit, in the parser or in any later code walking the value.)

Only the standard library is imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError

BOM = b"\xef\xbb\xbf"
#: One JSONL line (a suite item: a prompt of at most 20,000 characters plus its annotations; a sample).
MAX_LINE_BYTES = 1 << 20
#: Deepest nesting of arrays/objects accepted (our files need fewer than 10 levels).
MAX_DEPTH = 64


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a file, with a one-line error naming it when it cannot be read."""
    p = Path(path)
    try:
        return p.read_bytes()
    except IsADirectoryError:
        raise LongbenchError(f"{p}: is a directory, expected a file") from None
    except OSError as e:
        raise LongbenchError(f"cannot read {p}: {e.strerror}") from None


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte-order mark."""
    return data.removeprefix(BOM)


def decode_utf8(data: bytes, where: str, first_line: int = 1) -> str:
    """UTF-8 text of ``data``; an error names the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = first_line + data[:e.start].count(b"\n")
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise LongbenchError(f"{where}:{line}: not valid UTF-8 (byte {data[e.start]:#04x} at column {col})") from None


def _deep_line(text: str) -> int:
    """1-based line where nesting first passes ``MAX_DEPTH`` levels (else where it is deepest)."""
    depth = best = 0
    line = best_line = 1
    in_str = esc = False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > best:
                best, best_line = depth, line
                if depth > MAX_DEPTH:
                    break
        elif ch in "]}":
            depth -= 1
    return best_line


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than ``limit`` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > limit:
                return True
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v)
                         if isinstance(c, (dict, list)))
    return False


def loads(text: str, where: str, first_line: int = 1) -> Any:
    """Parse one JSON document; errors are ``WHERE:LINE: ...`` (LINE counted from ``first_line``)."""
    return raw_decode(text, where, first_line=first_line, whole=True)[0]


_DECODER = json.JSONDecoder()


def raw_decode(text: str, where: str, pos: int = 0, *, first_line: int = 1, whole: bool = False) -> tuple[Any, int]:
    """Decode the JSON value starting at ``pos`` (``json.JSONDecoder.raw_decode``) → (value, end).

    ``whole``: the value must be all of ``text`` (whitespace around it aside), as ``json.loads``.
    Line numbers in errors count from ``first_line`` for the start of ``text``.
    """
    try:
        if whole:
            value, end = json.loads(text), len(text)
        else:
            value, end = _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as e:
        raise LongbenchError(f"{where}:{first_line + e.lineno - 1}: invalid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        deep = True
    except ValueError as e:  # e.g. an integer with more digits than int() converts
        line = first_line + text.count("\n", 0, pos)
        raise LongbenchError(f"{where}:{line}: invalid JSON ({str(e).splitlines()[0]})") from None
    else:
        deep = _depth_exceeds(value, MAX_DEPTH)
    if deep:
        line = first_line + text.count("\n", 0, pos) + _deep_line(text[pos:]) - 1
        raise LongbenchError(f"{where}:{line}: nested too deeply (more than {MAX_DEPTH} levels of arrays/objects)")
    return value, end


def parse_json(data: bytes, where: str) -> Any:
    """One JSON document from the bytes of a whole file (BOM dropped)."""
    return loads(decode_utf8(strip_bom(data), where), where)


def read_json(path: str | os.PathLike, max_bytes: int | None = None) -> Any:
    """Read a JSON file (at most ``max_bytes`` bytes when given)."""
    p = Path(path)
    if max_bytes is not None:
        try:
            size = p.stat().st_size
        except OSError:
            size = 0  # read_bytes reports it
        if size > max_bytes:
            raise LongbenchError(f"{p}: {size:,} bytes is over the limit of {max_bytes:,}")
    return parse_json(read_bytes(p), str(p))


def check_line_size(line: bytes, where: str, max_line_bytes: int = MAX_LINE_BYTES) -> None:
    """Refuse a line over ``max_line_bytes`` before anything decodes it."""
    if len(line) > max_line_bytes:
        raise LongbenchError(f"{where}: line is {len(line):,} bytes, over the {max_line_bytes:,}-byte limit "
                             "for one line")


def parse_jsonl(data: bytes, where: str, *, max_line_bytes: int = MAX_LINE_BYTES,
                on_error: Callable[[int, LongbenchError], None] | None = None) -> list[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line of JSONL bytes (BOM dropped, ``\\r\\n`` accepted).

    Args:
        data: the file's bytes.
        where: the file name used in messages.
        max_line_bytes: the longest line accepted.
        on_error: called with ``(line, error)`` for a bad line, which is then skipped; None: raise
            the first error.

    Raises:
        LongbenchError: ``WHERE:LINE: ...`` for the first bad line (when ``on_error`` is None).
    """
    rows: list[tuple[int, Any]] = []
    for lineno, line in enumerate(strip_bom(data).split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            check_line_size(line, f"{where}:{lineno}", max_line_bytes)
            rows.append((lineno, loads(decode_utf8(line, where, lineno), where, lineno)))
        except LongbenchError as e:
            if on_error is None:
                raise
            on_error(lineno, e)
    return rows


def read_jsonl(path: str | os.PathLike, *, max_line_bytes: int = MAX_LINE_BYTES) -> list[tuple[int, Any]]:
    """``parse_jsonl`` of a file."""
    return parse_jsonl(read_bytes(path), str(path), max_line_bytes=max_line_bytes)


def problem_text(error: LongbenchError, where: str, lineno: int) -> str:
    """The message of a ``parse_jsonl`` error without its ``WHERE:LINE: `` prefix."""
    return str(error).removeprefix(f"{where}:{lineno}: ")
