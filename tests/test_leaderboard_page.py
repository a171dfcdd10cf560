"""The leaderboard's index.html read back with ``html.parser``: hostile values (model spec, suite name and
version, column name, protocol values, title, viewer link) come back as the exact text or attribute value
they were, with no element, attribute or script added; the page's only script and style are the package
files, allowed by their CSP hashes (computed here); its tables list the runs and values of leaderboard.json.
leaderboard.md rendered by a CommonMark parser (markdown-it-py, installed with rich) shows the same values
as text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

import leaderboard
from leaderboard.build import build_leaderboard
from leaderboard.page import to_html
from leaderboard.table import BootstrapConfig
from tests.helpers_leaderboard import DENSCORE_PROTOCOL, OTHER_SHA, SUITE_SHA, make_run

EVIL_MODEL = (
    '<script>window.x=1</script>"onerror="alert(1)" x=\'y\' </style></td></tr>{{ 7*7 }}{% raw %}&amp;'
)
EVIL_OTHER = "<img src=x onerror=alert(2)>{{ config }}"
EVIL_SUITE = "</style><svg onload=alert(3)>{{ self }}"
EVIL_VERSION = '1"><b>'
EVIL_COLUMN = 'den<script>alert(4)</script>"onmouseover="x{{ 1+1 }}'
EVIL_PROTOCOL = {**DENSCORE_PROTOCOL, "resize": "</pre></details><script>alert(5)</script>{{ 2*3 }}"}
EVIL_TITLE = "</title><script>alert(6)</script>{{ title }}"
EVIL_HREF = '../v/index.html#t=0" onclick="alert(7)'

VOID = {"meta", "img", "br", "hr", "input", "link"}
TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "nav", "a",
        "code", "main", "section", "span", "div", "table", "thead", "tbody", "tr", "th", "td", "details",
        "summary", "pre", "ul", "li", "figure", "img", "figcaption", "script"}
ATTRS = {"lang", "charset", "http-equiv", "content", "name", "href", "role", "class", "id", "title", "src",
         "alt", "data-target", "data-type", "data-first", "data-sort", "data-run-id"}


@dataclass
class El:
    tag: str
    attrs: dict[str, str | None]
    children: list[El | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def own_text(self) -> str:
        return "".join(c for c in self.children if isinstance(c, str))

    def iter(self, tag: str | None = None, cls: str | None = None):
        for c in self.children:
            if isinstance(c, El):
                if (tag is None or c.tag == tag) and (
                    cls is None or cls in (c.attrs.get("class") or "").split()
                ):
                    yield c
                yield from c.iter(tag, cls)


class Tree(HTMLParser):
    """Parses a document into ``El``s, failing on any end tag that does not close the open element (an
    injected ``</td>`` or ``</style>`` would)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.root = El("#document", {})
        self._open = [self.root]
        self.attrs: list[tuple[str, str, str | None]] = []
        self.comments: list[str] = []
        self.feed(text)
        self.close()
        assert self._open == [self.root], f"unclosed elements: {[e.tag for e in self._open[1:]]}"

    def handle_starttag(self, tag, attrs):
        el = El(tag, dict(attrs))
        assert len(el.attrs) == len(attrs), f"duplicate attribute in <{tag}>: {attrs}"
        self.attrs += [(tag, k, v) for k, v in attrs]
        self._open[-1].children.append(el)
        if tag not in VOID:
            self._open.append(el)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._open.pop()

    def handle_endtag(self, tag):
        assert self._open[-1].tag == tag, f"</{tag}> while <{self._open[-1].tag}> is open"
        self._open.pop()

    def handle_data(self, data):
        self._open[-1].children.append(data)

    def handle_comment(self, data):
        self.comments.append(data)


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    runs = root / "runs"
    col = {"higher_is_better": {EVIL_COLUMN: True}, "metric_of": {EVIL_COLUMN: "denscore"}}
    for name, model, scores, protocol, sha in [
        ("evil", EVIL_MODEL, [3.0, 2.5, 2.0, 3.5], EVIL_PROTOCOL, SUITE_SHA),
        ("plain", "m-plain", [1.0, 1.5, 0.5, 1.25], EVIL_PROTOCOL, SUITE_SHA),
        ("plain2", "m-plain2", [2.0, 1.0, 0.5, 1.0], EVIL_PROTOCOL, SUITE_SHA),
        # another protocol: listed as not comparable; another sha256 of the same suite name: listed apart
        ("proto", EVIL_OTHER, [9.0, 9.0, 9.0, 9.0], DENSCORE_PROTOCOL, SUITE_SHA),
        ("edited", EVIL_OTHER, [1.0, 1.0, 1.0, 1.0], EVIL_PROTOCOL, OTHER_SHA),
    ]:
        make_run(runs / name, model, {EVIL_COLUMN: scores}, suite=(EVIL_SUITE, EVIL_VERSION, sha),
                 protocols={"denscore": protocol}, **col)
    out = root / "lb"
    table = build_leaderboard([runs], out, BootstrapConfig(n_resamples=100), title=EVIL_TITLE, plots=True)
    evil_id = next(r["run_id"] for sec in table["sections"] for r in sec["runs"] if r["model"] == EVIL_MODEL)
    with_link = to_html(table, EVIL_TITLE, {evil_id: EVIL_HREF})
    return table, out, with_link, evil_id


def test_hostile_values_are_text_and_nothing_is_injected(built):
    table, out, with_link, evil_id = built
    for html, link in (((out / "index.html").read_text(encoding="utf-8"), ""), (with_link, " images")):
        tree = Tree(html)
        doc = tree.root
        assert {el.tag for el in doc.iter()} <= TAGS
        assert {k for _, k, _ in tree.attrs} <= ATTRS  # no on* handler or anything else
        assert not tree.comments
        assert [s.attrs for s in doc.iter("script")] == [{}] and len(list(doc.iter("style"))) == 1
        assert next(doc.iter("title")).text() == EVIL_TITLE and next(doc.iter("h1")).text() == EVIL_TITLE
        sections = list(doc.iter("section"))
        assert [s.attrs["id"] for s in sections] == [sec["id"] for sec in table["sections"]]
        h2 = [next(s.iter("h2")).text() for s in sections]
        assert h2 == [f"{EVIL_SUITE} v{EVIL_VERSION}", f"{EVIL_SUITE} v{EVIL_VERSION}"]
        assert [a.text() for a in doc.iter("a") if a.attrs.get("role") == "tab"] == [
            f"{EVIL_SUITE} v{EVIL_VERSION} {sec['suite']['sha256'][:8]}" for sec in table["sections"]
        ]
        models = [td.text() for td in doc.iter("td", "model")]
        assert models.count(EVIL_MODEL + link) == 2  # overview + ranking of the one column
        assert f"{EVIL_COLUMN} ↑" in [th.text() for th in doc.iter("th")]
        assert any(h3.text().startswith(EVIL_COLUMN + " (higher is better") for h3 in doc.iter("h3"))
        assert EVIL_OTHER in [s.text() for s in doc.iter("span", "model")]  # not comparable + other sha256
        assert json.loads(next(doc.iter("pre")).text()) == EVIL_PROTOCOL
        alts = [img.attrs["alt"] for img in doc.iter("img")]
        assert alts and all(a.startswith(EVIL_COLUMN + " ") for a in alts)
    links = list(Tree(with_link).root.iter("a", "viewer"))
    assert [(a.attrs, a.text()) for a in links] == [
        ({"class": "viewer", "href": EVIL_HREF, "title": "images and per-sentence scores"}, "images")
    ] * 2
    rows = [tr for tr in Tree(with_link).root.iter("tr") if tr.attrs.get("data-run-id") == evil_id]
    assert len(rows) == 2 and all(list(tr.iter("a", "viewer")) for tr in rows)


def test_inline_script_and_style_are_the_package_files_allowed_by_hash(built):
    _, out, _, _ = built
    doc = Tree((out / "index.html").read_text(encoding="utf-8")).root
    static = Path(leaderboard.__file__).parent / "static"
    js, css = (static / "leaderboard.js").read_text("utf-8"), (static / "leaderboard.css").read_text("utf-8")
    assert next(doc.iter("script")).text() == js and next(doc.iter("style")).text() == css
    csp = next(m for m in doc.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy").attrs[
        "content"
    ]
    policy = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert policy == {
        "default-src": ["'none'"],
        "img-src": ["'self'", "data:"],
        "style-src": [_sha256_source(css)],
        "script-src": [_sha256_source(js)],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
    }


def test_tables_list_the_runs_and_values_of_the_json(built):
    table, out, _, _ = built
    doc = Tree((out / "index.html").read_text(encoding="utf-8")).root
    for sec in table["sections"]:
        overview = next(t for t in doc.iter("table") if t.attrs["id"] == f"{sec['id']}-overview")
        assert sorted(
            tr.attrs["data-run-id"] for tr in overview.iter("tr") if "data-run-id" in tr.attrs
        ) == sorted(r["run_id"] for r in sec["runs"])
        for col in sec["columns"]:
            ranking = next(t for t in doc.iter("table") if t.attrs["id"] == f"{sec['id']}-{col['id']}")
            rows = [tr for tr in ranking.iter("tr") if "data-run-id" in tr.attrs]
            assert [tr.attrs["data-run-id"] for tr in rows] == [r["run_id"] for r in col["rows"]]
            for tr, r in zip(rows, col["rows"]):
                cells = list(tr.iter("td"))
                assert cells[0].text() == str(r["rank"])
                assert cells[2].attrs["data-sort"] == repr(float(r["value"]))
                assert cells[2].own_text() == f"{r['value']:.5g} "
    # the one comparison of the evil column: evil (2.75) above plain2 (1.125) above plain (1.0625)
    col = table["sections"][0]["columns"][0]
    assert [r["label"] for r in col["rows"]] == [EVIL_MODEL, "m-plain2", "m-plain"]


def test_markdown_renders_hostile_values_as_text(built):
    from markdown_it import MarkdownIt

    _, out, _, _ = built
    html = (
        MarkdownIt("commonmark").enable("table").render((out / "leaderboard.md").read_text(encoding="utf-8"))
    )
    tree = Tree(html)
    doc = tree.root
    assert {el.tag for el in doc.iter()} <= {
        "h1",
        "h2",
        "h3",
        "p",
        "code",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "ul",
        "li",
    }
    assert {k for _, k, _ in tree.attrs} <= {"style"}  # markdown-it aligns table columns with style=
    assert next(doc.iter("h1")).text() == EVIL_TITLE
    assert [h.text() for h in doc.iter("h2")] == [f"{EVIL_SUITE} v{EVIL_VERSION}"] * 2
    assert EVIL_MODEL in [td.text() for td in doc.iter("td")]
    assert any(h.text().startswith(EVIL_COLUMN + " (higher is better)") for h in doc.iter("h3"))
    assert any(li.text().startswith(EVIL_OTHER + " ") for li in doc.iter("li"))
