"""index.html in a real headless Chromium, driven over the DevTools protocol on a pipe (stdlib only).

Checks that the tables render, that clicking a header sorts, that hostile model/suite names show as
text without running script, and that the page loads nothing from the network. The browser client is
``tests.helpers_browser`` (it skips, saying why, when Chromium is not installed).
"""

from __future__ import annotations

import json

import pytest

from leaderboard.build import build_leaderboard
from leaderboard.table import BootstrapConfig
from tests.helpers_browser import Browser, Page, chromium
from tests.helpers_leaderboard import make_run

EVIL_MODEL = '<script>window.__pwned=1</script>"onmouseover="window.__pwned=2" x="'
EVIL_SUITE = "<img src=x onerror=window.__pwned=3>"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    exe = chromium()
    root = tmp_path_factory.mktemp("browser")
    runs = root / "runs"
    scores = {"m-low": 1.0, "m-high": 3.0, "m-mid": 2.0, EVIL_MODEL: 2.5}
    for i, (model, v) in enumerate(scores.items()):
        make_run(runs / f"r{i}", model, {"denscore": [v, v + 0.5, v - 0.5, v + 0.25],
                                         "count_acc": [0.1 * i, 0.2, 0.3, 0.4]})
    make_run(runs / "other", "m-other", {"denscore": [1.0, 2.0, 3.0, 4.0]}, suite=(EVIL_SUITE, "9", "d" * 64))
    out = root / "lb"
    build_leaderboard([runs], out, BootstrapConfig(n_resamples=200), plots=True)
    browser = Browser(exe, root / "profile")
    try:
        p = Page(browser, (out / "index.html").as_uri())
        p.js("Promise.race([Promise.all(Array.from(document.images).map(function (i) {"
             " return i.decode().catch(function () { return null; }); })),"
             " new Promise(function (ok) { setTimeout(ok, 10000); })])")
        yield p
    finally:
        browser.close()


def _column(page: Page, table_sel: str, col: int) -> list[str]:
    return page.js(f"Array.from(document.querySelectorAll({json.dumps(table_sel)} + ' tbody tr'))"
                   f".map(function (r) {{ return r.cells[{col}].textContent; }})")


def _show_main_suite(page: Page) -> str:
    """Click the tab of the longbench-v1 section and return its element id."""
    sid = page.js("Array.from(document.querySelectorAll('section.suite')).find(function (s) {"
                  " return s.querySelector('h2').textContent.indexOf('longbench-v1') === 0; }).id")
    page.js(f"document.querySelector('nav.tabs a[data-target=\"{sid}\"]').click()")
    return sid


def test_tables_render(page):
    assert page.js("document.querySelectorAll('section.suite').length") == 2
    sid = _show_main_suite(page)
    assert page.js("document.querySelector('section.suite.active').id") == sid
    assert page.js(f"document.querySelectorAll('#{sid} table.ranking').length") == 2  # denscore, count_acc
    first = page.js(f"document.querySelector('#{sid} table.ranking').id")
    assert _column(page, "#" + first, 1) == ["m-high", EVIL_MODEL, "m-mid", "m-low"]
    assert _column(page, "#" + first, 0) == ["1", "2", "3", "4"]
    # only the active tab is displayed
    visible = page.js("Array.from(document.querySelectorAll('section.suite'))"
                      ".filter(function (s) { return s.offsetParent !== null; }).map(function (s) { return s.id; })")
    assert visible == [sid]
    # every plot image decoded, from the local folder only
    assert page.js("document.images.length") == 6  # bars + by-bucket for 2 columns + 1 column of the other suite
    assert page.js("Array.from(document.images).every(function (i) { return i.naturalWidth > 0; })")


def test_clicking_headers_sorts(page):
    table = "#" + page.js(f"document.querySelector('#{_show_main_suite(page)} table.overview').id")
    headers = page.js(f"Array.from(document.querySelectorAll('{table} thead th')).map(function (h) {{ return h.textContent; }})")
    model_col, den_col = headers.index("Model"), headers.index("denscore ↑")

    def click(i: int) -> None:
        page.js(f"document.querySelectorAll('{table} thead th')[{i}].click()")

    click(model_col)
    names = _column(page, table, model_col)
    assert names == sorted(names, key=str.lower)
    assert page.js(f"document.querySelectorAll('{table} thead th')[{model_col}].getAttribute('aria-sort')") == "ascending"
    click(model_col)
    assert _column(page, table, model_col) == sorted(names, key=str.lower, reverse=True)
    click(den_col)  # a higher-is-better column sorts best first on the first click
    assert _column(page, table, model_col) == ["m-high", EVIL_MODEL, "m-mid", "m-low"]
    click(den_col)
    assert _column(page, table, model_col) == ["m-low", "m-mid", EVIL_MODEL, "m-high"]


def test_hostile_names_are_text_and_no_script_runs(page):
    assert page.js("typeof window.__pwned") == "undefined"
    assert page.js("document.scripts.length") == 1
    assert page.js("document.querySelectorAll('[onmouseover], [onerror], img[src=x]').length") == 0
    cells = page.js("Array.from(document.querySelectorAll('td.model')).map(function (c) { return c.textContent; })")
    assert EVIL_MODEL in cells
    assert any(EVIL_SUITE in t for t in page.js("Array.from(document.querySelectorAll('nav.tabs a, h2'))"
                                                ".map(function (e) { return e.textContent; })"))
    # hover everything: an injected handler would fire now
    page.js("Array.from(document.querySelectorAll('*')).forEach(function (e) {"
            " e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); })")
    assert page.js("typeof window.__pwned") == "undefined"
    errors = [e for e in page.b.events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert not errors, errors  # includes Content-Security-Policy violations (e.g. a stale script hash)


def test_nothing_is_fetched_from_the_network(page):
    urls = page.js("[location.href].concat(performance.getEntriesByType('resource')"
                   ".map(function (e) { return e.name; }))")
    assert urls and all(u.startswith("file://") for u in urls), urls
    requested = [e["params"]["request"]["url"] for e in page.b.events if e["method"] == "Network.requestWillBeSent"]
    assert requested and all(u.startswith(("file://", "data:")) for u in requested), requested
