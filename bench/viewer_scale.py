"""Viewer at scale: fabricated runs of N items × R runs (tiny PNGs, every length bucket), then
``longbench view`` timed cold (empty folder) and warm (rebuild: images already there under their hash),
and — when Chromium is installed — the page opened in headless Chromium, timed from navigation until the
first page of items is drawn and its images decoded. Goals: build < 120 s on 2 cores, open < 3 s.

    python bench/viewer_scale.py [--items 5000] [--runs 4] [--image-size 32] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def open_in_chromium(index: Path, profile: Path) -> dict[str, float] | None:
    """Seconds from navigation to the first page drawn (items + decoded images); None without Chromium."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers_browser import Browser

    exe = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if exe is None:
        return None
    b = Browser(exe, profile)
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        b.send("Runtime.enable", session=session)

        def js(expr: str) -> object:
            res = b.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                         session=session, timeout=60)
            return res["result"].get("value")

        t0 = time.perf_counter()
        b.send("Page.navigate", {"url": index.as_uri()}, session=session)
        while js("document.body && document.body.dataset.ready") != "1":
            time.sleep(0.01)
        ready = time.perf_counter() - t0
        # lazy images load when on screen: wait for those in the viewport
        js("Promise.all(Array.from(document.querySelectorAll('article.item img')).filter(function (i) {"
           " return i.getBoundingClientRect().top < innerHeight; })"
           ".map(function (i) { return i.decode().catch(function () { return null; }); }))")
        images = time.perf_counter() - t0
        nav = js("(function () { var n = performance.getEntriesByType('navigation')[0];"
                 " return n ? n.domContentLoadedEventEnd / 1000 : null; })()")
        items = js("document.querySelectorAll('article.item').length")
        return {"ready_s": ready, "first_images_s": images, "dom_content_loaded_s": nav or float("nan"),
                "items_drawn": float(items or 0)}
    finally:
        b.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--keep", type=Path, help="Write everything here and keep it (default: a temporary folder).")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from longbench.viewer import build_viewer
    from tests.helpers_viewer import fabricate_runs

    tmp = None
    if args.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="viewer-scale-")
        root = Path(tmp.name)
    else:
        root = args.keep
    try:
        t0 = time.perf_counter()
        _, runs = fabricate_runs(root / "fab", args.items, [f"model-{k}" for k in range(args.runs)],
                                 image_size=args.image_size)
        fab_s = time.perf_counter() - t0
        print(f"fabricated {args.items} items x {args.runs} runs ({args.image_size}px PNGs) in {fab_s:.1f}s")
        cold = build_viewer(runs, root / "view")
        print(f"build (cold): {cold.seconds:.1f}s  images {cold.images}, thumbnails written {cold.thumbs_written}")
        warm = build_viewer(runs, root / "view")
        print(f"build (warm): {warm.seconds:.1f}s  images reused {warm.images_reused}, thumbnails written "
              f"{warm.thumbs_written}")
        size = (root / "view" / "index.html").stat().st_size
        print(f"index.html: {size / 1e6:.1f} MB")
        opened = open_in_chromium(root / "view" / "index.html", root / "chromium-profile")
        if opened is None:
            print("chromium not installed: page open time not measured")
        else:
            print(f"open in headless chromium: first page drawn {opened['ready_s']:.2f}s, its images decoded "
                  f"{opened['first_images_s']:.2f}s (DOMContentLoaded {opened['dom_content_loaded_s']:.2f}s, "
                  f"{int(opened['items_drawn'])} items drawn)")
        print(f"ratio to goals: build {cold.seconds / 120:.2f} of 120 s, open "
              + ("n/a" if opened is None else f"{opened['first_images_s'] / 3:.2f} of 3 s"))
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
