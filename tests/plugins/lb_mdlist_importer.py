"""An example suite importer that lives outside the package and registers through an entry point
(``docs/architecture.md``, "A suite importer"): one function plus, in the plugin's packaging::

    [project.entry-points."longbench.importers"]
    mdlist = "lb_mdlist_importer:read_mdlist"

after which ``longbench suites import mdlist prompts.md --out prompts.jsonl`` runs it.

Format: a Markdown file whose bullet items (``- `` or ``* ``) are prompts; a ``## Heading`` tags the items
below it with the heading's words joined by ``-`` in lower case; every other line is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.suites.importers import ImportRow
from longbench.suites.options import ImportOptions

BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
HEADING = re.compile(r"^##\s+(.*)$")


def read_mdlist(path: Path, opts: ImportOptions) -> Iterator[ImportRow]:
    if path.is_dir():
        raise LongbenchError(f"{path}: is a directory, expected a Markdown file")
    text = jsonio.decode_utf8(jsonio.strip_bom(jsonio.read_bytes(path)), str(path))
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem) or "item"
    tag = None
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        jsonio.check_line_size(line.encode("utf-8"), f"{path}:{lineno}")
        heading = HEADING.match(line)
        if heading:
            tag = "-".join(heading.group(1).lower().split()) or None
            continue
        bullet = BULLET.match(line)
        if bullet:
            yield ImportRow(where=f"{path}:{lineno}", prompt=bullet.group(1), fallback_id=f"{stem}-{lineno}",
                            tags=(tag,) if tag else ())
