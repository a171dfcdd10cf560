"""Importers: public prompt sets → suite JSONL files (``longbench suites import FORMAT PATH --out F``).

An importer is a function ``(path: Path, opts: ImportOptions) -> Iterator[ImportRow]`` registered under its
format name (``BUILTIN``; registry ``longbench.registry.IMPORTERS``; plugins through the entry-point group
``longbench.importers``; ``ImportOptions`` is in :mod:`longbench.suites.options`); :func:`import_suite` turns
the rows into a checked suite. This package is the importers' public API (``ImportRow``, ``import_suite``,
``import_to_file``, ``suite_jsonl``, ``check_format``); inside it, one module per format family (``dpg``,
``geneval``, ``captions``, ``generic``), the readers they share (``rows``) and the assembly of rows into a
suite (``assemble``). Built-in formats:

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

from longbench.suites.importers.assemble import check_format, import_suite, import_to_file, suite_jsonl
from longbench.suites.importers.rows import ImportRow

__all__ = ["BUILTIN", "ImportRow", "check_format", "import_suite", "import_to_file", "suite_jsonl"]

#: the built-in importers (registry ``IMPORTERS``), imported on first use
BUILTIN: dict[str, str] = {
    "dpg-bench": "longbench.suites.importers.dpg:read_dpg_bench",
    "dpg-bench-csv": "longbench.suites.importers.dpg:read_dpg_bench_csv",
    "docci": "longbench.suites.importers.captions:read_docci",
    "longalign": "longbench.suites.importers.captions:read_longalign",
    "geneval": "longbench.suites.importers.geneval:read_geneval",
    "t2i-compbench": "longbench.suites.importers.captions:read_t2i_compbench",
    "jsonl": "longbench.suites.importers.generic:read_jsonl",
    "csv": "longbench.suites.importers.generic:read_csv",
    "txt": "longbench.suites.importers.generic:read_txt",
}
