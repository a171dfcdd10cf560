"""Loading the runs a viewer shows: ``results.json`` + ``samples.jsonl`` of each run directory, the check
that they are comparable (same suite sha256, same seed), and the suite they were scored on (prompts and
segments are not in the run files, so the suite is loaded again and verified by its sha256).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError


@dataclass
class ViewRun:
    """One run as the viewer uses it.

    Attributes:
        dir: the run directory.
        results: the validated ``results.json``.
        samples: ``item_id`` → its ``samples.jsonl`` record.
        label: a name unique among the viewer's runs (the model spec, made unique when needed).
    """

    dir: Path
    results: dict[str, Any]
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    label: str = ""

    @property
    def spec(self) -> str:
        return self.results["model"]["spec"]


def load_view_run(path: str | os.PathLike) -> ViewRun:
    """Read and check one run (a run directory or its ``results.json``)."""
    from leaderboard.runs import SAMPLES_NAME, read_samples
    from longbench.results import load_results

    p = Path(path)
    if not p.exists():
        raise LongbenchError(f"{p}: no such run directory")
    run_dir = p if p.is_dir() else p.parent
    results = load_results(run_dir)
    samples_path = run_dir / SAMPLES_NAME
    if not samples_path.is_file():
        raise LongbenchError(f"{samples_path}: missing (a run directory holds results.json and samples.jsonl)")
    rows = read_samples(samples_path, results)
    samples: dict[str, dict[str, Any]] = {}
    for row in rows:
        samples.setdefault(row["item_id"], row)  # one seed per item in a run: the first record wins
    return ViewRun(dir=run_dir, results=results, samples=samples)


def _short(sha: str) -> str:
    return sha[:12]


def check_comparable(runs: Sequence[ViewRun]) -> None:
    """Refuse runs that do not show the same images side by side: other suite content or other seed."""
    first = runs[0]
    s0 = first.results["suite"]
    for r in runs[1:]:
        s = r.results["suite"]
        if s["sha256"] != s0["sha256"]:
            raise LongbenchError(
                f"{r.dir}: suite {s['name']} v{s['version']} sha256 {_short(s['sha256'])} differs from "
                f"{first.dir} ({s0['name']} v{s0['version']} sha256 {_short(s0['sha256'])}); "
                "a viewer shows runs of the same suite content only")
        if r.results["seed"] != first.results["seed"]:
            raise LongbenchError(
                f"{r.dir}: seed {r.results['seed']} differs from {first.dir} (seed {first.results['seed']}); "
                "a viewer shows images of the same item and seed side by side")
    seen: dict[Path, Path] = {}
    for r in runs:
        key = r.dir.resolve()
        if key in seen:
            raise LongbenchError(f"{r.dir}: the same run is given twice")
        seen[key] = r.dir


def assign_labels(runs: Sequence[ViewRun]) -> None:
    """Label each run by its model spec; runs sharing a spec get their directory name appended."""
    from collections import Counter

    counts = Counter(r.spec for r in runs)
    for r in runs:
        r.label = r.spec if counts[r.spec] == 1 else f"{r.spec} ({r.dir.name})"


def load_suite_of(runs: Sequence[ViewRun], suite_spec: str | None = None) -> Any:
    """The suite the runs were scored on, verified by sha256.

    Args:
        suite_spec: a suite name or file (``--suite``); default: what the first run's config names
            (``config.suite``), else the suite name in results.json.
    """
    from longbench.suites.loaders import load_suite

    first = runs[0].results
    want = first["suite"]
    spec = suite_spec or (first.get("config") or {}).get("suite") or want["name"]
    flag = "--suite" if suite_spec else f"{runs[0].dir / 'results.json'}: config.suite"
    try:
        suite = load_suite(str(spec))
    except LongbenchError as e:
        raise LongbenchError(f"{flag} {spec!r}: cannot load the suite ({e}); pass --suite NAME|FILE") from None
    limit = first.get("limit")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 and len(suite.items) > limit:
        suite = suite.head(limit)
    if suite.sha256 != want["sha256"]:
        raise LongbenchError(
            f"{flag} {spec!r}: suite sha256 {_short(suite.sha256)} is not the one the runs were scored on "
            f"({want['name']} v{want['version']} sha256 {_short(want['sha256'])}); pass --suite with that exact suite")
    return suite
