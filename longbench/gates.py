"""What a run is checked against: ``--fail-under`` thresholds and the ``--compare-to`` regression gate.

:class:`Gates` holds both; it is checked before anything is generated (finite thresholds, a readable
baseline, and every column a gate names among the columns the run's metrics declare). After the run,
:func:`check_thresholds` lists threshold failures; the regression comparison itself is
``leaderboard.gate.compare`` (also behind ``longbench leaderboard compare``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from longbench.errors import LongbenchError


@dataclass
class Gates:
    """The gates of an evaluation (not part of a run's identity: kept out of results.json).

    Attributes:
        fail_under: column → threshold: fail when the column is worse (below it; above it for
            lower-is-better columns such as FID).
        compare_to: a baseline results.json (or its run directory) for the regression gate.
        max_regression: column → the largest allowed move in the bad direction against the baseline.
    """

    fail_under: dict[str, float] = field(default_factory=dict)
    compare_to: str | None = None
    max_regression: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        for col, value in self.fail_under.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise LongbenchError(f"--fail-under {col}={value}: the threshold must be a finite number")
        for col, delta in self.max_regression.items():
            if not isinstance(delta, (int, float)) or not math.isfinite(delta) or delta < 0:
                raise LongbenchError(f"--max-regression {col}={delta}: the allowed regression must be a finite "
                                     "number >= 0")
        if self.max_regression and not self.compare_to:
            raise LongbenchError("--max-regression needs --compare-to BASELINE/results.json")

    def required_columns(self) -> dict[str, list[str]]:
        """Flag → the columns it names (checked against the run's declared columns before it starts)."""
        return {"--fail-under": list(self.fail_under), "--max-regression": list(self.max_regression)}

    def load_baseline(self) -> dict[str, Any] | None:
        """The baseline results (None without ``compare_to``), read and checked against the gated columns."""
        if not self.compare_to:
            return None
        from leaderboard.gate import compare
        from longbench.results import load_results

        baseline = load_results(self.compare_to)
        compare(baseline, baseline, self.max_regression)  # a column in neither run is an error now, not later
        return baseline


def check_columns(planned: dict[str, bool], required: dict[str, Sequence[str]]) -> None:
    """Raise a LongbenchError naming the flag when it names a column that ``planned`` lacks."""
    for flag, cols in required.items():
        for col in cols:
            if col not in planned:
                close = difflib.get_close_matches(col, list(planned), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise LongbenchError(f"{flag} {col}: no such metric column{hint} (the metrics of this run report: "
                                     f"{', '.join(planned) or 'none'})")


def check_thresholds(results: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Failures of ``--fail-under`` thresholds: a higher-is-better column below its value, or a
    lower-is-better column (FID, MAE) above it. Unknown columns are a LongbenchError."""
    failures = []
    metrics = results["metrics"]
    for col, limit in thresholds.items():
        if col not in metrics:
            raise LongbenchError(f"--fail-under {col}: no such metric column (available: {', '.join(sorted(metrics))})")
        m = metrics[col]
        value = m["value"]
        bad = value is None or (isinstance(value, float) and math.isnan(value)) or (
            value < limit if m["higher_is_better"] else value > limit)
        if bad:
            op = "<" if m["higher_is_better"] else ">"
            failures.append(f"{results['model']['spec']}: {col} = {value} {op} {limit}")
    return failures
