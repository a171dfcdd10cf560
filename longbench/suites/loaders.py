"""Resolve a suite spec (registered name or file path) into a Suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.registry import SUITES
from longbench.suites.base import Item, Suite


def read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """``(line, value)`` of a suite file's lines, read by the one JSONL reader (``longbench.jsonio``):
    ``eval --suite``, ``suites validate`` and ``suites import`` accept exactly the same bytes."""
    data = jsonio.read_bytes(path)
    if not jsonio.strip_bom(data).strip():
        raise LongbenchError(f"{path}: file is empty")
    return jsonio.parse_jsonl(data, str(path))


def load_jsonl_suite(path: str | Path, name: str | None = None, version: str | None = None) -> Suite:
    """A suite file: one item per line. An optional first line ``{"suite": {"name", "version",
    "description", "default_metrics", "metric_args"}}`` names it (and declares the metrics ``eval`` runs
    by default, with option defaults); otherwise the name is the file stem and the version ``"file"``."""
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
    if header:
        from longbench.suites.schema import metric_header_problems  # the header's rules have one home

        problems = metric_header_problems(header)
        if problems:
            raise LongbenchError(f"{path}:1: {problems[0]}")
    return Suite(name=name or header.get("name", path.stem), version=version or str(header.get("version", "file")),
                 items=items, description=header.get("description", ""), root=str(path.parent.resolve()),
                 default_metrics=tuple(header.get("default_metrics", ())),
                 metric_args={m: dict(o) for m, o in header.get("metric_args", {}).items()})


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
