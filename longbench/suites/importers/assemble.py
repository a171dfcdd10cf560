"""Rows → a checked suite, and the suite file: what ``longbench suites import`` does after an importer has read
its source (ids made valid and unique, prompts checked, the count parser run on unannotated prompts,
reference-image paths resolved; then the suite JSONL written atomically)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError
from longbench.fileio import atomic_write_text
from longbench.registry import IMPORTERS
from longbench.suites.base import ITEM_ID_RE, MAX_PROMPT_CHARS, Item, Suite
from longbench.suites.counts import facts_from_mentions, find_counts
from longbench.suites.importers.rows import ImportRow, safe_id
from longbench.suites.options import ImportOptions
from longbench.suites.schema import SCHEMA_VERSION

logger = logging.getLogger(__name__)


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
            item_id = raw_id if ITEM_ID_RE.match(raw_id) and ".." not in raw_id else safe_id(raw_id)
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
    name = opts.name or safe_id(path.stem if path.is_file() else path.name) or fmt
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
