"""The viewer's index.html in a real headless Chromium (the DevTools-pipe client of ``tests.helpers_browser``):
images render, sorting and filters change what is shown (compared with orders computed here from the
fabricated scores), the lightbox opens, a URL fragment selects an item, hostile prompts, segments,
model specs and suite names show as text and run nothing, and the default synthetic runs are tinted as
their samples.jsonl says. Skips (saying why) when Chromium is not installed, as the leaderboard test does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbench.viewer import build_viewer
from tests.helpers_browser import Browser, Page, chromium
from tests.helpers_viewer import fabricate_runs, quality

EVIL_PROMPT = "<script>window.__pwned=1</script> the cat sits."
EVIL_SEGMENT = '<img src=x onerror="window.__pwned=2"> & the dog \u2028waits.'
EVIL_MODEL = '<img src=x onerror=window.__pwned=3>"onmouseover="window.__pwned=4" x="'
EVIL_SUITE = "</script><script>window.__pwned=5</script><!--"
N_ITEMS = 120
ZEBRA = (5, 60, 111)  # items whose prompt mentions a zebra


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    exe = chromium()
    b = Browser(exe, tmp_path_factory.mktemp("chromium") / "profile")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def fab_view(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer-browser")
    sentences = {1: [EVIL_PROMPT, EVIL_SEGMENT, "the end."]}
    for i in ZEBRA:
        sentences[i] = ["a zebra stands near the old tree.", "the sky is blue."]
    _, runs = fabricate_runs(root, N_ITEMS, ["model-a", "model-b", EVIL_MODEL], suite_name=EVIL_SUITE,
                             sentences=sentences)
    Path(json.loads((runs[2] / "samples.jsonl").read_text().splitlines()[0])["image"]).unlink()
    build_viewer(runs, root / "view", per_page=50)
    return root / "view"


@pytest.fixture(scope="module")
def page(browser, fab_view):
    p = Page(browser, (fab_view / "index.html").as_uri())
    _wait_images(p)
    return p


def _wait_images(p: Page) -> None:
    p.js("Promise.race([Promise.all(Array.from(document.querySelectorAll('article.item:first-of-type img'))"
         ".map(function (i) { return i.decode().catch(function () { return null; }); })),"
         " new Promise(function (ok) { setTimeout(ok, 10000); })])")


def shown(p: Page) -> list[str]:
    return p.js("Array.from(document.querySelectorAll('article.item')).map(function (a) { return a.dataset.item; })")


def control(p: Page, el_id: str, value: object) -> None:
    event = "input" if el_id in ("q", "lo", "hi", "top") else "change"
    p.js(f"(function () {{ var e = document.getElementById({json.dumps(el_id)}); e.value = {json.dumps(str(value))};"
         f" e.dispatchEvent(new Event({json.dumps(event)})); }})()")


def reset(p: Page) -> None:
    p.js("location.hash = ''")
    p.js("new Promise(function (ok) { setTimeout(ok, 50); })")
    for el_id, v in (("sort", "order"), ("run-a", 0), ("run-b", -1), ("dir", "asc"), ("bucket", -1), ("q", ""),
                     ("lo", ""), ("hi", ""), ("top", "")):
        control(p, el_id, v)


def ids(indices) -> list[str]:
    return [f"it{i:05d}" for i in indices]


def test_page_renders_images_and_gaps(page):
    assert page.js("document.body.dataset.ready") == "1"
    assert shown(page) == ids(range(50))
    assert "page 1 of 3" in page.js("document.getElementById('pager-top').textContent")
    first = page.js("Array.from(document.querySelectorAll('article.item:first-of-type img'))"
                    ".map(function (i) { return [i.naturalWidth, i.getAttribute('src')]; })")
    assert len(first) == 2 and all(w == 16 and src.startswith("thumbs/") for w, src in first)
    gap = page.js("document.querySelector('article.item:first-of-type .gap').textContent")
    assert "no image" in gap and "image file missing" in gap
    # the 77-token marker sits in prompts longer than the window, and only there
    marks = page.js("Array.from(document.querySelectorAll('article.item')).map(function (a) {"
                    " return a.querySelectorAll('.w77').length; })")
    tokens = page.js("Array.from(document.querySelectorAll('article.item')).map(function (a) {"
                     " return parseInt(a.querySelector('.info').textContent.split(' · ')[1], 10); })")
    assert marks == [1 if t > 77 else 0 for t in tokens]


def test_sorting_changes_what_is_shown(page):
    reset(page)
    control(page, "sort", "col:quality")
    control(page, "run-a", 1)
    assert shown(page) == ids(sorted(range(N_ITEMS), key=lambda i: (quality(i, 1), i))[:50])
    control(page, "dir", "desc")
    assert shown(page) == ids(sorted(range(N_ITEMS), key=lambda i: (-quality(i, 1), i))[:50])
    control(page, "run-a", 0)
    control(page, "run-b", 2)  # difference between two runs
    assert shown(page) == ids(sorted(range(N_ITEMS), key=lambda i: (-(quality(i, 0) - quality(i, 2)), i))[:50])
    control(page, "sort", "col:error")
    control(page, "run-b", -1)
    control(page, "dir", "asc")
    assert shown(page) == ids(sorted(range(N_ITEMS), key=lambda i: (1 - quality(i, 0), i))[:50])


def test_filters_change_what_is_shown(page):
    reset(page)
    control(page, "q", "ZEBRA")
    assert shown(page) == ids(ZEBRA)
    control(page, "q", "")
    control(page, "bucket", 3)
    buckets = page.js("Array.from(document.querySelectorAll('article.item .info'))"
                      ".map(function (e) { return e.textContent.split(' · ')[0]; })")
    assert buckets and set(buckets) == {">240"}
    control(page, "bucket", -1)
    control(page, "sort", "col:quality")
    control(page, "lo", 0.9)
    assert shown(page) == ids(sorted((i for i in range(N_ITEMS) if quality(i, 0) >= 0.9), key=lambda i: (quality(i, 0), i)))
    control(page, "lo", "")
    control(page, "top", 7)  # the worst 7
    assert shown(page) == ids(sorted(range(N_ITEMS), key=lambda i: (quality(i, 0), i))[:7])
    assert "items 1–7 of 7" in page.js("document.getElementById('pager-top').textContent")
    reset(page)
    page.js("document.querySelector('#pager-top .page-next').click()")
    assert shown(page) == ids(range(50, 100))


def test_lightbox_opens_the_full_image(page):
    reset(page)
    assert page.js("document.getElementById('lightbox').hidden") is True
    page.js("document.querySelector('article.item:nth-of-type(2) button.thumb').click()")
    assert page.js("document.getElementById('lightbox').hidden") is False
    src = page.js("document.getElementById('lightbox-img').getAttribute('src')")
    assert src.startswith("images/") and src.endswith(".png")
    page.js("document.getElementById('lightbox-img').decode().catch(function () { return null; })")
    assert page.js("document.getElementById('lightbox-img').naturalWidth") == 16
    assert "it00001" in page.js("document.getElementById('lightbox-caption').textContent")
    page.js("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    assert page.js("document.getElementById('lightbox').hidden") is True


def test_url_fragment_selects_an_item(browser, fab_view):
    p = Page(browser, (fab_view / "index.html").as_uri() + "#item=it00077")
    assert p.js("document.querySelector('article.item.selected').dataset.item") == "it00077"
    assert "page 2 of 3" in p.js("document.getElementById('pager-top').textContent")
    # a filter hiding the item is dropped so the linked item shows; the permalink is the shared link
    p.js("location.hash = 'q=zebra&item=it00003'")
    p.js("new Promise(function (ok) { setTimeout(ok, 100); })")
    assert p.js("document.querySelector('article.item.selected').dataset.item") == "it00003"
    assert p.js("document.querySelector('article.item.selected a.permalink').getAttribute('href')") == "#item=it00003"


def test_hostile_text_is_shown_as_text_and_runs_nothing(page):
    reset(page)
    assert page.js("typeof window.__pwned") == "undefined"
    assert page.js("document.scripts.length") == 2  # the data block and the viewer's script
    assert page.js("document.querySelectorAll('[onerror], [onmouseover], img[src=x], script[src]').length") == 0
    prompt = page.js("document.querySelector('article[data-item=it00001] p.prompt').textContent")
    assert EVIL_PROMPT in prompt and EVIL_SEGMENT in prompt
    segs = page.js("Array.from(document.querySelectorAll('article[data-item=it00001] .seg'))"
                   ".map(function (e) { return e.textContent; })")
    assert EVIL_PROMPT in segs and EVIL_SEGMENT in segs
    labels = page.js("Array.from(document.querySelectorAll('figcaption .label, table.runs td.label, #run-a option'))"
                     ".map(function (e) { return e.textContent; })")
    assert labels.count(EVIL_MODEL) >= 3
    assert EVIL_SUITE in page.js("document.getElementById('suite-name').textContent")
    assert EVIL_SUITE in page.js("document.title") and EVIL_SUITE in page.js("document.getElementById('title').textContent")
    page.js("Array.from(document.querySelectorAll('*')).forEach(function (e) {"
            " e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); })")
    page.js("document.querySelector('article[data-item=it00001] button.thumb').click()")
    page.js("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    assert page.js("typeof window.__pwned") == "undefined"
    errors = [e for e in page.b.events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert not errors, errors  # includes Content-Security-Policy violations


def test_nothing_is_fetched_from_the_network(page):
    requested = [e["params"]["request"]["url"] for e in page.b.events if e["method"] == "Network.requestWillBeSent"]
    assert requested and all(u.startswith("file://") for u in requested), requested


def test_default_runs_are_tinted_as_samples_say(browser, tmp_path_factory):
    """synth:clip77 fails the sentences beyond the 77-token window, synth:oracle passes them; every tinted
    segment's class agrees with the score in samples.jsonl."""
    from longbench.runner import EvalConfig, run_eval

    out = tmp_path_factory.mktemp("synth-browser")
    outputs = run_eval(EvalConfig(limit=10, output=str(out / "runs")))
    build_viewer([o.run_dir for o in outputs], out / "view")
    p = Page(browser, (out / "view" / "index.html").as_uri())
    beyond: dict[str, list[str]] = {}
    for k, o in enumerate(outputs):
        samples = {s["item_id"]: s for s in map(json.loads, (o.run_dir / "samples.jsonl").read_text().splitlines())}
        p.js(f"(function () {{ var e = document.getElementById('tint'); e.value = '{k}';"
             " e.dispatchEvent(new Event('change')); })()")
        pieces = p.js("""Array.from(document.querySelectorAll('article.item')).flatMap(function (a) {
            var mark = a.querySelector('.w77');
            return Array.from(a.querySelectorAll('.seg')).map(function (s) {
              return {item: a.dataset.item, seg: parseInt(s.dataset.seg, 10), score: s.dataset.score,
                      cls: s.classList.contains('na') ? 'na' : (s.classList.contains('lo') ? 'lo' : 'hi'),
                      beyond: !!mark && !!(mark.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING)};
            });
          })""")
        assert len({p_["item"] for p_ in pieces}) == 10
        first_piece: dict[tuple[str, int], bool] = {}
        for piece in pieces:
            v = samples[piece["item"]]["segments"]["synth"][piece["seg"]]
            want = "na" if v is None else ("lo" if v < 0.5 else "hi")
            assert piece["cls"] == want, piece
            assert (piece["score"] == "") == (v is None)
            if v is not None:
                assert float(piece["score"]) == pytest.approx(v, abs=1e-4)
            first_piece.setdefault((piece["item"], piece["seg"]), piece["beyond"])
        beyond[o.results["model"]["spec"]] = [
            piece["cls"] for piece in pieces if first_piece[(piece["item"], piece["seg"])] and piece["cls"] != "na"]
    assert beyond["synth:oracle"] and set(beyond["synth:oracle"]) == {"hi"}
    clip = beyond["synth:clip77"]
    assert clip and clip.count("lo") > len(clip) / 2, clip
