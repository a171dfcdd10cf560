"""Generic formats, prompts in a field the user names (``--field``, default ``prompt``; ``--id-field``,
``--image-field``): ``jsonl`` (also a JSON list or parquet), ``csv``, and ``txt`` (one prompt per line)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from longbench.errors import LongbenchError
from longbench.suites.importers.rows import ImportRow, csv_records, id_stem, line_rows, option_record_rows
from longbench.suites.options import ImportOptions


def read_jsonl(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    return option_record_rows(path, opts, "prompt")


def read_txt(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    return line_rows(path, tag=None)


def read_csv(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    prompt_field = opts.field or "prompt"
    cols, records = csv_records(path, (prompt_field, opts.id_field, opts.image_field))
    stem = id_stem(path)
    for n, (lineno, rec) in enumerate(records, 1):
        where = f"{path}:{lineno}"
        sid = rec[cols[opts.id_field]] if opts.id_field else None
        if opts.id_field and not sid.strip():
            raise LongbenchError(f"{where}: empty {opts.id_field!r}")
        image = rec[cols[opts.image_field]] if opts.image_field else None
        yield ImportRow(where=where, prompt=rec[cols[prompt_field]], fallback_id=f"{stem}-{n}",
                        source_id=sid, reference_image=image or None)
