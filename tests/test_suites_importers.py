"""Importers: each format on small fixtures (exact prompts, stable ids and sha256) and each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbench.errors import LongbenchError
from longbench.registry import IMPORTERS
from longbench.suites.base import MAX_PROMPT_CHARS
from longbench.suites.importers import import_suite, import_to_file
from longbench.suites.loaders import load_jsonl_suite
from longbench.suites.options import ImportOptions
from longbench.suites.schema import validate_file

# Awkward but legal text: inner double spaces, leading space, tabs, unicode, quotes, CR inside a field.
ODD = " Two  cats\tsit on a “mat”, naïvely — under 3 lamps.  "


def dpg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "dpg"
    d.mkdir()
    texts = {"10": "Ten paper boats float on a pond.", "2": ODD, "1": "A red barn.\n",
             "countbench3": "Three owls sit on a branch.", "whoops12": "A penguin in a desert."}
    for stem, text in texts.items():
        (d / f"{stem}.txt").write_bytes(text.encode("utf-8"))
    (d / "notes.md").write_text("not a prompt")
    (d / ".hidden.txt").write_text("hidden")
    return d


def test_dpg_bench_exact_natural_order_and_entities(tmp_path: Path) -> None:
    d = dpg_dir(tmp_path)
    s = import_suite("dpg-bench", d)
    assert [it.id for it in s.items] == ["1", "2", "10", "countbench3", "whoops12"]
    for it in s.items:
        assert it.prompt.encode("utf-8") == (d / f"{it.id}.txt").read_bytes()
    by_id = {it.id: it for it in s.items}
    assert [(e.name, e.count, e.attributes) for e in by_id["10"].entities] == [("boat", 10, ("paper",))]
    assert [(f.type, f.sentence, f.entity, f.value) for f in by_id["countbench3"].facts] == [
        ("count", 0, "owl", 3)]
    assert by_id["whoops12"].entities == ()


def test_ids_and_sha256_stable_across_runs(tmp_path: Path) -> None:
    d = dpg_dir(tmp_path)
    a = import_to_file("dpg-bench", d, tmp_path / "a.jsonl")
    b = import_to_file("dpg-bench", d, tmp_path / "b.jsonl")
    assert [it.id for it in a.items] == [it.id for it in b.items]
    assert a.sha256 == b.sha256 == import_suite("dpg-bench", d).sha256
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert validate_file(tmp_path / "a.jsonl") == []


def test_written_file_has_header_and_loads(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "s.jsonl"
    s = import_to_file("dpg-bench", dpg_dir(tmp_path), out, ImportOptions(name="dpg", version="7"))
    header = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert header["suite"]["name"] == "dpg" and header["suite"]["version"] == "7"
    assert header["suite"]["schema_version"] == 1
    assert header["suite"]["source"] == {"format": "dpg-bench", "file": "dpg", "entities": "count-parser"}
    loaded = load_jsonl_suite(out)
    assert (loaded.name, loaded.version, loaded.sha256) == ("dpg", "7", s.sha256)


def test_docci_jsonl(tmp_path: Path) -> None:
    f = tmp_path / "docci_descriptions.jsonlines"
    rows = [{"example_id": "test_00001", "split": "test", "image_file": "test_00001.jpg", "description": ODD},
            {"example_id": "qual dev/7", "image_file": "q7.jpg", "description": "Two dogs.\nA ball."}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    s = import_suite("docci", f)
    assert [it.id for it in s.items] == ["test_00001", "qual_dev_7"]
    assert [it.prompt for it in s.items] == [ODD, "Two dogs.\nA ball."]
    assert s.items[1].meta == {"source_id": "qual dev/7"}
    assert [it.reference_image for it in s.items] == ["test_00001.jpg", "q7.jpg"]
    # written next to another folder: the relative image path is rebased onto the suite file
    out = tmp_path / "out" / "docci.jsonl"
    written = import_to_file("docci", f, out)
    assert written.items[0].reference_image == "../test_00001.jpg"
    assert (Path(written.root) / written.items[0].reference_image).resolve() == (tmp_path / "test_00001.jpg")


def test_docci_without_example_id_uses_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"description": "A cat."}\n\n{"description": "A dog."}\n')
    assert [it.id for it in import_suite("docci", f).items] == ["d-1", "d-3"]


@pytest.mark.parametrize("kind", ["json", "jsonl", "parquet"])
def test_longalign_formats(tmp_path: Path, kind: str) -> None:
    rows = [{"caption": ODD, "path": "imgs/0001.jpg"},
            {"caption": "Four lanterns glow.\n\nA quiet street.", "path": {"path": "imgs/0002.jpg", "bytes": None}}]
    f = tmp_path / f"longalign.{kind}"
    if kind == "json":
        f.write_text("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n", encoding="utf-8")
    elif kind == "jsonl":
        f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"caption": [r["caption"] for r in rows],
                          "path": [{"path": "imgs/0001.jpg", "bytes": None}, rows[1]["path"]]})
        pq.write_table(table, f)
    s = import_suite("longalign", f)
    # row numbers: the line an object starts on in a JSON list, else the line/row number
    ids = ["longalign-2", "longalign-3"] if kind == "json" else ["longalign-1", "longalign-2"]
    assert [it.id for it in s.items] == ids
    assert [it.prompt for it in s.items] == [r["caption"] for r in rows]
    assert [it.reference_image for it in s.items] == ["imgs/0001.jpg", "imgs/0002.jpg"]
    assert [(e.name, e.count) for e in s.items[1].entities] == [("lantern", 4)]
    assert import_suite("longalign", f).sha256 == s.sha256


def test_longalign_image_root(tmp_path: Path) -> None:
    f = tmp_path / "la.jsonl"
    f.write_text(json.dumps({"caption": "A cat.", "path": "a/1.jpg"}) + "\n")
    s = import_suite("longalign", f, ImportOptions(image_root=str(tmp_path / "images")))
    assert s.items[0].reference_image == str(tmp_path / "images" / "a" / "1.jpg")


GENEVAL = [
    {"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"},
    {"tag": "counting", "include": [{"class": "giraffe", "count": 4}], "exclude": [{"class": "giraffe", "count": 5}],
     "prompt": "a photo of four giraffes"},
    {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"},
    {"tag": "position", "include": [{"class": "dog", "count": 1},
                                    {"class": "cup", "count": 1, "position": ["left of", 0]}],
     "prompt": "a photo of a cup left of a dog"},
    {"tag": "two_object", "include": [{"class": "cat", "count": 1}], "exclude": [{"class": "person", "count": 1}],
     "prompt": "a photo of a cat"},
]


def test_geneval(tmp_path: Path) -> None:
    f = tmp_path / "evaluation_metadata.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in GENEVAL) + "\n")
    s = import_suite("geneval", f)
    assert [it.id for it in s.items] == ["00000", "00001", "00002", "00003", "00004"]
    assert [it.prompt for it in s.items] == [r["prompt"] for r in GENEVAL]
    assert [it.tags for it in s.items] == [(r["tag"],) for r in GENEVAL]
    ents = {it.id: [(e.name, e.count, e.attributes) for e in it.entities] for it in s.items}
    assert ents["00001"] == [("giraffe", 4, ())]  # the "not 5" exclusion is implied by the exact count
    assert ents["00002"] == [("car", 1, ("red",))]
    assert ents["00004"] == [("cat", 1, ()), ("person", 0, ())]
    assert s.items[1].meta == {"geneval": {"include": GENEVAL[1]["include"], "exclude": GENEVAL[1]["exclude"]}}
    facts = [(x.type, x.entity, x.value, x.target) for x in s.items[3].facts]
    assert facts == [("count", "dog", 1, None), ("count", "cup", 1, None), ("spatial", "cup", "left of", "dog")]
    out = tmp_path / "g.jsonl"
    import_to_file("geneval", f, out)
    assert validate_file(out) == []


def test_t2i_compbench_and_txt(tmp_path: Path) -> None:
    f = tmp_path / "color_val.txt"
    f.write_bytes(b"a green bench and a red car\r\n\n" + ODD.encode() + b"\n  two blue birds\n")
    s = import_suite("t2i-compbench", f)
    assert [it.id for it in s.items] == ["color_val-1", "color_val-3", "color_val-4"]
    assert [it.prompt for it in s.items] == ["a green bench and a red car", ODD, "  two blue birds"]
    assert all(it.tags == ("color_val",) for it in s.items)
    t = import_suite("txt", f)
    assert [it.prompt for it in t.items] == [it.prompt for it in s.items] and t.items[0].tags == ()


def test_generic_jsonl_and_csv(tmp_path: Path) -> None:
    j = tmp_path / "gen.jsonl"
    j.write_text(json.dumps({"uid": 7, "text": ODD, "img": "x.png"}) + "\n", encoding="utf-8")
    s = import_suite("jsonl", j, ImportOptions(field="text", id_field="uid", image_field="img"))
    assert [(it.id, it.prompt, it.reference_image) for it in s.items] == [("7", ODD, "x.png")]
    c = tmp_path / "gen.csv"
    c.write_bytes(("id,prompt\r\na,\"Line one,\nline two\"\r\nb,\"" + ODD + "\"\r\n").encode("utf-8"))
    s = import_suite("csv", c, ImportOptions(id_field="id"))
    assert [(it.id, it.prompt) for it in s.items] == [("a", "Line one,\nline two"), ("b", ODD)]
    s = import_suite("csv", c)
    assert [it.id for it in s.items] == ["gen-1", "gen-2"]


def test_bom_is_dropped(tmp_path: Path) -> None:
    f = tmp_path / "b.txt"
    f.write_bytes(b"\xef\xbb\xbfA cat.\n")
    assert import_suite("txt", f).items[0].prompt == "A cat."


def test_no_parse_counts(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("Three dogs.\n")
    assert import_suite("txt", f, ImportOptions(parse_counts=False)).items[0].entities == ()


# -- bad input ------------------------------------------------------------------------------------------

def expect_error(match: str, fmt: str, path: Path, opts: ImportOptions | None = None, out: Path | None = None) -> None:
    out = out or path.parent / "never.jsonl"
    with pytest.raises(LongbenchError) as ei:
        import_to_file(fmt, path, out, opts)
    assert str(ei.value) == match
    assert not out.exists(), "nothing may be written on error"


def test_wrong_format_name(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("A cat.\n")
    known = ", ".join(IMPORTERS.names())
    expect_error(f"unknown import format 'dpg'; did you mean 'dpg-bench'? (known: {known})", "dpg", f)
    expect_error(f"unknown import format 'zzz' (known: {known})", "zzz", f)


def test_missing_path_and_empty_file(tmp_path: Path) -> None:
    expect_error(f"{tmp_path / 'nope.txt'}: no such file or folder", "txt", tmp_path / "nope.txt")
    e = tmp_path / "e.jsonl"
    e.write_text("\n  \n")
    expect_error(f"{e}: file is empty", "jsonl", e)
    d = tmp_path / "emptydir"
    d.mkdir()
    expect_error(f"{d}: no .txt prompt files in the folder", "dpg-bench", d)
    expect_error(f"{e}: dpg-bench expects a folder of <N>.txt prompt files", "dpg-bench", e)
    (d / "1.txt").write_text("")
    expect_error(f"{d / '1.txt'}: file is empty", "dpg-bench", d)


def test_missing_field(tmp_path: Path) -> None:
    f = tmp_path / "m.jsonl"
    f.write_text('{"description": "A cat."}\n{"desc": "A dog."}\n')
    expect_error(f"{f}:2: no field 'description' (fields: desc)", "docci", f)
    c = tmp_path / "m.csv"
    c.write_text("text,id\nA cat.,1\n")
    expect_error(f"{c}:1: no column 'prompt' (columns: text, id)", "csv", c)
    g = tmp_path / "g.jsonl"
    g.write_text('{"prompt": "A cat.", "id": 3}\n{"prompt": "A dog."}\n')
    expect_error(f"{g}:2: no field 'id' (fields: prompt)", "jsonl", g, ImportOptions(id_field="id"))
    n = tmp_path / "n.jsonl"
    n.write_text('{"prompt": 5}\n')
    expect_error(f"{n}:1: field 'prompt' must be a string, got int", "jsonl", n)
    la = tmp_path / "la.jsonl"
    la.write_text('{"caption": "A cat."}\n')
    expect_error(f"{la}:1: no image field 'path' (use --image-field)", "longalign", la)


def test_undecodable_bytes(tmp_path: Path) -> None:
    f = tmp_path / "u.txt"
    f.write_bytes(b"A cat.\nA caf\xe9 on a corner.\n")
    expect_error(f"{f}:2: not valid UTF-8 (byte 0xe9 at column 6)", "txt", f)
    j = tmp_path / "u.jsonl"
    j.write_bytes(b'{"prompt": "ok"}\n{"prompt": "caf\xff"}\n')
    expect_error(f"{j}:2: not valid UTF-8 (byte 0xff at column 16)", "jsonl", j)
    d = tmp_path / "dpg"
    d.mkdir()
    (d / "1.txt").write_bytes(b"Line one.\nLine \x80two.")
    expect_error(f"{d / '1.txt'}:2: not valid UTF-8 (byte 0x80 at column 6)", "dpg-bench", d)


def test_duplicate_ids(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"example_id": "a", "description": "A cat."}\n{"example_id": "a", "description": "A dog."}\n')
    expect_error(f"{f}:2: duplicate id 'a' (first at {f}:1)", "docci", f)


def test_huge_line_and_long_prompt(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"A cat.\n" + b"x" * (10 * 1024 * 1024) + b"\n")
    # the limit and wording of the one JSONL reader (longbench.jsonio), for text lines too
    expect_error(f"{big}:2: line is 10,485,760 bytes, over the 1,048,576-byte limit for one line", "txt", big)
    bigj = tmp_path / "big.jsonl"
    bigj.write_bytes(b'{"prompt": "' + b"x" * (10 * 1024 * 1024) + b'"}\n')
    expect_error(f"{bigj}:1: line is 10,485,774 bytes, over the 1,048,576-byte limit for one line", "jsonl", bigj)
    long = tmp_path / "long.txt"
    long.write_text("A cat.\nA dog.\n" + "y" * (MAX_PROMPT_CHARS + 1) + "\n")
    expect_error(f"{long}:3: prompt has 20,001 characters, over the {MAX_PROMPT_CHARS:,}-character limit",
                 "txt", long)


def test_invalid_json_and_geneval_shape(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"prompt": "ok"}\n{"prompt": \n')
    expect_error(f"{f}:2: invalid JSON (Expecting value at column 12)", "jsonl", f)
    g = tmp_path / "g.jsonl"
    g.write_text('{"prompt": "a photo of a cat", "include": [{"count": 1}]}\n')
    expect_error(f'{g}:1: include must be a list of {{"class": str, "count": int}} objects', "geneval", g)


def test_error_keeps_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "keep.jsonl"
    out.write_text("previous\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\n")
    with pytest.raises(LongbenchError):
        import_to_file("txt", bad, out)
    assert out.read_text() == "previous\n"
