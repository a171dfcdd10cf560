"""Published caption and prompt sets with fixed field names (``--field`` and friends override them):
``docci`` (JSONL ``description``, id ``example_id``, reference image ``image_file``), ``longalign`` (the
LongAlign training set: ``caption`` + image ``path``, as a JSON list, JSONL or parquet) and
``t2i-compbench`` (one prompt per line of a ``.txt``, tagged with the file stem)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from longbench.errors import LongbenchError
from longbench.suites.importers.rows import ImportRow, line_rows, option_record_rows
from longbench.suites.options import ImportOptions


def read_docci(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    return option_record_rows(path, opts, "description", "example_id", "image_file")


def read_longalign(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    image_field = opts.image_field or "path"
    for row in option_record_rows(path, opts, "caption", None, image_field):
        if row.reference_image is None:
            raise LongbenchError(f"{row.where}: no image field {image_field!r} (use --image-field)")
        yield row


def read_t2i_compbench(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    return line_rows(path, tag=path.stem)
