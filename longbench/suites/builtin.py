"""Built-in prompt suites shipped inside the package (``longbench/suites/data``)."""

from __future__ import annotations

import logging
from importlib import resources

from longbench.suites.base import Suite
from longbench.suites.loaders import load_jsonl_suite

logger = logging.getLogger(__name__)

LONGBENCH_V1_FILE = "longbench-v1.jsonl"


def longbench_v1() -> Suite:
    """``longbench-v1``: 230 original long prompts (about 50-390 CLIP tokens) written for this project.

    Twelve domains (interiors, landscapes, street scenes, people, animals, still life, products, art
    styles, written text, food, vehicles, fantasy) plus a few very long mixed scenes; every item is
    annotated per sentence with entities, counts, attributes, spatial relations, rendered text and
    styles, and its ``segments`` are exactly ``split_default(prompt)``.

    Returns:
        The suite, loaded from the packaged JSONL file (its header names it ``longbench-v1``, version 1).
    """
    ref = resources.files("longbench.suites").joinpath("data", LONGBENCH_V1_FILE)
    # as_file gives a real path even when the package is installed zipped; the suite is read eagerly.
    with resources.as_file(ref) as path:
        suite = load_jsonl_suite(path)
    logger.debug("loaded %s: %d items, sha256 %s", suite.name, len(suite), suite.sha256)
    return suite
