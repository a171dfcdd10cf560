"""``longbench view``: the page data against values computed here from the fabricated runs' formulas,
content-hashed thumbnails written once, gaps for missing images, refusal of incomparable runs, the
default synthetic runs, ``eval --view`` and the leaderboard's links. The browser side is in
``test_viewer_browser.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cli import main
from longbench.errors import LongbenchError
from longbench.viewer import build_viewer
from longbench.viewer.page import script_json
from longbench.viewer.segments import locate
from tests.helpers_viewer import fabricate_runs, quality, seg_align, seg_fab

ROOT = Path(__file__).resolve().parents[1]


def page_data(out: Path) -> dict:
    html = (out / "index.html").read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>', html, re.DOTALL)
    assert m, "no data block in index.html"
    return json.loads(m.group(1))


def window_end_by_hand(prompt: str) -> int:
    """Fabricated prompts: every word and every period is one CLIP token; 75 content tokens fit."""
    tokens = list(re.finditer(r"[a-z]+|\.", prompt))
    return tokens[75].start() if len(tokens) > 75 else -1


@pytest.fixture(scope="module")
def fab(tmp_path_factory):
    root = tmp_path_factory.mktemp("fab")
    suite, runs = fabricate_runs(root, 14, ["model-a", "model-b"])
    return root, suite, runs


def test_page_data_matches_the_runs(fab, tmp_path):
    root, _, runs = fab
    summary = build_viewer(runs, tmp_path / "v", per_page=5)
    assert (summary.n_items, summary.n_runs, summary.images, summary.gaps) == (14, 2, 28, 0)
    d = page_data(tmp_path / "v")
    assert d["per_page"] == 5 and d["window"] == 77
    assert [r["spec"] for r in d["runs"]] == ["model-a", "model-b"]
    assert [(c["name"], c["hib"]) for c in d["columns"]] == [("quality", True), ("error", False)]
    suite_rows = [json.loads(x) for x in (root / "suite.jsonl").read_text().splitlines()[1:]]
    assert d["items"]["id"] == [r["id"] for r in suite_rows]
    for i, row in enumerate(suite_rows):
        prompt, sents = row["prompt"], row["segments"]
        assert d["items"]["prompt"][i] == prompt
        assert d["items"]["tokens"][i] == 9 * len(sents) + 2  # 8 words + a period per sentence, + start/end
        assert d["items"]["w77"][i] == window_end_by_hand(prompt)
        for metric in ("fab", "align"):
            flat = d["spans"][metric][i]
            assert [prompt[flat[2 * j]:flat[2 * j + 1]] for j in range(len(sents))] == sents
        for k in range(2):
            assert d["scores"][k]["quality"][i] == pytest.approx(quality(i, k), abs=1e-12)
            assert d["scores"][k]["error"][i] == pytest.approx(1 - quality(i, k), rel=1e-4)
            assert d["segs"][k]["fab"][i] == [seg_fab(i, j, k) for j in range(len(sents))]
            assert d["segs"][k]["align"][i] == [seg_align(i, j, k) for j in range(len(sents))]
    assert {d["items"]["bucket"][i] for i in range(14)} == {0, 1, 2, 3}  # every length bucket is present
    meta = {m["name"]: m for m in d["segmetrics"]}
    assert meta["fab"]["unit"] is True
    align = [seg_align(i, j, k) for k in range(2) for i, row in enumerate(suite_rows) for j in range(len(row["segments"]))]
    assert meta["align"]["unit"] is False
    assert meta["align"]["lo"] == pytest.approx(np.percentile(align, 5), rel=1e-4)
    assert meta["align"]["hi"] == pytest.approx(np.percentile(align, 95), rel=1e-4)
    # small images are shown as they are: the thumbnail is the original file's bytes
    for k in range(2):
        for i in (0, 13):
            original = Path(json.loads((runs[k] / "samples.jsonl").read_text().splitlines()[i])["image"]).read_bytes()
            assert (tmp_path / "v" / d["thumb"][k][i]).read_bytes() == original
            assert (tmp_path / "v" / d["full"][k][i]).read_bytes() == original
    manifest = json.loads((tmp_path / "v" / "viewer.json").read_text())
    assert [r["run_id"] for r in manifest["runs"]] == [json.loads((r / "results.json").read_text())["run_id"]
                                                      for r in runs]
    assert oct(os.stat(tmp_path / "v" / "index.html").st_mode & 0o777) != oct(0o600)


def test_window_end_fallback_agrees_with_offsets():
    """The slow word-boundary search gives the fast tokenizer's offset when token 76 starts a word."""
    from longbench.text.tokenizer import TokenCounter, _window_end_slow, window_end_chars

    counter = TokenCounter()
    words = ["cat", "dog", "tree", "house", "boat"]
    texts = [" ".join(words[(i + j) % 5] for j in range(n)) for i, n in enumerate((10, 75, 76, 120, 300))]
    counts, ends = window_end_chars(texts, 77, counter)
    assert counts == [10, 75, 76, 120, 300]
    assert ends[:2] == [None, None]
    for text, end in zip(texts[2:], ends[2:]):
        assert end == len(" ".join(text.split()[:75])) + 1
        assert _window_end_slow(text, 75, counter) == end


def test_locate_segments():
    prompt = "A red cat.  The dog sits;\nvery still. Last one"
    assert locate(prompt, ["A red cat.", "The dog sits; very still.", "Last one"]) == [(0, 10), (12, 37), (38, 46)]
    assert locate(prompt, ["A red cat.", " The dog sits.", "very still.", "Last one."]) is not None  # longalign
    assert locate(prompt, ["A red cat.", "missing"]) is None


def test_script_json_cannot_close_the_script_block():
    value = {"p": "</script><script>alert(1)</script><!-- & \u2028\u2029 é"}
    text = script_json(value)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"} and text.isascii()
    assert json.loads(text) == value


def test_thumbnails_are_written_once(tmp_path):
    _, runs = fabricate_runs(tmp_path / "big", 3, ["a", "b"], image_size=300, counts=False)
    first = build_viewer(runs, tmp_path / "v")
    assert first.thumbs_written == 6
    thumbs = sorted((tmp_path / "v" / "thumbs").iterdir())
    assert len(thumbs) == 6 and all(t.suffix == ".jpg" for t in thumbs)
    for t in thumbs:
        with Image.open(t) as im:
            assert max(im.size) == 256 and im.size == (256, 256)
    stamps = {t.name: t.stat().st_mtime_ns for t in thumbs}
    again = build_viewer(runs, tmp_path / "v")
    assert again.thumbs_written == 0 and again.images_reused == 6
    assert {t.name: t.stat().st_mtime_ns for t in (tmp_path / "v" / "thumbs").iterdir()} == stamps
    # the name is the content hash: a regenerated (different) image gets a new thumbnail, the old stays
    sample = json.loads((runs[0] / "samples.jsonl").read_text().splitlines()[0])
    Image.new("RGB", (300, 300), (1, 2, 3)).save(sample["image"])
    third = build_viewer(runs, tmp_path / "v")
    assert third.thumbs_written == 1
    assert len(list((tmp_path / "v" / "thumbs").iterdir())) == 7


def test_missing_images_show_a_gap(tmp_path):
    _, runs = fabricate_runs(tmp_path / "f", 5, ["a", "b"], counts=False)
    lines = (runs[1] / "samples.jsonl").read_text().splitlines()
    Path(json.loads(lines[2])["image"]).unlink()
    (runs[1] / "samples.jsonl").write_text("\n".join(lines[:4]) + "\n")  # item 4 has no sample at all
    bad = json.loads(lines[1])
    Path(bad["image"]).write_bytes(b"not a png")
    summary = build_viewer(runs, tmp_path / "v")
    assert summary.gaps == 3 and summary.images == 7
    d = page_data(tmp_path / "v")
    assert d["thumb"][1][1] is None and d["gap"][1]["1"].startswith("image file unreadable")
    assert d["thumb"][1][2] is None and d["gap"][1]["2"] == "image file missing"
    assert d["thumb"][1][4] is None and d["gap"][1]["4"] == "not in this run"
    assert d["scores"][1]["quality"][4] is None and d["segs"][1]["fab"][4] is None
    assert all(d["thumb"][0][i] for i in range(5)) and d["gap"][0] == {}


def _view(*args: str):
    return CliRunner().invoke(main, ["view", *args], catch_exceptions=False)


def test_runs_of_other_suites_or_seeds_are_refused(tmp_path):
    _, a = fabricate_runs(tmp_path / "a", 4, ["m"], counts=False)
    _, b = fabricate_runs(tmp_path / "b", 5, ["m"], counts=False)  # one more item: other suite sha256
    _, c = fabricate_runs(tmp_path / "c", 4, ["m"], seed=1, counts=False)  # same prompts, other seed
    res = _view(str(a[0]), str(b[0]), "--out", str(tmp_path / "v"))
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and res.output.startswith("error: ")
    assert "sha256" in res.output and "same suite content" in res.output
    res = _view(str(a[0]), str(c[0]), "--out", str(tmp_path / "v"))
    assert res.exit_code == 2 and "seed 1 differs" in res.output and res.output.count("\n") == 1
    res = _view(str(a[0]), str(a[0]), "--out", str(tmp_path / "v"))
    assert res.exit_code == 2 and "given twice" in res.output
    assert not (tmp_path / "v").exists()
    # as a real process: one line on stderr, exit 2, no traceback
    proc = subprocess.run([sys.executable, "-m", "cli", "view", str(a[0]), str(c[0]), "--out", str(tmp_path / "v")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_suite_must_match(tmp_path):
    suite, runs = fabricate_runs(tmp_path / "f", 4, ["m"], counts=False)
    other = tmp_path / "other.jsonl"
    other.write_text(suite.read_text().replace("it00000", "it00009"))
    res = _view(str(runs[0]), "--out", str(tmp_path / "v"), "--suite", str(other))
    assert res.exit_code == 2 and "is not the one the runs were scored on" in res.output
    suite.rename(tmp_path / "moved.jsonl")
    res = _view(str(runs[0]), "--out", str(tmp_path / "v"))
    assert res.exit_code == 2 and "pass --suite" in res.output and res.output.count("\n") == 1
    res = _view(str(runs[0]), "--out", str(tmp_path / "v"), "--suite", str(tmp_path / "moved.jsonl"))
    assert res.exit_code == 0, res.output
    assert "1 runs x 4 items" in res.output
    with pytest.raises(LongbenchError, match="--per-page"):
        build_viewer(runs, tmp_path / "v", suite=str(tmp_path / "moved.jsonl"), per_page=0)


@pytest.fixture(scope="module")
def synth_runs(tmp_path_factory):
    """The default runs (synth:oracle, synth:clip77 on synth-v0), first 10 items, through the real CLI."""
    out = tmp_path_factory.mktemp("synth")
    res = CliRunner().invoke(main, ["eval", "--suite", "synth-v0", "--limit", "10", "--output", str(out / "runs"), "--no-progress",
                                    "--view", str(out / "view")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "viewer:" in res.output
    run_dirs = sorted((out / "runs" / "synth-v0").iterdir())
    return out, {json.loads((d / "results.json").read_text())["model"]["spec"]: d for d in run_dirs}


def test_default_runs_viewer_matches_samples(synth_runs):
    out, dirs = synth_runs
    d = page_data(out / "view")
    specs = [r["spec"] for r in d["runs"]]
    assert sorted(specs) == ["synth:clip77", "synth:oracle"]
    beyond = {"synth:clip77": [], "synth:oracle": []}
    for k, spec in enumerate(specs):
        samples = [json.loads(x) for x in (dirs[spec] / "samples.jsonl").read_text().splitlines()]
        for i, s in enumerate(samples):
            assert d["items"]["id"][i] == s["item_id"]
            assert d["items"]["tokens"][i] == s["prompt_tokens"]
            assert d["segs"][k]["synth"][i] == pytest.approx(s["segments"]["synth"], abs=1e-4)
            spans, w = d["spans"]["synth"][i], d["items"]["w77"][i]
            assert spans is not None and len(spans) == 2 * len(s["segments"]["synth"])
            for j, v in enumerate(s["segments"]["synth"]):
                if w >= 0 and spans[2 * j] >= w and v is not None:  # a sentence wholly beyond the window
                    beyond[spec].append(v)
    assert beyond["synth:oracle"] and all(v == 1.0 for v in beyond["synth:oracle"])
    # clip77 cannot read these sentences: they fail unless a guess happened to be right
    assert beyond["synth:clip77"] and np.mean(beyond["synth:clip77"]) < 0.5


def test_leaderboard_links_rows_to_the_viewer(synth_runs, tmp_path):
    out, _ = synth_runs
    res = CliRunner().invoke(main, ["leaderboard", "build", str(out / "runs" / "synth-v0"), "--out", str(tmp_path / "lb"),
                                    "--no-plots", "--viewer", str(out / "view")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    html = (tmp_path / "lb" / "index.html").read_text()
    manifest = json.loads((out / "view" / "viewer.json").read_text())
    rel = os.path.relpath(out / "view" / "index.html", tmp_path / "lb")
    for r in manifest["runs"]:
        row = re.search(rf'<tr data-run-id="{re.escape(r["run_id"])}">(.*?)</tr>', html, re.DOTALL).group(1)
        assert f'<a class="viewer" href="{rel}#t={r["index"]}"' in row
    plain = CliRunner().invoke(main, ["leaderboard", "build", str(out / "runs" / "synth-v0"), "--out",
                                      str(tmp_path / "lb2"), "--no-plots"], catch_exceptions=False)
    assert plain.exit_code == 0 and 'class="viewer"' not in (tmp_path / "lb2" / "index.html").read_text()
    bad = CliRunner().invoke(main, ["leaderboard", "build", str(out / "runs" / "synth-v0"), "--out",
                                    str(tmp_path / "lb3"), "--no-plots", "--viewer", str(tmp_path)])
    assert bad.exit_code == 2 and "no viewer.json" in bad.output


def test_bad_segment_scores_are_a_clear_error(tmp_path):
    _, runs = fabricate_runs(tmp_path / "f", 3, ["m"], counts=False)
    lines = (runs[0] / "samples.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["segments"]["fab"] = "oops"
    (runs[0] / "samples.jsonl").write_text("\n".join([lines[0], json.dumps(row), lines[2]]) + "\n")
    res = _view(str(runs[0]), "--out", str(tmp_path / "v"))
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "samples.jsonl:2: segments.fab must be a list, each a number or null, got string" in res.output


def test_many_items_stay_compact(tmp_path):
    """The small twin of bench/viewer_scale.py (5,000 x 4): 400 items x 4 runs, every page of 50 items
    addressable, and the page data under 1.5 KB per item beyond the prompt text (4 runs, 2 per-segment
    metrics of ~15 segments each: 120 scores per item)."""
    _, runs = fabricate_runs(tmp_path / "f", 400, [f"m{k}" for k in range(4)], counts=False)
    summary = build_viewer(runs, tmp_path / "v")
    assert (summary.n_items, summary.n_runs, summary.images, summary.thumbs_written) == (400, 4, 1600, 0)
    d = page_data(tmp_path / "v")
    assert d["per_page"] == 50 and len(d["items"]["id"]) == 400
    prompts = sum(len(p) for p in d["items"]["prompt"])
    overhead = (tmp_path / "v" / "index.html").stat().st_size - prompts
    assert overhead < 1500 * 400, overhead / 400


def test_out_must_be_a_writable_folder(fab, tmp_path):
    _, _, runs = fab
    (tmp_path / "file").write_text("x")
    res = _view(str(runs[0]), "--out", str(tmp_path / "file"))
    assert res.exit_code == 2 and "'--out'" in res.output and "is a file" in res.output  # click's own check
    with pytest.raises(LongbenchError, match="--out .*file: exists and is not a directory"):
        build_viewer(runs, tmp_path / "file")
    with pytest.raises(LongbenchError, match="--out .*: .*file is not a directory"):
        build_viewer(runs, tmp_path / "file" / "sub")
