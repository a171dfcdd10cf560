"""Text renderings of the leaderboard table (see ``leaderboard.table``): Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from longbench.results import dumps

CSV_FIELDS = (
    "suite", "suite_version", "suite_sha256", "column", "metric", "higher_is_better", "protocol_fingerprint",
    "comparable", "reason", "rank", "model", "label", "run_id", "seed", "date", "n", "value", "ci_lo", "ci_hi",
    "diff_vs_above", "diff_ci_lo", "diff_ci_hi", "n_shared", "tie_with_above", "significance",
)


def fmt_value(v: Any) -> str:
    """A metric value for people: 5 significant digits, '—' when missing."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.5g}"


def fmt_ci(ci: Any) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "—"
    return f"[{fmt_value(ci[0])}, {fmt_value(ci[1])}]"


def fmt_diff(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:+.4g}"


def significance_text(vs_prev: dict[str, Any] | None) -> str:
    """Short verdict of the comparison with the row above: 'tie', 'significant', or why it is missing."""
    if vs_prev is None:
        return ""
    if vs_prev.get("status") != "ok":
        return f"n/a: {vs_prev.get('status')}"
    return "tie" if vs_prev["tie"] else "significant"


# CommonMark lets any ASCII punctuation be backslash-escaped, and an escaped character is always literal: an
# escaped "<" or "&" cannot start raw HTML, an autolink or an entity, an escaped "|" cannot end a GFM table cell.
_MD_LITERAL = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]|#<>&"})


def md_escape(text: Any) -> str:
    """Markdown (CommonMark/GFM) text that renders as ``text`` itself, on one line, inside a table cell too:
    no table breaks, links, emphasis or raw HTML."""
    return str(text).replace("\r", " ").replace("\n", " ").translate(_MD_LITERAL)


def _direction(col: dict[str, Any]) -> str:
    return "higher is better" if col["higher_is_better"] else "lower is better"


def to_markdown(table: dict[str, Any], title: str = "longbench leaderboard") -> str:
    """The whole leaderboard as GitHub-flavoured Markdown."""
    sig = table["significance"]
    conf = f"{sig['confidence'] * 100:g}%"
    out = [
        f"# {md_escape(title)}",
        "",
        (f"Generated {md_escape(table['generated'])} by longbench {md_escape(table['longbench_version'])}. "
         f"Significance: {md_escape(sig['procedure'])} ({sig['n_resamples']} resamples, {conf} interval, "
         f"seed {sig['seed']}). Δ is the run above minus this run."),
    ]
    for sec in table["sections"]:
        s = sec["suite"]
        out += ["", f"## {md_escape(s['name'])} v{md_escape(s['version'])}", "",
                (f"suite sha256 `{s['sha256']}` · {s['n_items'] if s['n_items'] is not None else '?'} items · "
                 f"{len(sec['runs'])} runs")]
        for col in sec["columns"]:
            out += ["", f"### {md_escape(col['column'])} ({_direction(col)})", "",
                    f"Protocol `{col['protocol_fingerprint']}`: {md_escape(col['protocol_summary'])}", "",
                    f"| Rank | Model | Value | {conf} CI | n | Date | Δ to above [{conf} CI] | vs above |",
                    "|---:|---|---:|---|---:|---|---|---|"]
            for row in col["rows"]:
                vp = row["vs_prev"]
                delta = ""
                if vp and vp.get("status") == "ok":
                    delta = f"{fmt_diff(vp['diff'])} {fmt_ci(vp['ci'])} (n={vp['n_shared']})"
                out.append(
                    f"| {row['rank'] if row['rank'] is not None else '—'} | {md_escape(row['label'])} | "
                    f"{fmt_value(row['value'])} | {fmt_ci(row['ci'])} | {row['n']} | {md_escape(row['date'])} | "
                    f"{delta} | {md_escape(significance_text(vp))} |")
            if col["excluded"]:
                out += ["", "Not ranked with these runs:", ""]
                out += [f"- {md_escape(e['label'])} ({fmt_value(e['value'])}): {md_escape(e['reason'])}"
                        for e in col["excluded"]]
        if sec["other_suite_runs"]:
            out += ["", "Runs of this suite name not ranked here:", ""]
            out += [f"- {md_escape(o['model'])} ({md_escape(o['run_id'])}): {md_escape(o['reason'])}"
                    for o in sec["other_suite_runs"]]
    return "\n".join(out) + "\n"


def _csv_text(v: Any) -> Any:
    """Neutralise spreadsheet formulas in free-text cells (model names are user input)."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def csv_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (suite, column, run), ranked runs first, then the runs excluded from that ranking."""
    rows = []
    for sec in table["sections"]:
        s = sec["suite"]
        for col in sec["columns"]:
            base = {"suite": s["name"], "suite_version": s["version"], "suite_sha256": s["sha256"],
                    "column": col["column"], "metric": col["metric"], "higher_is_better": col["higher_is_better"]}
            for r in col["rows"]:
                vp = r["vs_prev"] or {}
                ok = vp.get("status") == "ok"
                rows.append({**base, "protocol_fingerprint": col["protocol_fingerprint"], "comparable": True,
                             "reason": "", "rank": r["rank"], "model": r["model"], "label": r["label"],
                             "run_id": r["run_id"], "seed": r["seed"], "date": r["date"], "n": r["n"],
                             "value": r["value"], "ci_lo": (r["ci"] or [None, None])[0],
                             "ci_hi": (r["ci"] or [None, None])[1],
                             "diff_vs_above": vp.get("diff") if ok else None,
                             "diff_ci_lo": vp["ci"][0] if ok else None, "diff_ci_hi": vp["ci"][1] if ok else None,
                             "n_shared": vp.get("n_shared") if ok else None,
                             "tie_with_above": vp.get("tie") if ok else None,
                             "significance": significance_text(r["vs_prev"])})
            for e in col["excluded"]:
                rows.append({**base, "protocol_fingerprint": e["protocol_fingerprint"], "comparable": False,
                             "reason": e["reason"], "model": e["model"], "label": e["label"],
                             "run_id": e["run_id"], "n": e["n"], "value": e["value"],
                             "ci_lo": (e["ci"] or [None, None])[0], "ci_hi": (e["ci"] or [None, None])[1]})
    return rows


def to_csv(table: dict[str, Any]) -> str:
    """CSV with the columns of ``CSV_FIELDS``; numbers at full precision, empty cells for missing values."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for row in csv_rows(table):
        w.writerow({k: ("" if row.get(k) is None else _csv_text(row.get(k))) for k in CSV_FIELDS})
    return buf.getvalue()


def to_json(table: dict[str, Any]) -> str:
    return dumps(table)
