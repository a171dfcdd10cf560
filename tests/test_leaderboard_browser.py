"""index.html in a real headless Chromium, driven over the DevTools protocol on a pipe (stdlib only).

Checks that the tables render, that clicking a header sorts, that hostile model/suite names show as
text without running script, and that the page loads nothing from the network. Chromium is Debian's
``chromium`` package; when it is missing the test installs it only as root with ``CI=true``, and
otherwise skips saying why.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from leaderboard.build import build_leaderboard
from leaderboard.table import BootstrapConfig
from tests.helpers_leaderboard import make_run

EVIL_MODEL = '<script>window.__pwned=1</script>"onmouseover="window.__pwned=2" x="'
EVIL_SUITE = "<img src=x onerror=window.__pwned=3>"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio", "--remote-debugging-pipe"]


def _chromium() -> str:
    found = shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium")
    if found:
        return found
    if os.environ.get("CI") == "true" and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=False, env=env, capture_output=True, timeout=600)
        proc = subprocess.run(["apt-get", "install", "-y", "chromium"], check=False, env=env, capture_output=True,
                              text=True, timeout=1200)
        if proc.returncode == 0 and shutil.which("chromium"):
            return shutil.which("chromium")
        pytest.fail(f"CI=true and root, but 'apt-get install -y chromium' failed: {proc.stderr[-500:]}")
    pytest.skip("chromium is not installed (Debian: apt-get install chromium); the test installs it itself only "
                "when running as root with CI=true")


class Browser:
    """Minimal DevTools-protocol client over ``--remote-debugging-pipe`` (fd 3: commands in, fd 4: out)."""

    def __init__(self, exe: str, user_data_dir: Path):
        self.log_path = user_data_dir.with_name(user_data_dir.name + ".log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # Move the child's ends above fd 10 so dup2 onto 3/4 cannot clobber one with the other.
        self._child = [fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 10)]
        for fd in (to_r, from_w):
            os.close(fd)
        child_in, child_out = self._child

        def wire_fds() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        # preexec_fn is the only stdlib way to place the pipe at fds 3/4 in the child; the test is single-threaded.
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            preexec_fn=wire_fds,  # noqa: PLW1509
            close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log)
        for fd in self._child:
            os.close(fd)
        self._w, self._r = to_w, from_r
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self._w, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"chromium is gone; its log ends with: {self.log_tail()}") from None
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
                if "method" in reply:
                    self.events.append(reply)
            ready, _, _ = select.select([self._r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"no reply to {method} within {timeout}s")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise EOFError(f"chromium closed the DevTools pipe; its log ends with: {self.log_tail()}")
            self._buf += chunk

    def log_tail(self, n: int = 800) -> str:
        return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, EOFError, TimeoutError, RuntimeError):  # already gone: wait/kill below
            logging.getLogger(__name__).debug("chromium did not acknowledge Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._w, self._r):
            os.close(fd)
        self._log.close()


class Page:
    def __init__(self, browser: Browser, url: str):
        self.b = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            browser.send(f"{domain}.enable", session=self.session)
        browser.send("Page.navigate", {"url": url}, session=self.session)
        deadline = time.monotonic() + 30
        while self.js("document.readyState") != "complete" or self.js("location.href") != url:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def js(self, expr: str) -> Any:
        res = self.b.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                          session=self.session)
        if "exceptionDetails" in res:
            raise AssertionError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    exe = _chromium()
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
