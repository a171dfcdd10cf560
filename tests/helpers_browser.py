"""A headless Chromium driven over the DevTools protocol on a pipe (stdlib only), for the browser tests of
the static pages (leaderboard, run viewer) and ``bench/viewer_scale.py``.

Chromium is Debian's ``chromium`` package; when it is missing, ``chromium()`` installs it only as root with
``CI=true`` and otherwise skips the calling test, saying why.
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

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio", "--remote-debugging-pipe"]


def chromium() -> str:
    """The Chromium executable (see the module docstring)."""
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
    """A tab of ``browser`` showing ``url`` (loaded when the constructor returns)."""

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
