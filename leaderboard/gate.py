"""CI regression gate: compare a run's results with a baseline's.

A gated column regresses when it moves in the bad direction by more than its allowed delta: a drop
for higher-is-better columns, a rise for lower-is-better ones (``baseline - current > delta`` or
``current - baseline > delta``; a move of exactly ``delta`` passes, up to a 1e-9 relative float
tolerance). A gated column missing from either run, or without a value, fails the gate: a check that
cannot be made must not pass silently. Ungated columns are reported for information. Differences in
suite sha256 or in a column's metric protocol are reported as warnings (the numbers may not be
comparable) but do not by themselves fail the gate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from longbench.errors import LongbenchError
from longbench.options import parse_key_values

# Status values of a row.
OK = "ok"
IMPROVED = "improved"
REGRESSION = "regression"
NOT_GATED = "not gated"
MISSING_CURRENT = "missing in current"
MISSING_BASELINE = "missing in baseline"
NO_VALUE = "no value"
FAILING = (REGRESSION, MISSING_CURRENT, MISSING_BASELINE, NO_VALUE)


@dataclass
class GateRow:
    """One column of the comparison.

    Attributes:
        column: metric column name.
        baseline: baseline value (None when missing or null).
        current: current value (None when missing or null).
        delta: ``current - baseline`` when both exist.
        higher_is_better: direction (from current, else baseline).
        max_regression: allowed move in the bad direction, None when the column is not gated.
        status: one of ok, improved, regression, not gated, missing in current, missing in baseline, no value.
        note: extra information (protocol differences).
    """

    column: str
    baseline: float | None
    current: float | None
    delta: float | None
    higher_is_better: bool | None
    max_regression: float | None
    status: str
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.max_regression is not None and self.status in FAILING


@dataclass
class GateResult:
    """Outcome of ``compare``: ``ok`` is False when any gated column failed."""

    ok: bool
    rows: list[GateRow]
    markdown: str
    warnings: list[str] = field(default_factory=list)


def parse_max_regression(specs: Iterable[str], flag: str = "--max-regression") -> dict[str, float]:
    """Parse ``["denscore=0.5", "fid=2"]`` into ``{"denscore": 0.5, "fid": 2.0}``.

    Raises:
        LongbenchError: malformed item, non-finite or negative delta, or a column given twice.
    """
    out = parse_key_values(specs, flag, "denscore=0.5", form="METRIC=DELTA", numbers=True, unique=True)
    for name, delta in out.items():
        if not math.isfinite(delta) or delta < 0:
            raise LongbenchError(f"{flag} {name}={delta}: the allowed regression must be a finite number >= 0")
    return out


def _value(m: dict[str, Any] | None) -> float | None:
    if m is None:
        return None
    v = m.get("value")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _protocol(r: dict[str, Any], column: str) -> Any:
    m = r["metrics"][column]
    return r.get("protocols", {}).get(m.get("metric") or column)


def _regressed(baseline: float, current: float, hib: bool, allowed: float) -> bool:
    worse = (baseline - current) if hib else (current - baseline)
    return worse > allowed + 1e-9 * max(1.0, abs(baseline), abs(current))


def compare(current: dict[str, Any], baseline: dict[str, Any], max_regression: dict[str, float]) -> GateResult:
    """Compare two parsed results.json dicts column by column.

    Args:
        current: results of the run under test.
        baseline: results of the reference run.
        max_regression: column -> allowed move in the bad direction (>= 0).

    Returns:
        ``GateResult`` with ``ok``, one ``GateRow`` per column of either run, and a Markdown summary.

    Raises:
        LongbenchError: a ``max_regression`` name is in neither run (the message lists the columns),
            or a delta is negative or not finite.
    """
    cur_m, base_m = current.get("metrics") or {}, baseline.get("metrics") or {}
    available = list(dict.fromkeys([*cur_m, *base_m]))
    unknown = [k for k in max_regression if k not in cur_m and k not in base_m]
    if unknown:
        raise LongbenchError(f"--max-regression: unknown metric {', '.join(map(repr, unknown))}; "
                             f"available: {', '.join(available) or '(none)'}")
    for k, d in max_regression.items():
        if not isinstance(d, (int, float)) or not math.isfinite(d) or d < 0:
            raise LongbenchError(f"--max-regression {k}={d}: the allowed regression must be a finite number >= 0")

    warnings = []
    cs, bs = current.get("suite") or {}, baseline.get("suite") or {}
    if cs.get("sha256") != bs.get("sha256"):
        warnings.append(f"suite sha256 differs: current {cs.get('name')} {str(cs.get('sha256'))[:12]} vs "
                        f"baseline {bs.get('name')} {str(bs.get('sha256'))[:12]}")

    rows = []
    for col in available:
        c, b = cur_m.get(col), base_m.get(col)
        allowed = max_regression.get(col)
        hib = (c or b)["higher_is_better"]
        cv, bv = _value(c), _value(b)
        note = ""
        if c is not None and b is not None and _protocol(current, col) != _protocol(baseline, col):
            note = "metric protocol differs from the baseline"
            warnings.append(f"{col}: {note}")
        if c is None:
            status = MISSING_CURRENT
        elif b is None:
            status = MISSING_BASELINE
        elif cv is None or bv is None:
            status = NO_VALUE
        elif allowed is None:
            status = NOT_GATED
        elif _regressed(bv, cv, hib, allowed):
            status = REGRESSION
        else:
            status = IMPROVED if (cv > bv if hib else cv < bv) else OK
        delta = cv - bv if cv is not None and bv is not None else None
        rows.append(GateRow(col, bv, cv, delta, hib, allowed, status, note))
    ok = not any(r.failed for r in rows)
    return GateResult(ok=ok, rows=rows, markdown=to_markdown(ok, rows, current, baseline, warnings),
                      warnings=warnings)


def to_markdown(ok: bool, rows: list[GateRow], current: dict[str, Any], baseline: dict[str, Any],
                warnings: list[str]) -> str:
    """Summary for a pull-request comment."""
    from leaderboard.render import fmt_diff, fmt_value, md_escape

    failed = [r for r in rows if r.failed]
    head = "✅ longbench: no regression" if ok else f"❌ longbench: {len(failed)} gated metric(s) failed"
    lines = [f"### {head}", ""]
    for label, r in (("current", current), ("baseline", baseline)):
        s = r.get("suite") or {}
        lines.append(f"- **{label}**: {md_escape((r.get('model') or {}).get('spec', '?'))} on "
                     f"{md_escape(s.get('name', '?'))} v{md_escape(s.get('version', '?'))} "
                     f"(`{str(s.get('sha256', '?'))[:12]}`), n={r.get('n', '?')}, run `{md_escape(r.get('run_id', '?'))}`")
    lines += ["", "| Metric | Baseline | Current | Δ | Allowed regression | Status |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        arrow = "" if r.higher_is_better is None else (" ↑" if r.higher_is_better else " ↓")
        allowed = "—" if r.max_regression is None else f"{r.max_regression:g}"
        mark = "❌ " if r.failed else ("✅ " if r.max_regression is not None else "")
        status = mark + r.status + (f" ({md_escape(r.note)})" if r.note else "")
        lines.append(f"| {md_escape(r.column)}{arrow} | {fmt_value(r.baseline)} | {fmt_value(r.current)} | "
                     f"{fmt_diff(r.delta)} | {allowed} | {status} |")
    if warnings:
        lines += ["", "Warnings:", ""] + [f"- ⚠️ {md_escape(w)}" for w in warnings]
    lines += ["", ("↑ higher is better, ↓ lower is better; Δ = current − baseline. A gated metric fails when it "
                   "moves in the bad direction by more than the allowed regression, or is missing from either run.")]
    return "\n".join(lines) + "\n"
