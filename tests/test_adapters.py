"""Model adapters: images:, cmd:, python:, diffusers: (tiny pipeline saved to disk)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from longbench.errors import LongbenchError
from longbench.images import to_rgb
from longbench.models.base import Request, build_model
from longbench.suites.base import Item
from longbench.suites.loaders import load_suite


def _requests(suite_path, n=None):
    suite = load_suite(str(suite_path))
    return [Request(it, 1000 + i) for i, it in enumerate(suite.items[:n])]


def _write_images(d, ids, mode="RGB", size=(20, 20)):
    d.mkdir(exist_ok=True)
    for i, item_id in enumerate(ids):
        Image.new(mode, size, color=(i * 40) if mode in ("L",) else tuple([i * 40] * len(mode))).save(d / f"{item_id}.png")


def test_images_adapter_reads_and_normalises_modes(tiny_suite, tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    Image.new("RGB", (20, 20), (10, 20, 30)).save(d / "a.png")
    Image.new("RGBA", (20, 20), (10, 20, 30, 255)).save(d / "b.png")  # opaque alpha
    Image.new("L", (21, 17), 77).save(d / "c.png")  # grayscale, odd size
    Image.new("RGB", (20, 20), (1, 2, 3)).save(d / "d.jpg")
    Image.new("P", (20, 20)).save(d / "e.png")
    model = build_model(f"images:{d}")
    reqs = _requests(tiny_suite)
    model.prepare(reqs)
    ims = model.generate(reqs)
    assert [im.mode for im in ims] == ["RGB"] * 5
    assert ims[1].getpixel((0, 0)) == (10, 20, 30)  # opaque alpha dropped, colour kept
    assert ims[2].size == (21, 17) and ims[2].getpixel((0, 0)) == (77, 77, 77)


def test_images_adapter_lists_missing_ids(tiny_suite, tmp_path):
    _write_images(tmp_path / "imgs", ["a", "c"])
    model = build_model(f"images:{tmp_path / 'imgs'}")
    with pytest.raises(LongbenchError, match=r"no image for 3 of 5 items: b, d, e"):
        model.prepare(_requests(tiny_suite))


def test_images_adapter_corrupt_png_and_missing_dir(tiny_suite, tmp_path):
    _write_images(tmp_path / "imgs", ["a", "b", "c", "d", "e"])
    (tmp_path / "imgs" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    model = build_model(f"images:{tmp_path / 'imgs'}")
    reqs = _requests(tiny_suite)
    model.prepare(reqs)
    with pytest.raises(LongbenchError, match=r"b\.png: not a readable image"):
        model.generate(reqs)
    with pytest.raises(LongbenchError, match="directory does not exist"):
        build_model(f"images:{tmp_path / 'nope'}")


def test_item_ids_cannot_traverse_paths():
    for bad in ("../etc/passwd", "a/b", "..", ".hidden", ""):
        with pytest.raises(LongbenchError, match="invalid id"):
            Item.from_dict({"id": bad, "prompt": "x"})


def test_cmd_adapter_runs_a_program_per_item(tiny_suite, tmp_path):
    script = tmp_path / "gen.py"
    script.write_text(
        "import sys\nfrom PIL import Image\n"
        "args = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
        "text = open(args['--prompt-file'], encoding='utf-8').read()\n"
        "Image.new('RGB', (8, 8), (len(text) % 256, int(args['--seed']) % 256, 0)).save(args['--out'])\n")
    model = build_model(f"cmd:{sys.executable} {script} --prompt-file {{prompt_file}} --seed {{seed}} --out {{out}}")
    reqs = _requests(tiny_suite, 2)
    ims = model.generate(reqs)
    assert ims[0].getpixel((0, 0)) == (len(reqs[0].prompt) % 256, reqs[0].seed % 256, 0)
    bad = build_model(f"cmd:{sys.executable} -c 'import sys; sys.exit(3)' {{out}}")
    with pytest.raises(LongbenchError, match="exited with 3 on item 'a'"):
        bad.generate(reqs)
    with pytest.raises(LongbenchError, match=r"must contain \{out\}"):
        build_model("cmd:echo hi")


def test_python_adapter_and_conversions(fake_modules, tiny_suite):
    model = build_model("python:lb_fake_gen:gen")
    ims = model.generate(_requests(tiny_suite, 3))
    assert all(im.mode == "RGB" and im.size == (24, 24) for im in ims)
    with pytest.raises(LongbenchError, match="expected python:MODULE:CALLABLE"):
        build_model("python:lb_fake_gen")
    with pytest.raises(LongbenchError, match="NaN or inf"):
        to_rgb(np.full((4, 4, 3), np.nan, dtype=np.float32))
    assert to_rgb(np.ones((4, 4, 3), dtype=np.float32)).getpixel((0, 0)) == (255, 255, 255)


def test_unknown_model_kind_suggests(tmp_path):
    with pytest.raises(LongbenchError, match="did you mean 'images'"):
        build_model("image:./x")
    with pytest.raises(LongbenchError, match="model 'diffusers' has no option 'stepz'; did you mean 'steps'"):
        build_model("diffusers:./x", {"stepz": "3"})


def test_diffusers_adapter_on_tiny_saved_pipeline(tiny_sd_dir, tiny_suite):
    args = {"steps": "2", "height": "32", "width": "32", "guidance": "7.5"}
    model = build_model(f"diffusers:{tiny_sd_dir}", args)
    reqs = _requests(tiny_suite, 2)
    a = model.generate(reqs)
    assert [im.size for im in a] == [(32, 32), (32, 32)]
    # Same seed → the same image from a freshly loaded pipeline, whatever else is in the batch. The UNet and
    # VAE then run on another batch shape, so float32 values may move by a few ulps and a pixel may round to
    # the neighbouring uint8 level: allow one level. Another seed or prompt changes pixels by tens of levels.
    b = build_model(f"diffusers:{tiny_sd_dir}", args).generate(reqs[1:])
    diff = np.abs(np.asarray(a[1], dtype=np.int16) - np.asarray(b[0], dtype=np.int16))
    assert diff.max() <= 1, int(diff.max())
    assert np.abs(np.asarray(a[0], dtype=np.int16) - np.asarray(a[1], dtype=np.int16)).max() > 1
    ident = model.identity()
    assert ident["args"]["long_prompt"] == "truncate" and ident["weights_fingerprint"] != "unresolved"


def test_diffusers_missing_weights_is_one_line(tmp_path):
    model = build_model("diffusers:nobody/no-such-model")
    with pytest.raises(LongbenchError) as e:
        model.generate(_requests_for_prompt("a cat"))
    msg = str(e.value)
    assert "\n" not in msg and "nobody/no-such-model" in msg and "not found offline" in msg


def _requests_for_prompt(prompt):
    return [Request(Item(id="x", prompt=prompt), 0)]


def test_eval_cli_on_tiny_diffusers_pipeline_with_limit(tiny_sd_dir, tmp_path):
    """`longbench eval --model diffusers:DIR --limit 4` end to end (synth metric reads any image)."""
    import json

    from click.testing import CliRunner

    from cli import main

    args = ["eval", "--model", f"diffusers:{tiny_sd_dir}", "--suite", "synth-v0", "--limit", "4",
            "--model-arg", "steps=2", "--model-arg", "height=32", "--model-arg", "width=32",
            "--output", str(tmp_path / "runs"), "--no-progress", "--json"]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    (res,) = json.loads(r.stdout)
    assert res["n"] == 4 and res["timings"]["images_generated"] == 4 and res["limit"] == 4
    assert res["model"]["args"]["long_prompt"] == "truncate"
    again = json.loads(CliRunner().invoke(main, args, catch_exceptions=False).stdout)[0]
    assert again["timings"]["images_generated"] == 0 and again["metrics"] == res["metrics"]
