"""The command line as a user drives it: encode on real long prompts, gates on prompt-length bucket
columns, bad input (one line, exit 2, nothing written), image inputs of every mode, output files
(strict JSON, umask, cache invalidation) and results that must not depend on --limit or --batch-size.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cli import main
from tests.conftest import write_suite

# --- helpers -------------------------------------------------------------------------------------


def run(args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def error_lines(result) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.strip()]


def assert_one_line_error(result, *needles: str) -> None:
    """Exit 2, exactly one non-empty stderr line starting with 'error:', no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for n in needles:
        assert n in lines[0], lines[0]


def files_under(d: Path) -> list[Path]:
    return [p for p in d.rglob("*") if p.is_file()] if d.exists() else []


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory) -> Path:
    """Two synth-v0 items (one under 77 CLIP tokens, one over) as a suite file: fast synth runs."""
    from longbench.suites.loaders import load_suite
    from longbench.text.tokenizer import TokenCounter

    suite = load_suite("synth-v0")
    counter = TokenCounter()
    short = next(it for it in suite.items if counter.length(it.prompt) <= 77)
    long = next(it for it in suite.items if counter.length(it.prompt) > 154)
    path = tmp_path_factory.mktemp("synth") / "synth2.jsonl"
    lines = [json.dumps({"suite": {"name": "synth2", "version": "1", "default_metrics": ["synth"]}})]
    lines += [json.dumps(it.to_dict()) for it in (short, long)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def synth_eval(synth_file, out, *extra):
    return run(["eval", "--suite", synth_file, "--output", out, "--no-progress", *extra])


# --- encode on long real-world prompts -------------------------------------------------------------

REAL_WORLD_PROMPTS = {
    "paragraph": (
        "A sprawling Victorian greenhouse at golden hour, its wrought-iron ribs painted a faded mint "
        "green and its hundreds of glass panes fogged at the edges, sunlight slanting through in long "
        "dusty beams that land on terracotta pots of every size, some cracked, some wrapped in burlap, "
        "holding ferns, orchids, a gnarled lemon tree heavy with fruit, and three spiky agaves lined up "
        "along a weathered potting bench where a pair of muddy gloves, a brass watering can, a stack of "
        "seed packets tied with twine and an open notebook full of pencil sketches have been left as if "
        "the gardener stepped away a moment ago; in the background a narrow spiral staircase climbs to a "
        "catwalk draped with ivy, and a tabby cat sleeps on the second step."),
    "product": (
        'Product photo, studio lighting: a matte black headphone set (model "Aurora X2") on a slab of '
        "raw concrete; the left ear cup is angled toward the camera. Foreground: 2 spare ear cushions, "
        'a braided USB-C cable coiled in a figure eight, and a card that reads "40 h battery - ANC - '
        '3.5 mm jack". Shot on a 100mm macro lens at f/2.8, e.g. like a catalogue page... minimalistic, '
        "premium, calm."),
    "tag-list": ", ".join(
        ["masterpiece", "best quality", "ultra detailed", "8k", "1girl", "solo", "long silver hair",
         "red eyes", "looking at viewer", "school uniform", "pleated skirt", "cherry blossoms",
         "petals falling", "blue sky", "wind", "hair blowing", "depth of field", "bokeh",
         "cinematic lighting", "volumetric lighting", "trending on artstation", "highly detailed face",
         "sharp focus", "intricate", "digital painting", "concept art", "holding a book",
         "standing on a bridge", "stone lanterns", "a torii gate in the distance", "birds flying",
         "pastel palette", "dreamy atmosphere", "film grain", "vignette", "rim light"] * 2),
    "run-on": " ".join([("a tiny robot with copper joints walks through an endless field of sunflowers "
                         "under a violet sky while carrying a lantern that glows softly")] * 10),
    "newline-list": "\n".join(f"- item {i}: a {c} ceramic vase with {i} painted stripes and a chipped rim"
                              for i, c in enumerate(["red", "blue", "green", "amber", "teal", "ivory",
                                                     "black", "rose", "lime", "navy", "gold", "plum"], 1)),
    "mixed-script": (
        "In a busy night market in Taipei (around 9 p.m.), dozens of stalls stretch down a narrow street "
        "lit by red paper lanterns and neon signs reading 夜市 and 臭豆腐. At the nearest stall, Mr. Chen "
        "- a stocky man in a white apron - flips scallion pancakes; steam rises. Five children point at "
        "bubble tea cups (taro, matcha, brown sugar). A scooter weaves between pedestrians!! Is that a dog "
        "in its basket? Yes: a small shiba inu wearing goggles \U0001F415. Far at the end of the street a "
        "convenience store glows."),
    "long-url": "A poster with the address https://example.com/" + "abcdefghij" * 60 + " at the bottom.",
}


@pytest.mark.parametrize("name", sorted(REAL_WORLD_PROMPTS))
def test_encode_real_world_prompt_fits_77_and_loses_nothing(name):
    from open_clip.tokenizer import SimpleTokenizer

    prompt = REAL_WORLD_PROMPTS[name]
    r = run(["encode", "-", "--json"], input=prompt.encode("utf-8"))  # stdin: prompts may start with '-'
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    segs = data["segments"]
    ref = SimpleTokenizer()  # independent: open_clip's own BPE implementation
    assert data["prompt_tokens"] == len(ref.encode(prompt)) + 2 > 77
    assert all(s["tokens"] <= 77 and not s["over_77"] for s in segs)
    assert [s["tokens"] for s in segs] == [len(ref.encode(s["text"])) + 2 for s in segs]
    joined = re.sub(r"\s+", "", "".join(s["text"] for s in segs))
    assert joined == re.sub(r"\s+", "", prompt)
    # The longalign splitter is the reference behaviour: it may exceed 77 but also loses no word.
    r = run(["encode", "-", "--json", "--splitter", "longalign"], input=prompt.encode("utf-8"))
    assert r.exit_code == 0
    words = [w for s in json.loads(r.stdout)["segments"] for w in s["text"].split()]
    assert len(words) >= len(prompt.split())


def test_encode_table_shows_square_brackets_verbatim():
    prompt = "A neon sign that reads [red] OPEN [/] above a door, prompt-editing syntax [dog:cat:0.5] kept."
    r = run(["encode", prompt])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.stdout.split())
    for piece in ("[red]", "[/]", "[dog:cat:0.5]"):
        assert piece in flat


def test_suites_show_prompt_with_square_brackets(tmp_path):
    p = write_suite(tmp_path / "br.jsonl", [{"id": "a", "prompt": "A sign reading [/] and [bold]X[/bold]."}])
    for args in (["suites", "show", p], ["suites", "show", p, "--item", "a"]):
        r = run(args)
        assert r.exit_code == 0, r.output
        assert "[bold]X[/bold]" in r.stdout


def test_eval_table_with_bracketed_suite_name(fake_modules, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", [{"id": "a", "prompt": "A red cube."}], name="set[/]one")
    r = run(["eval", "--suite", suite, "--model", "python:lb_fake_gen:gen", "--metric", "brightness",
             "--output", tmp_path / "runs", "--no-progress"])
    assert r.exit_code == 0, repr(r.exception)
    assert "set[/]one" in r.stdout


def test_encode_non_utf8_argument_is_one_line_error():
    r = run(["encode", "caf\udce9 au lait"])  # what Python makes of the byte 0xE9 in argv
    assert_one_line_error(r, "UTF-8")


# --- --fail-under / --max-regression on the prompt-length columns ----------------------------------


def test_fail_under_on_a_bucket_column_with_equals_sign(synth_file, tmp_path):
    r = synth_eval(synth_file, tmp_path / "runs", "--model", "synth:oracle",
                   "--fail-under", "fact_recall@<=77=0.5")
    assert r.exit_code == 0, r.output
    r = synth_eval(synth_file, tmp_path / "runs", "--model", "synth:clip77",
                   "--fail-under", "fact_recall@<=77=1.01")
    assert r.exit_code == 1 and "FAIL" in r.output


def test_max_regression_on_a_bucket_column(synth_file, tmp_path):
    out = tmp_path / "runs"
    assert synth_eval(synth_file, out, "--model", "synth:oracle").exit_code == 0
    assert synth_eval(synth_file, out, "--model", "synth:clip77").exit_code == 0
    oracle = next(out.glob("synth2/synth-oracle*"))
    clip = next(out.glob("synth2/synth-clip77*"))
    r = run(["leaderboard", "compare", clip, oracle, "--max-regression", "fact_recall@<=77=0.1"])
    assert r.exit_code == 0, r.output


# --- bad input: one line, exit 2, nothing written --------------------------------------------------


def test_negative_seed_is_rejected_before_any_work(synth_file, tmp_path):
    r = synth_eval(synth_file, tmp_path / "runs", "--model", "synth:oracle", "--seed", "-1")
    assert_one_line_error(r, "--seed")
    assert not files_under(tmp_path / "runs")


def test_unknown_device_is_one_line_error(synth_file, tmp_path):
    r = synth_eval(synth_file, tmp_path / "runs", "--model", "synth:oracle", "--device", "bogus")
    assert_one_line_error(r, "--device")
    assert not files_under(tmp_path / "runs")


def test_cuda_device_without_cuda_is_one_line_error(synth_file, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = synth_eval(synth_file, tmp_path / "runs", "--model", "synth:oracle", "--device", "cuda")
    assert_one_line_error(r, "cuda")


def test_unknown_metric_arg_is_one_line_error(synth_file, tmp_path):
    r = synth_eval(synth_file, tmp_path / "runs", "--model", "synth:oracle", "--metric-arg", "synth.nosuch=1")
    assert_one_line_error(r, "nosuch")
    assert not files_under(tmp_path / "runs")


def test_suite_header_not_an_object(fake_modules, tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"suite": "oops"}\n{"id": "a", "prompt": "A red cube."}\n', encoding="utf-8")
    assert run(["suites", "validate", p]).exit_code == 2
    r = run(["eval", "--suite", p, "--model", "python:lb_fake_gen:gen", "--metric", "brightness",
             "--output", tmp_path / "runs", "--no-progress"])
    assert_one_line_error(r, "h.jsonl:1")


def test_lone_surrogate_prompt_is_rejected_at_load(fake_modules, tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"id": "a", "prompt": "A red cube."}\n{"id": "b", "prompt": "bad \\ud800 char"}\n',
                 encoding="utf-8")
    assert run(["suites", "validate", p]).exit_code == 2
    r = run(["eval", "--suite", p, "--model", "python:lb_fake_gen:gen", "--metric", "brightness",
             "--output", tmp_path / "runs", "--no-progress"])
    assert_one_line_error(r, "s.jsonl:2")
    assert not files_under(tmp_path / "runs")


def test_duplicate_id_error_names_file_and_line(fake_modules, tmp_path):
    p = write_suite(tmp_path / "d.jsonl", [{"id": "a", "prompt": "one"}, {"id": "b", "prompt": "two"},
                                           {"id": "a", "prompt": "three"}])
    r = run(["eval", "--suite", p, "--model", "python:lb_fake_gen:gen", "--metric", "brightness",
             "--output", tmp_path / "runs", "--no-progress"])
    assert_one_line_error(r, "d.jsonl:4", "'a'")


def test_suite_file_with_bom_loads(fake_modules, tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes("\ufeff".encode("utf-8") + b'{"id": "a", "prompt": "A red cube."}\n')
    r = run(["eval", "--suite", p, "--model", "python:lb_fake_gen:gen", "--metric", "brightness",
             "--output", tmp_path / "runs", "--no-progress"])
    assert r.exit_code == 0, r.output


def test_bad_second_model_fails_before_the_first_runs(synth_file, tmp_path):
    empty = tmp_path / "imgs"
    empty.mkdir()
    r = synth_eval(synth_file, tmp_path / "runs", "--model", "synth:oracle", "--model", f"images:{empty}")
    assert_one_line_error(r, "no image for 2 of 2 items")
    assert not files_under(tmp_path / "runs")


def test_cmd_program_not_executable(synth_file, tmp_path):
    prog = tmp_path / "gen.sh"
    prog.write_text("#!/bin/sh\nexit 0\n")
    prog.chmod(0o644)
    r = synth_eval(synth_file, tmp_path / "runs", "--model", f"cmd:{prog} {{out}}")
    assert_one_line_error(r, "gen.sh")


def test_cmd_prompt_with_nul_character(fake_modules, tmp_path):
    p = tmp_path / "n.jsonl"
    p.write_text('{"id": "a", "prompt": "hi\\u0000there"}\n', encoding="utf-8")
    r = run(["eval", "--suite", p, "--model", "cmd:echo {prompt} {out}", "--metric", "brightness",
             "--output", tmp_path / "runs", "--no-progress"])
    assert r.exit_code == 2, repr(r.exception)
    assert len(error_lines(r)) == 1


# --- image handling -------------------------------------------------------------------------------


def test_images_dir_from_oracle_cache_in_any_mode_scores_perfectly(synth_file, tmp_path):
    """RGBA, palette, odd-size and CMYK-JPEG copies of synth:oracle images are handled, not rejected,
    and the exact synth detector still finds every fact; thresholds give exit 0 above and 1 below."""
    out = tmp_path / "runs"
    r = synth_eval(synth_file, out, "--model", "synth:oracle")
    assert r.exit_code == 0, r.output
    cached = sorted((out / "cache" / "images").glob("*/*.png"))
    assert len(cached) == 2
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    a, b = cached
    Image.open(a).convert("RGBA").save(imgs / f"{a.name.split('__')[0]}.png")
    Image.open(b).convert("RGB").convert("CMYK").save(imgs / f"{b.name.split('__')[0]}.JPG", quality=95)
    r = synth_eval(synth_file, out, "--model", f"images:{imgs}", "--fail-under", "fact_recall=0.99")
    assert r.exit_code == 0, r.output
    r = synth_eval(synth_file, out, "--model", f"images:{imgs}", "--fail-under", "fact_recall=1.01")
    assert r.exit_code == 1
    Image.open(a).convert("P", palette=Image.Palette.ADAPTIVE).save(imgs / f"{a.name.split('__')[0]}.png")
    w, h = Image.open(b).size
    (imgs / f"{b.name.split('__')[0]}.JPG").unlink()
    Image.open(b).resize((w + 37, h - 19)).save(imgs / f"{b.name.split('__')[0]}.png")
    r = synth_eval(synth_file, out, "--model", f"images:{imgs}", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["metrics"]["fact_recall"]["value"] == 1.0


def test_images_dir_of_symlinks(synth_file, tmp_path):
    out = tmp_path / "runs"
    assert synth_eval(synth_file, out, "--model", "synth:oracle").exit_code == 0
    links = tmp_path / "links"
    links.mkdir()
    for png in (out / "cache" / "images").glob("*/*.png"):
        (links / f"{png.name.split('__')[0]}.png").symlink_to(png.resolve())
    r = synth_eval(synth_file, out, "--model", f"images:{links}")
    assert r.exit_code == 0, r.output


def test_python_adapter_int64_array_is_not_saturated():
    from longbench.errors import LongbenchError
    from longbench.images import to_rgb

    arr = np.full((4, 4, 3), 100, dtype=np.int64)
    try:
        im = to_rgb(arr, "python output")
    except LongbenchError:
        return  # refusing ambiguous input is acceptable
    assert im.getpixel((0, 0)) == (100, 100, 100)


def test_python_adapter_bad_array_shape_is_a_longbench_error():
    from longbench.errors import LongbenchError
    from longbench.images import to_rgb

    with pytest.raises(LongbenchError):
        to_rgb(np.zeros((1, 3, 8, 8), dtype=np.float32), "python output")


# --- output files ----------------------------------------------------------------------------------


def test_json_output_is_strict_json(synth_file, tmp_path):
    lines = synth_file.read_text(encoding="utf-8").splitlines()
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")  # header + the short item only

    def no_constants(c):
        raise ValueError(f"non-standard JSON constant {c}")

    r = synth_eval(short, tmp_path / "runs", "--model", "synth:oracle", "--json")
    assert r.exit_code == 0, r.output
    json.loads(r.stdout, parse_constant=no_constants)


def test_written_files_respect_umask(synth_file, tmp_path):
    old = os.umask(0o022)
    try:
        r = synth_eval(synth_file, tmp_path / "runs", "--model", "synth:oracle")
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    written = [p for p in files_under(tmp_path / "runs") if p.suffix in (".json", ".jsonl", ".png")]
    assert written
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
    assert all(m == 0o644 for m in modes.values()), modes


def test_editing_a_prompt_invalidates_its_cached_image(fake_modules, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", [{"id": "a", "prompt": "A red cube on a table."}])

    def ev(out):
        r = run(["eval", "--suite", suite, "--model", "python:lb_fake_gen:gen", "--metric", "brightness",
                 "--output", out, "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)[0]

    ev(tmp_path / "runs")
    write_suite(suite, [{"id": "a", "prompt": "A much longer prompt about a blue sphere resting in a garden."}])
    resumed = ev(tmp_path / "runs")
    fresh = ev(tmp_path / "fresh")
    assert resumed["timings"]["images_generated"] == 1
    assert resumed["metrics"]["brightness"]["value"] == fresh["metrics"]["brightness"]["value"]


# --- behaviour that works today and should keep working --------------------------------------------


def test_limit_larger_than_suite_and_batch_size_do_not_change_results(synth_file, tmp_path):
    r1 = synth_eval(synth_file, tmp_path / "a", "--model", "synth:corrupt-2", "--batch-size", "1", "--json")
    r2 = synth_eval(synth_file, tmp_path / "b", "--model", "synth:corrupt-2", "--batch-size", "7",
                    "--limit", "1000", "--json")
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
    a, b = json.loads(r1.stdout)[0], json.loads(r2.stdout)[0]
    assert b["n"] == 2
    assert json.dumps(a["metrics"], sort_keys=True) == json.dumps(b["metrics"], sort_keys=True)


@pytest.mark.parametrize("extra,needle", [
    (["--model", "synth:nosuch"], "unknown synth model 'nosuch'"),
    (["--model", ""], "has no kind"),
    (["--model", "synth:oracle", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["--model", "synth:oracle", "--model-arg", "size=big"], "size"),
    (["--model", "synth:oracle", "--model-arg", "nosuch=1"], "model 'synth' has no option 'nosuch'"),
])
def test_more_bad_usage_is_one_line_exit_2(synth_file, tmp_path, extra, needle):
    r = synth_eval(synth_file, tmp_path / "runs", *extra)
    assert_one_line_error(r, needle)
    assert not files_under(tmp_path / "runs")


def test_validate_and_eval_agree_on_bad_files(fake_modules, tmp_path):
    """Every file `suites validate` rejects is also a one-line exit-2 error for eval, naming file:line."""
    cases = {
        "malformed": b'{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": \n',
        "nonutf8": b'{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": "caf\xe9"}\n',
        "not-object": b'{"id": "a", "prompt": "ok"}\n[1, 2]\n',
        "slash-id": b'{"id": "a", "prompt": "ok"}\n{"id": "a/b", "prompt": "x"}\n',
        "blank-prompt": b'{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": "\\n\\t "}\n',
    }
    for name, content in cases.items():
        p = tmp_path / f"{name}.jsonl"
        p.write_bytes(content)
        v = run(["suites", "validate", p])
        assert v.exit_code == 2 and f"{name}.jsonl:2" in v.output, (name, v.output)
        r = run(["eval", "--suite", p, "--model", "python:lb_fake_gen:gen", "--metric", "brightness",
                 "--output", tmp_path / "runs", "--no-progress"])
        assert_one_line_error(r, f"{name}.jsonl:2")
    assert not files_under(tmp_path / "runs")
