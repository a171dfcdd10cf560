"""The static ``index.html``: one self-contained page (inline CSS and JS, nothing fetched at view time).

The page is the jinja2 template ``templates/index.html.j2`` rendered with autoescape on, so every value
taken from results files (model names and suite names are user input) is HTML-escaped by the template
engine; the CSS and JS are package files (``static/``) inlined verbatim. The page's Content-Security-Policy
only allows that script and style (by hash) and images from its own folder (``longbench.webpage``), so
even an escaping mistake could not run injected script.
"""

from __future__ import annotations

import json
from typing import Any

from leaderboard.render import fmt_ci, fmt_diff, fmt_value, significance_text

PACKAGE = "leaderboard"
TEMPLATE = "templates/index.html.j2"
CSS = "static/leaderboard.css"
JS = "static/leaderboard.js"


def _num_attr(v: Any) -> str:
    """A number for a ``data-sort`` attribute: full precision, empty when missing."""
    return "" if v is None else repr(float(v))


def _pretty_json(x: Any) -> str:
    return json.dumps(x, indent=2, sort_keys=True)


def overview_rows(sec: dict[str, Any]) -> list[dict[str, Any]]:
    """The overview table of a section: one row per run, one cell per column.

    Rows start in the order of the first column's ranking; runs outside it follow in date order. A cell
    is ``ranked`` (value and interval), ``excluded`` (not comparable, with the reason) or ``missing``.
    """
    first_order = [r["run_id"] for r in sec["columns"][0]["rows"]] if sec["columns"] else []
    runs = sorted(sec["runs"], key=lambda r: first_order.index(r["run_id"]) if r["run_id"] in first_order
                  else len(first_order))
    lookups = [({r["run_id"]: r for r in col["rows"]}, {e["run_id"]: e for e in col["excluded"]})
               for col in sec["columns"]]
    rows = []
    for run in runs:
        cells = []
        for ranked, excluded in lookups:
            rid = run["run_id"]
            if rid in ranked:
                cells.append({"kind": "ranked", "value": ranked[rid]["value"], "ci": ranked[rid]["ci"]})
            elif rid in excluded:
                cells.append({"kind": "excluded", "reason": excluded[rid]["reason"]})
            else:
                cells.append({"kind": "missing"})
        rows.append({"run": run, "cells": cells})
    return rows


def to_html(table: dict[str, Any], title: str = "longbench leaderboard", viewers: dict[str, str] | None = None) -> str:
    """Render the leaderboard table as one static HTML page.

    Args:
        viewers: ``run_id`` → URL of an image viewer of that run (``longbench.viewer.viewer_links``); the
            model name of each such row links to it.
    """
    from markupsafe import Markup

    from longbench.webpage import package_text, page_csp, render_template

    css, js = package_text(PACKAGE, CSS), package_text(PACKAGE, JS)
    sig = table["significance"]
    filters = {"fmt_value": fmt_value, "fmt_ci": fmt_ci, "fmt_diff": fmt_diff, "num_attr": _num_attr,
               "significance_text": significance_text, "pretty_json": _pretty_json}
    return render_template(
        PACKAGE, TEMPLATE, filters, table=table, sig=sig, conf=f"{sig['confidence'] * 100:g}%", title=title,
        viewers=viewers or {}, overview_rows=[overview_rows(sec) for sec in table["sections"]],
        csp=page_csp(css, js, img_src="'self' data:"), css=Markup(css), js=Markup(js))
