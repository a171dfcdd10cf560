"""DPG-Bench: ``dpg-bench``, a folder of ``<stem>.txt`` files, one prompt per file (id = file stem, natural
order; the whole file is the prompt), and ``dpg-bench-csv``, the published ``dpg_bench.csv``: one row per
question (``item_id, text, keywords, proposition_id, dependency, category_broad, category_detailed, tuple,
question_natural_language``) → one item per ``item_id`` (prompt = ``text``) with one suite question per row
(id = ``proposition_id``, ``depends_on`` = ``dependency`` without ``0``, category = ``tuple`` up to ``(``). A
question's rows of one item must be consecutive."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError
from longbench.suites.base import Question
from longbench.suites.importers.rows import ImportRow, csv_records, decode, read_source
from longbench.suites.options import ImportOptions
from longbench.suites.question_checks import question_problems


def _natural_key(name: str) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in re.split(r"(\d+)", name) if p]


def read_dpg_bench(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    if not path.is_dir():
        raise LongbenchError(f"{path}: dpg-bench expects a folder of <N>.txt prompt files")
    files = sorted((p for p in path.iterdir() if p.suffix == ".txt" and p.is_file()
                    and not p.name.startswith(".")), key=lambda p: _natural_key(p.stem))
    if not files:
        raise LongbenchError(f"{path}: no .txt prompt files in the folder")
    for f in files:
        raw = read_source(f)
        # The whole file is the prompt, byte for byte (DPG-Bench files mostly have no final newline).
        text = decode(raw, str(f))
        yield ImportRow(where=f"{f}:1", prompt=text, fallback_id=f.stem, source_id=f.stem)


DPG_CSV_COLUMNS = ("item_id", "text", "proposition_id", "dependency", "tuple", "question_natural_language")


def read_dpg_bench_csv(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    """DPG-Bench's ``dpg_bench.csv``: consecutive rows of an item → one item with its questions.

    ``meta.dpg_bench`` keeps what the CSV says beyond the questions (``keywords``, each question's ``tuple``
    and broad/detailed categories) and ``first_row_question`` on the item of the first data row: the
    question the reference script skips (the ``vqa`` metric's ``dpg_compat`` switch).
    """
    cols, records = csv_records(path, DPG_CSV_COLUMNS)
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
