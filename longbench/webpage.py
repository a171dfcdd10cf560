"""Static HTML pages (the leaderboard's ``index.html`` and the run viewer's): one jinja2 setup with autoescape,
the package files they inline, and their Content-Security-Policy.

A page is self-contained: its CSS and JS are inlined, and the policy allows exactly those two blocks (by
their SHA-256) and images from the page's own folder, so even an escaping mistake could not run injected
script or fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any


def csp_hash(text: str) -> str:
    """The CSP source expression (``'sha256-…'``) that allows an inline ``<script>``/``<style>`` with this text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def page_csp(css: str, js: str, img_src: str = "'self'") -> str:
    """The policy of a page whose only style and script are ``css`` and ``js``, inlined verbatim."""
    return (f"default-src 'none'; img-src {img_src}; style-src {csp_hash(css)}; script-src {csp_hash(js)}; "
            "base-uri 'none'; form-action 'none'")


def package_text(package: str, name: str) -> str:
    """A text file shipped inside ``package`` (e.g. ``templates/index.html.j2``, ``static/viewer.css``)."""
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


def render_template(package: str, name: str, filters: Mapping[str, Callable[..., Any]] | None = None,
                    **context: Any) -> str:
    """Render ``package``'s template ``name`` with autoescape on.

    Every ``{{ value }}`` is HTML-escaped (quotes included, so values are safe inside attributes too) unless
    it is a ``markupsafe.Markup``; ``None`` renders as the empty string; an undefined name is an error (not
    silently empty); whitespace after a block tag is dropped so templates can be laid out for reading.
    """
    import jinja2

    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, finalize=_none_as_empty,
    )
    env.filters.update(filters or {})
    return env.from_string(package_text(package, name)).render(**context)
