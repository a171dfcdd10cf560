"""The static ``index.html``: one self-contained page (inline CSS and JS, nothing fetched at view time).

Every value taken from results files goes through ``html.escape`` (model names are user input); the
page's Content-Security-Policy only allows the page's own inline script and style (by hash) and
images from its own folder, so even an escaping mistake could not run injected script.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any

from leaderboard.render import fmt_ci, fmt_diff, fmt_value, significance_text

CSS = """
:root { --fg: #1b1f24; --muted: #5b6570; --line: #d7dce1; --bg: #ffffff; --head: #f3f5f7; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 1200px; }
h1 { font-size: 1.5rem; margin: 0.5rem 0; }
h2 { font-size: 1.25rem; margin: 1.5rem 0 0.25rem; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 0.25rem; }
.meta, .muted { color: var(--muted); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
nav.tabs { display: flex; flex-wrap: wrap; gap: 0.25rem; border-bottom: 1px solid var(--line); margin: 1rem 0; }
nav.tabs a { padding: 0.4rem 0.8rem; border: 1px solid var(--line); border-bottom: none;
             border-radius: 6px 6px 0 0; text-decoration: none; color: var(--accent); background: var(--head); }
nav.tabs a[aria-selected="true"] { background: var(--bg); color: var(--fg); font-weight: 600; }
body.js section.suite { display: none; }
body.js section.suite.active { display: block; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0; min-width: 50%; }
th, td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: var(--head); white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: var(--muted); font-size: 0.8em; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; color: var(--fg); }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; color: var(--fg); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ci { color: var(--muted); font-size: 0.9em; }
.tie { color: #8a5a00; font-weight: 600; }
.sig { color: #1a7f37; }
.nc { color: var(--muted); font-style: italic; }
.model { word-break: break-word; min-width: 9rem; max-width: 28rem; }
a.viewer { font-size: 0.85em; white-space: nowrap; color: var(--accent); }
details { margin: 0.25rem 0; }
pre { background: var(--head); padding: 0.5rem; overflow-x: auto; font-size: 12px; }
figure { display: inline-block; vertical-align: top; margin: 0.5rem 1rem 0.5rem 0; }
td.date { white-space: nowrap; }
figure img { max-width: 560px; width: 100%; border: 1px solid var(--line); }
ul.reasons li { margin: 0.15rem 0; }
"""

JS = """
(function () {
  "use strict";
  function sortKey(cell, type) {
    var v = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    if (type === "num") {
      var x = parseFloat(v);
      return (v === "" || isNaN(x)) ? null : x;
    }
    return v.toLowerCase();
  }
  function sortTable(th) {
    var row = th.parentNode, table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(row.children, th);
    var type = th.getAttribute("data-type") || "text";
    var current = th.getAttribute("aria-sort");
    var dir;
    if (current) { dir = current === "ascending" ? "descending" : "ascending"; }
    else { dir = th.getAttribute("data-first") || "ascending"; }
    var rows = Array.prototype.slice.call(body.rows).map(function (r, i) {
      return { row: r, i: i, k: sortKey(r.cells[col], type) };
    });
    rows.sort(function (a, b) {
      if (a.k === null || b.k === null) {
        if (a.k === b.k) { return a.i - b.i; }
        return a.k === null ? 1 : -1;   /* missing values always last */
      }
      var c = a.k < b.k ? -1 : (a.k > b.k ? 1 : 0);
      return (dir === "ascending" ? c : -c) || (a.i - b.i);
    });
    Array.prototype.forEach.call(row.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    rows.forEach(function (r) { body.appendChild(r.row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable thead th"), function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortTable(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(th); }
    });
  });
  var tabs = document.querySelectorAll("nav.tabs a");
  function show(id) {
    var found = false;
    Array.prototype.forEach.call(document.querySelectorAll("section.suite"), function (s) {
      var on = s.id === id; found = found || on; s.classList.toggle("active", on);
    });
    Array.prototype.forEach.call(tabs, function (t) {
      t.setAttribute("aria-selected", t.getAttribute("data-target") === id ? "true" : "false");
    });
    return found;
  }
  Array.prototype.forEach.call(tabs, function (t) {
    t.addEventListener("click", function (e) {
      e.preventDefault();
      var id = t.getAttribute("data-target");
      if (show(id) && history.replaceState) { history.replaceState(null, "", "#" + id); }
    });
  });
  if (tabs.length) {
    document.body.classList.add("js");
    var wanted = decodeURIComponent(location.hash.slice(1));
    if (!show(wanted)) { show(tabs[0].getAttribute("data-target")); }
  }
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _e(x: Any) -> str:
    """HTML-escape any value (quotes included, so it is also safe inside attribute values)."""
    return escape("" if x is None else str(x), quote=True)


def _num_attr(v: Any) -> str:
    return "" if v is None else repr(float(v))


def _value_cell(value: Any, ci: Any) -> str:
    ci_html = f' <span class="ci">{_e(fmt_ci(ci))}</span>' if ci else ""
    return (f'<td class="num" data-sort="{_e(_num_attr(value))}" title="{_e(value)}">'
            f"{_e(fmt_value(value))}{ci_html}</td>")


def _th(label: str, typ: str = "text", first: str | None = None, title: str | None = None) -> str:
    attrs = f' data-type="{typ}"'
    if first:
        attrs += f' data-first="{first}"'
    if title:
        attrs += f' title="{_e(title)}"'
    return f"<th{attrs}>{_e(label)}</th>"


def _arrow(col: dict[str, Any]) -> str:
    return "↑" if col["higher_is_better"] else "↓"


def _model_cell(label: str, run_id: str, viewers: dict[str, str] | None) -> str:
    """The model name, with a link to the run's image viewer when one was given (``--viewer``)."""
    href = (viewers or {}).get(run_id)
    link = f' <a class="viewer" href="{_e(href)}" title="images and per-sentence scores">images</a>' if href else ""
    return f'<td class="model">{_e(label)}{link}</td>'


def _overview(sec: dict[str, Any], viewers: dict[str, str] | None = None) -> str:
    """All runs of a suite, one column per metric (values of runs outside a column's ranking hidden)."""
    heads = [_th("Model"), _th("Seed", "num"), _th("Date"), _th("n", "num")]
    for col in sec["columns"]:
        first = "descending" if col["higher_is_better"] else "ascending"
        heads.append(_th(f"{col['column']} {_arrow(col)}", "num", first,
                         f"{col['column']}: {'higher' if col['higher_is_better'] else 'lower'} is better"))
    body = []
    # Rows start in the order of the first column's ranking; runs outside it follow in date order.
    first_order = [r["run_id"] for r in sec["columns"][0]["rows"]] if sec["columns"] else []
    runs = sorted(sec["runs"], key=lambda r: first_order.index(r["run_id"]) if r["run_id"] in first_order
                  else len(first_order))
    for run in runs:
        cells = [_model_cell(run["label"], run["run_id"], viewers), f'<td class="num">{_e(run["seed"])}</td>',
                 f'<td class="date">{_e(run["date"])}</td>', f'<td class="num">{_e(run["n"])}</td>']
        for col in sec["columns"]:
            ranked = {r["run_id"]: r for r in col["rows"]}
            excluded = {e["run_id"]: e for e in col["excluded"]}
            if run["run_id"] in ranked:
                r = ranked[run["run_id"]]
                cells.append(_value_cell(r["value"], r["ci"]))
            elif run["run_id"] in excluded:
                cells.append(f'<td class="num nc" data-sort="" title="{_e(excluded[run["run_id"]]["reason"])}">'
                             "not comparable</td>")
            else:
                cells.append('<td class="num nc" data-sort="">—</td>')
        body.append(f'<tr data-run-id="{_e(run["run_id"])}">' + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="sortable overview" id="{_e(sec["id"])}-overview">'
            f"<thead><tr>{''.join(heads)}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _ranking(sec: dict[str, Any], col: dict[str, Any], conf: str, viewers: dict[str, str] | None = None) -> str:
    first = "descending" if col["higher_is_better"] else "ascending"
    heads = [_th("Rank", "num"), _th("Model"), _th(f"{col['column']} {_arrow(col)}", "num", first),
             _th("n", "num"), _th("Date"), _th(f"Δ to above [{conf} CI]", "num", title="run above minus this run"),
             _th("vs above")]
    body = []
    for r in col["rows"]:
        vp = r["vs_prev"]
        if vp and vp.get("status") == "ok":
            delta = (f'<td class="num" data-sort="{_e(_num_attr(vp["diff"]))}">{_e(fmt_diff(vp["diff"]))} '
                     f'<span class="ci">{_e(fmt_ci(vp["ci"]))} n={_e(vp["n_shared"])}</span></td>')
        else:
            delta = '<td class="num" data-sort=""></td>'
        verdict = significance_text(vp)
        cls = "tie" if verdict == "tie" else ("sig" if verdict == "significant" else "muted")
        body.append(
            f'<tr data-run-id="{_e(r["run_id"])}"><td class="num" data-sort="{_e(r["rank"] or "")}">'
            f'{_e(r["rank"] if r["rank"] is not None else "—")}</td>{_model_cell(r["label"], r["run_id"], viewers)}'
            f'{_value_cell(r["value"], r["ci"])}<td class="num">{_e(r["n"])}</td><td class="date">{_e(r["date"])}</td>'
            f'{delta}<td class="{cls}">{_e(verdict)}</td></tr>')
    return (f'<div class="scroll"><table class="sortable ranking" id="{_e(sec["id"])}-{_e(col["id"])}">'
            f"<thead><tr>{''.join(heads)}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _column_block(sec: dict[str, Any], col: dict[str, Any], conf: str, viewers: dict[str, str] | None = None) -> str:
    parts = [
        (f'<h3 id="{_e(sec["id"])}-{_e(col["id"])}-h">{_e(col["column"])} <span class="muted">'
         f'({"higher" if col["higher_is_better"] else "lower"} is better; metric {_e(col["metric"])})</span></h3>'),
        f'<p class="protocol">Protocol <code>{_e(col["protocol_fingerprint"])}</code>: {_e(col["protocol_summary"])}</p>',
        (f"<details><summary>Protocol details</summary><pre>{_e(json.dumps(col['protocol'], indent=2, sort_keys=True))}"
         "</pre></details>"),
        _ranking(sec, col, conf, viewers),
    ]
    if col["excluded"]:
        items = "".join(f'<li><span class="model">{_e(e["label"])}</span> ({_e(fmt_value(e["value"]))}): '
                        f'{_e(e["reason"])}</li>' for e in col["excluded"])
        parts.append(f'<p>Not ranked with these runs:</p><ul class="reasons">{items}</ul>')
    figs = []
    for kind, caption in (("bars", "with confidence intervals"), ("by_bucket", "by prompt length (CLIP tokens)")):
        src = (col.get("plots") or {}).get(kind)
        if src:
            figs.append(f'<figure><img src="{_e(src)}" alt="{_e(col["column"])} {caption}">'
                        f"<figcaption>{_e(col['column'])} {caption}</figcaption></figure>")
    if figs:
        parts.append('<div class="plots">' + "".join(figs) + "</div>")
    return "\n".join(parts)


def _section(sec: dict[str, Any], conf: str, viewers: dict[str, str] | None = None) -> str:
    s = sec["suite"]
    parts = [
        f'<section class="suite" id="{_e(sec["id"])}">',
        f"<h2>{_e(s['name'])} <span class=\"muted\">v{_e(s['version'])}</span></h2>",
        (f'<p class="meta">suite sha256 <code>{_e(s["sha256"])}</code> · '
         f'{_e(s["n_items"] if s["n_items"] is not None else "?")} items · {len(sec["runs"])} runs</p>'),
        "<h3>Overview</h3>",
        _overview(sec, viewers),
    ]
    parts += [_column_block(sec, col, conf, viewers) for col in sec["columns"]]
    if sec["other_suite_runs"]:
        items = "".join(f'<li><span class="model">{_e(o["model"])}</span> <code>{_e(o["run_id"])}</code>: '
                        f'{_e(o["reason"])}</li>' for o in sec["other_suite_runs"])
        parts.append(f'<h3>Runs of this suite name not ranked here</h3><ul class="reasons">{items}</ul>')
    parts.append("</section>")
    return "\n".join(parts)


def to_html(table: dict[str, Any], title: str = "longbench leaderboard", viewers: dict[str, str] | None = None) -> str:
    """Render the leaderboard table as one static HTML page.

    Args:
        viewers: ``run_id`` → URL of an image viewer of that run (``longbench.viewer.viewer_links``); the
            model name of each such row links to it.
    """
    sig = table["significance"]
    conf = f"{sig['confidence'] * 100:g}%"
    csp = (f"default-src 'none'; img-src 'self' data:; style-src {_csp_hash(CSS)}; script-src {_csp_hash(JS)}; "
           "base-uri 'none'; form-action 'none'")
    tabs = "".join(
        f'<a href="#{_e(sec["id"])}" data-target="{_e(sec["id"])}" role="tab">{_e(sec["suite"]["name"])} '
        f'v{_e(sec["suite"]["version"])} <code>{_e(sec["suite"]["sha256"][:8])}</code></a>'
        for sec in table["sections"])
    sections = "\n".join(_section(sec, conf, viewers) for sec in table["sections"])
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{_e(title)}</h1>
<p class="meta">Generated {_e(table["generated"])} by longbench {_e(table["longbench_version"])}.
Significance: {_e(sig["procedure"])} ({_e(sig["n_resamples"])} resamples, {_e(conf)} interval, seed {_e(sig["seed"])}).
Values are shown with their {_e(conf)} bootstrap confidence intervals; only runs with the same suite sha256 and metric
protocol are ranked together. Click a column header to sort.</p>
</header>
<nav class="tabs" role="tablist">{tabs}</nav>
<main>
{sections}
</main>
<script>{JS}</script>
</body>
</html>
"""
