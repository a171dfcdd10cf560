"""Resolve a suite spec (registered name or file path) into a Suite."""

from __future__ import annotations

import json
from pathlib import Path

from longbench.errors import LongbenchError
from longbench.registry import SUITES
from longbench.suites.base import Item, Suite


def read_jsonl(path: Path) -> list[dict]:
    """Read a JSONL file; errors name the file and the 1-based line."""
    rows = []
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise LongbenchError(f"cannot read {path}: {e.strerror}") from e
    if not raw.strip():
        raise LongbenchError(f"{path}: file is empty")
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # a UTF-8 byte-order mark
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise LongbenchError(f"{path}:{lineno}: not valid UTF-8 (byte {e.start})") from e
        try:
            rows.append((lineno, json.loads(text)))
        except json.JSONDecodeError as e:
            raise LongbenchError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from e
    return rows


def load_jsonl_suite(path: str | Path, name: str | None = None, version: str | None = None) -> Suite:
    """A suite file: one item per line. An optional first line ``{"suite": {"name", "version",
    "description"}}`` names it; otherwise the name is the file stem and the version ``"file"``."""
    path = Path(path)
    rows = read_jsonl(path)
    header: dict = {}
    if rows and isinstance(rows[0][1], dict) and set(rows[0][1]) == {"suite"}:
        lineno, first = rows.pop(0)
        header = first["suite"]
        if not isinstance(header, dict):
            raise LongbenchError(f"{path}:{lineno}: the header's \"suite\" must be an object with name/version")
    items = [Item.from_dict(obj, f"{path}:{lineno}") for lineno, obj in rows]
    first_line: dict[str, int] = {}
    for (lineno, _), item in zip(rows, items):
        if item.id in first_line:
            raise LongbenchError(f"{path}:{lineno}: duplicate item id {item.id!r} (first on line {first_line[item.id]})")
        first_line[item.id] = lineno
    if not items:
        raise LongbenchError(f"{path}: no items")
    return Suite(name=name or header.get("name", path.stem), version=version or str(header.get("version", "file")),
                 items=items, description=header.get("description", ""), root=str(path.parent.resolve()))


def load_suite(spec: str) -> Suite:
    """A registered suite name (``synth-v0``, ``longbench-v1``, plugins) or a path to a suite file."""
    if spec in SUITES:
        return SUITES.get(spec)()
    path = Path(spec)
    if path.suffix == ".jsonl" or path.exists():
        if not path.is_file():
            raise LongbenchError(f"suite file {spec!r} does not exist")
        return load_jsonl_suite(path)
    raise SUITES.unknown(spec)
