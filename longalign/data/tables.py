"""Tables of training rows: JSONL, JSON (a list of objects), CSV and parquet files, with row-numbered errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from longbench import jsonio
from longbench.errors import LongbenchError

TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL / JSON (list of objects) / CSV / parquet file."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":  # the one JSONL reader of longbench (BOM, line limit, line-numbered errors)
        rows = []
        for i, row in jsonio.read_jsonl(path):
            if not isinstance(row, dict):
                raise LongbenchError(f"{path}:{i}: expected a JSON object per line")
            rows.append(row)
        return rows
    if suffix == ".json":
        data = jsonio.read_json(path)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise LongbenchError(f"{path}: expected a JSON list of objects")
        return data
    if suffix == ".csv":
        # a byte-order mark is dropped and bad bytes are a line-numbered error, as for JSON
        text = jsonio.decode_utf8(jsonio.strip_bom(jsonio.read_bytes(path)), str(path))
        return list(csv.DictReader(io.StringIO(text, newline="")))
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as e:
            raise LongbenchError(f"{path}: cannot read parquet ({type(e).__name__}: {e})") from None
    raise LongbenchError(f"{path}: unsupported table format {suffix!r} (use {', '.join(TABLE_SUFFIXES)})")


def row_number(path: Path, i: int) -> str:
    # 1-based data rows; a CSV header is line 1 so its rows start at line 2
    return f"{path}:{i + (2 if path.suffix.lower() == '.csv' else 1)}"
