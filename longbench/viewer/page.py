"""Rendering ``index.html``: a jinja2 template (autoescape on) with the package's CSS and JS inlined and
the page data embedded as JSON in a ``<script type="application/json">`` block.

Safety: every value in the HTML goes through autoescape; the JSON has ``<``, ``>`` and ``&`` written as
``\\u`` escapes (and is pure ASCII, so U+2028/U+2029 are escaped too), so no data can close the script
block; the JS builds the page with ``textContent`` and DOM properties only (never ``innerHTML``); and the
Content-Security-Policy allows only the page's own inline script and style (by hash) and images from its
own folder, so even an escaping mistake could not run injected script.
"""

from __future__ import annotations

import json
from typing import Any

PACKAGE = "longbench.viewer"
TEMPLATE = "templates/index.html.j2"
STATIC = ("static/viewer.css", "static/viewer.js")


def script_json(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (see module docstring)."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _text(x: Any) -> str:
    """A printable string (lone surrogates from a JSON file would not encode as UTF-8)."""
    return str(x).encode("utf-8", "replace").decode("utf-8")


def render_page(data: dict[str, Any]) -> str:
    """The complete ``index.html`` for the page data of ``longbench.viewer.data.build_data``."""
    from markupsafe import Markup

    from longbench.webpage import package_text, page_csp, render_template

    css, js = (package_text(PACKAGE, name) for name in STATIC)
    suite = data["suite"]
    return render_template(
        PACKAGE, TEMPLATE, csp=page_csp(css, js), css=Markup(css), js=Markup(js),
        data_json=Markup(script_json(data)), title=_text(data["title"]), suite_name=_text(suite["name"]), suite_version=_text(suite["version"]),
        suite_sha=_text(suite["sha256"]), n_items=suite["n_items"], seed=data["seed"], n_runs=len(data["runs"]),
        generated=data["generated"], version=data["longbench_version"], window=data["window"])
