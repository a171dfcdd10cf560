"""The leaderboard's content: which runs are comparable, their ranks, and adjacent-pair significance.

``build_table(runs)`` returns one JSON-able dict (written as ``leaderboard.json``); the Markdown, CSV,
HTML and plot writers only format it. Rules:

* one section per suite ``(name, version, sha256)``; runs of the same suite name with another
  version or sha256 are listed in the section with the reason instead of being ranked in it;
* within a section each column (e.g. ``denscore``) is ranked over the runs whose metric protocol
  (the ``protocols`` entry of the metric behind the column, plus the column's direction) equals the
  reference protocol: the one shared by most runs, ties going to the protocol of the newest run.
  Runs with another protocol are listed apart with the differing protocol fields;
* rows are ranked with ``stats.competition_ranks`` and each row is compared with the row ranked just
  above it by a paired bootstrap over the ``(item_id, seed)`` pairs both runs scored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from leaderboard.runs import Run

logger = logging.getLogger(__name__)

LEADERBOARD_SCHEMA = 1
PROCEDURE = (
    "paired percentile bootstrap of the mean per-item difference between runs adjacent in rank, over "
    "the (item_id, seed) pairs both scored; tie when the interval contains 0"
)


@dataclass(frozen=True)
class BootstrapConfig:
    """Settings of the significance test, recorded in every output."""

    n_resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        from longbench.errors import LongbenchError

        if self.n_resamples < 1:
            raise LongbenchError(f"bootstrap resamples must be >= 1, got {self.n_resamples}")
        if not 0.0 < self.confidence < 1.0:
            raise LongbenchError(f"confidence must be between 0 and 1, got {self.confidence}")


def slug(text: str, max_len: int = 48) -> str:
    """A file/id-safe form of ``text``; a short hash is appended when characters had to be replaced."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    s = s[:max_len]
    if s != text:
        s += "-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]
    return s


def _canonical(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def fingerprint(x: Any) -> str:
    """Short sha256 of the canonical JSON of ``x``."""
    return hashlib.sha256(_canonical(x).encode("ascii")).hexdigest()[:12]


def flatten(x: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys (lists, scalars and empty dicts are leaves)."""
    if isinstance(x, dict) and x:
        out: dict[str, Any] = {}
        for k, v in x.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: x}


def _short(v: Any, n: int = 16) -> str:
    s = v if isinstance(v, str) else _canonical(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def protocol_summary(protocol: Any, max_fields: int = 8) -> str:
    """One line naming the protocol's fields (long values shortened); the details go elsewhere."""
    if not isinstance(protocol, dict) or not protocol:
        return "no protocol recorded"
    items = [f"{k}={_short(v, 24)}" for k, v in flatten(protocol).items()]
    more = len(items) - max_fields
    return " · ".join(items[:max_fields]) + (f" · … (+{more} more)" if more > 0 else "")


def protocol_difference(metric: str, theirs: dict[str, Any], ref: dict[str, Any]) -> str:
    """Reason text for a run whose column identity (see ``_identity``) differs from the reference."""
    if theirs["metric"] != ref["metric"]:
        return f"column comes from metric {theirs['metric']!r}, ranked runs use {ref['metric']!r}"
    if theirs["higher_is_better"] != ref["higher_is_better"]:
        return f"higher_is_better of {metric} differs: {theirs['higher_is_better']} vs {ref['higher_is_better']}"
    if theirs["protocol"] is None or ref["protocol"] is None:
        side = "this run" if theirs["protocol"] is None else "the ranked runs"
        return f"protocol of {metric} differs: not recorded for {side}"
    a, b = flatten(theirs["protocol"]), flatten(ref["protocol"])
    diffs = []
    for k in list(dict.fromkeys([*b, *a])):
        if k not in a:
            diffs.append(f"{k} missing vs {_short(b[k])}")
        elif k not in b:
            diffs.append(f"{k} {_short(a[k])} vs missing")
        elif a[k] != b[k]:
            diffs.append(f"{k} {_short(a[k])} vs {_short(b[k])}")
    more = f"; +{len(diffs) - 3} more" if len(diffs) > 3 else ""
    return f"protocol of {metric} differs: " + "; ".join(diffs[:3]) + more


def _identity(run: Run, column: str) -> dict[str, Any]:
    """Everything that must match for two runs' values of ``column`` to be comparable."""
    m = run.results["metrics"][column]
    metric = m.get("metric") or column
    protocol = run.results["protocols"].get(metric)
    return {"metric": metric, "higher_is_better": m["higher_is_better"], "protocol": protocol}


def _labels(runs: list[Run]) -> dict[str, str]:
    """Display name per run id: the model spec, made unique with the seed and then the date."""
    spec = {r.run_id: r.results["model"]["spec"] for r in runs}
    counts = Counter(spec.values())
    labels = {}
    for r in runs:
        label = spec[r.run_id]
        if counts[label] > 1:
            label += f" (seed {r.results['seed']})"
        labels[r.run_id] = label
    counts = Counter(labels.values())
    for r in runs:
        if counts[labels[r.run_id]] > 1:
            labels[r.run_id] += f" {r.results['date']}"
    counts = Counter(labels.values())
    for r in runs:
        if counts[labels[r.run_id]] > 1:
            labels[r.run_id] += f" [{fingerprint(r.run_id)[:6]}]"
    return labels


def _pick_reference(groups: dict[str, list[Run]]) -> str:
    """The protocol fingerprint most runs share; ties go to the newest run's protocol."""
    return max(groups, key=lambda fp: (len(groups[fp]), max(r.results["date"] for r in groups[fp]), fp))


def _compare_adjacent(upper: Run, lower: Run, column: str, boot: BootstrapConfig) -> dict[str, Any]:
    from leaderboard.stats import paired_bootstrap

    a, b = upper.per_sample_scores(column), lower.per_sample_scores(column)
    if not a or not b:
        missing = upper if not a else lower
        return {"status": f"no per-sample scores for {column} in {missing.run_id}"}
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        return {"status": f"{len(shared)} shared (item_id, seed) pairs; the bootstrap needs 2"}
    res = paired_bootstrap([a[k] for k in shared], [b[k] for k in shared],
                           n_resamples=boot.n_resamples, confidence=boot.confidence, seed=boot.seed)
    return {"status": "ok", "diff": res.diff, "ci": list(res.ci), "n_shared": res.n, "tie": res.tie}


def _column(column: str, runs: list[Run], labels: dict[str, str], boot: BootstrapConfig) -> dict[str, Any]:
    from leaderboard.stats import competition_ranks

    groups: dict[str, list[Run]] = defaultdict(list)
    ident: dict[str, dict[str, Any]] = {}
    for r in runs:
        i = _identity(r, column)
        fp = fingerprint(i)
        groups[fp].append(r)
        ident[fp] = i
    ref_fp = _pick_reference(groups)
    ref = ident[ref_fp]
    ranked = groups[ref_fp]
    values = [r.results["metrics"][column]["value"] for r in ranked]
    ranks = competition_ranks(values, ref["higher_is_better"])
    order = sorted(range(len(ranked)), key=lambda i: (ranks[i] is None, ranks[i] or 0, labels[ranked[i].run_id]))
    rows = []
    prev: Run | None = None
    for i in order:
        r = ranked[i]
        m = r.results["metrics"][column]
        row = {
            "rank": ranks[i],
            "run_id": r.run_id,
            "label": labels[r.run_id],
            "model": r.results["model"]["spec"],
            "seed": r.results["seed"],
            "date": r.results["date"],
            "value": m["value"],
            "ci": m.get("ci"),
            "n": m["n"],
            "by_bucket": m.get("by_bucket") or {},
            "vs_prev": None,
        }
        if ranks[i] is not None and prev is not None:
            row["vs_prev"] = {"run_id": prev.run_id, **_compare_adjacent(prev, r, column, boot)}
        if ranks[i] is not None:
            prev = r
        rows.append(row)
    excluded = []
    for fp, members in sorted(groups.items()):
        if fp == ref_fp:
            continue
        reason = protocol_difference(ref["metric"], ident[fp], ref)
        for r in sorted(members, key=lambda r: labels[r.run_id]):
            m = r.results["metrics"][column]
            excluded.append({"run_id": r.run_id, "label": labels[r.run_id], "model": r.results["model"]["spec"],
                             "value": m["value"], "ci": m.get("ci"), "n": m["n"],
                             "protocol_fingerprint": fp, "reason": reason})
    return {
        "column": column,
        "id": slug(column),
        "metric": ref["metric"],
        "higher_is_better": ref["higher_is_better"],
        "protocol": ref["protocol"],
        "protocol_fingerprint": ref_fp,
        "protocol_summary": protocol_summary(ref["protocol"]),
        "rows": rows,
        "excluded": excluded,
    }


def _suite_reason(theirs: tuple[str, str, str], ours: tuple[str, str, str]) -> str:
    if theirs[1] != ours[1]:
        return f"suite version differs: {theirs[1]} vs {ours[1]}"
    return f"suite sha256 differs: {theirs[2][:12]} vs {ours[2][:12]}"


def build_table(runs: list[Run], boot: BootstrapConfig | None = None, generated: str | None = None) -> dict[str, Any]:
    """Group, rank and compare runs; the result is what ``leaderboard.json`` holds.

    Args:
        runs: loaded runs (see ``leaderboard.runs.load_runs``).
        boot: significance settings (defaults: 10,000 resamples, 95 %, seed 0).
        generated: timestamp to record (default: now, UTC).
    """
    from longbench import __version__

    boot = boot or BootstrapConfig()
    by_suite: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for r in runs:
        by_suite[r.suite_key].append(r)
    sections = []
    for key in sorted(by_suite):
        members = sorted(by_suite[key], key=lambda r: (r.results["date"], r.run_id))
        labels = _labels(members)
        columns: list[str] = list(dict.fromkeys(c for r in members for c in r.results["metrics"]))
        # With --limit a run may record fewer items; the suite itself has the largest count seen.
        n_items = max((r.results["suite"].get("n_items") for r in members
                       if isinstance(r.results["suite"].get("n_items"), int)), default=None)
        others = []
        for other_key, other_runs in sorted(by_suite.items()):
            if other_key != key and other_key[0] == key[0]:
                for r in sorted(other_runs, key=lambda r: r.run_id):
                    others.append({"run_id": r.run_id, "model": r.results["model"]["spec"],
                                   "suite_version": other_key[1], "suite_sha256": other_key[2],
                                   "reason": _suite_reason(other_key, key)})
        sections.append({
            "id": slug(f"{key[0]}-v{key[1]}") + "-" + key[2][:8],
            "suite": {"name": key[0], "version": key[1], "sha256": key[2], "n_items": n_items},
            "runs": [{"run_id": r.run_id, "label": labels[r.run_id], "model": r.results["model"]["spec"],
                      "model_args": r.results["model"].get("args"), "seed": r.results["seed"],
                      "date": r.results["date"], "n": r.results["n"], "limit": r.results.get("limit"),
                      "longbench_version": r.results["longbench_version"],
                      "has_samples": bool(r.samples())} for r in members],
            "columns": [_column(c, [r for r in members if c in r.results["metrics"]], labels, boot) for c in columns],
            "other_suite_runs": others,
        })
    return {
        "leaderboard_schema": LEADERBOARD_SCHEMA,
        "generated": generated or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "longbench_version": __version__,
        "significance": {**asdict(boot), "procedure": PROCEDURE},
        "sections": sections,
    }
