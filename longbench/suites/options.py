"""The options of ``longbench suites import``, declared once (see :mod:`longbench.options`): the command's
flags (``--id-field``, ``--no-parse-counts`` ...) and their help are made from this dataclass, and every
importer, built-in or plugin (``longbench.importers``), receives an instance. Imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

from longbench.options import option


@dataclass
class ImportOptions:
    """What the user chose on the command line; ``None`` means the format's default."""

    field: str | None = option(None, "prompt field/column (default per format: description, caption, prompt)")
    id_field: str | None = option(None, "id field/column (default: file stem or line number)")
    image_field: str | None = option(None, "reference-image field/column (longalign: path, docci: image_file)")
    image_root: str | None = option(None, "folder that relative reference-image paths are relative to (default: "
                                          "the source's)")
    name: str | None = option(None, "suite name (default: the source file or folder name)")
    version: str | None = option(None, "suite version (default: 1)")
    parse_counts: bool = option(True, "run the count parser on raw prompts")
