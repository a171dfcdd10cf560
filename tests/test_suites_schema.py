"""Suite validator: a valid file passes; each deliberately broken line is reported with its number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbench.errors import LongbenchError
from longbench.suites.item_checks import number_values
from longbench.suites.loaders import load_jsonl_suite
from longbench.suites.schema import SCHEMA_VERSION, Problem, validate_file

HEADER = {"suite": {"name": "tiny", "version": "1", "schema_version": SCHEMA_VERSION}}
GOOD = [
    {"id": "a-1", "prompt": "Two red mugs sit on a table. A sign above the mugs reads \"OPEN\".",
     "entities": [{"name": "red mug", "count": 2, "attributes": ["red"]}, {"name": "sign"}],
     "facts": [{"type": "count", "sentence": 0, "entity": "red mug", "value": 2},
               {"type": "attribute", "sentence": 0, "entity": "red mug", "value": "red"},
               {"type": "text", "sentence": 1, "entity": "sign", "value": "open"},
               {"type": "spatial", "sentence": 1, "entity": "sign", "value": "above", "target": "mugs"}]},
    {"id": "a-2", "prompt": "A pair of boots. Half a dozen eggs; one cat naps while another cat plays.",
     "segments": ["A pair of boots.", "Half a dozen eggs;", "one cat naps while another cat plays."],
     "entities": [{"name": "boots", "count": 2}, {"name": "egg", "count": 6}, {"name": "cat", "count": 2}],
     "facts": [{"type": "count", "sentence": 0, "entity": "boots", "value": 2},
               {"type": "count", "sentence": 1, "entity": "egg", "value": 6},
               {"type": "count", "sentence": 2, "entity": "cat", "value": 2}]},
    {"id": "a-3", "prompt": "Children play in a park with 3 leaves on the ground, painted in watercolor.",
     "entities": [{"name": "child"}, {"name": "leaf", "count": 3}],
     "facts": [{"type": "presence", "sentence": 0, "entity": "child"},
               {"type": "count", "sentence": 0, "entity": "leaf", "value": 3},
               {"type": "style", "sentence": 0, "value": "watercolor"}],
     "tags": ["park"], "reference_image": "img/a3.png", "meta": {"source": "hand"}},
    {"id": "a-4", "prompt": "A plain prompt with no annotations at all."},
]


def write(path: Path, rows: list, header: bool = True) -> Path:
    lines = ([json.dumps(HEADER)] if header else []) + [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def by_line(problems: list[Problem]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for p in problems:
        out.setdefault(p.line, []).append(p.message)
    return out


def test_valid_file_passes_and_loads(tmp_path: Path) -> None:
    f = write(tmp_path / "ok.jsonl", GOOD)
    assert validate_file(f) == []
    assert len(load_jsonl_suite(f)) == 4


def test_problem_str_is_file_line_message() -> None:
    assert str(Problem("s.jsonl", 7, "bad")) == "s.jsonl:7: bad"


def broken_rows() -> list[tuple[object, str]]:
    """(broken row, expected message fragment) — each row breaks one rule."""
    g = GOOD[0]
    return [
        ({**g, "id": "b-1", "facts": [{"type": "count", "sentence": 0, "entity": "red mug", "value": 3}],
          "entities": [{"name": "red mug", "count": 3}]},
         "item 'b-1': facts[0] (count 'red mug') value 3 is not stated in sentence 0"),
        ({**g, "id": "b-2", "facts": [{"type": "presence", "sentence": 1, "entity": "table"}]},
         "item 'b-2': facts[0] (presence 'table') entity 'table' does not appear in sentence 1"),
        ({**g, "id": "b-3", "facts": [{"type": "presence", "sentence": 5, "entity": "sign"}]},
         "item 'b-3': facts[0] (presence 'sign') sentence 5 is out of range (the item has 2 sentences)"),
        ({**g, "id": "b-4", "segments": ["A sign above the mugs reads \"OPEN\".", "Two red mugs sit on a table."]},
         "item 'b-4': segments[1] is out of order"),
        ({**g, "id": "b-5", "segments": ["Two red mugs sit on a chair."]},
         "item 'b-5': segments[0] is not in the prompt"),
        ({**g, "id": "a-1"}, "item 'a-1': duplicate id 'a-1' (first on line 2)"),
        ({**g, "id": "b-7", "entities": [{"name": "red mug", "count": 5}, {"name": "sign"}]},
         "item 'b-7': facts[0] (count 'red mug') value 2 disagrees with the entity's count 5"),
        ({**g, "id": "b-8", "entities": [{"name": "red mug", "count": 2}, {"name": "Sign"}, {"name": "sign"}]},
         "item 'b-8': entity 'sign' is declared twice"),
        ({**g, "id": "b-9", "facts": [{"type": "count", "sentence": 0, "entity": "mug", "value": 2}]},
         "item 'b-9': facts[0] (count 'mug') names no declared entity"),
        ({**g, "id": "b-10", "facts": [{"type": "text", "sentence": 1, "value": "CLOSED"}]},
         "item 'b-10': facts[0] (text) text 'CLOSED' does not appear in sentence 1"),
        ({**g, "id": "b-11", "facts": [{"type": "colour", "sentence": 0, "entity": "red mug"}]},
         "item 'b-11': facts[0] type 'colour' is not one of"),
        ({"id": "b-12", "prompt": "   "}, "item 'b-12': empty or missing prompt"),
        ({"id": "../etc", "prompt": "x"}, "invalid id '../etc'"),
        ({"id": "b-14", "prompt": "Two dogs.", "entities": [{"name": "dog", "count": -1}]},
         "item 'b-14': entities[0] ('dog') count must be an integer >= 0, got -1"),
        ({"id": "b-15", "prompt": "Two dogs.", "colour": "red"}, "item 'b-15': unknown field(s) colour"),
        ("{not json", "invalid JSON"),
        ([1, 2], "expected a JSON object, got list"),
        ({"id": "b-18", "prompt": "x" * 20_001}, "item 'b-18': prompt has 20,001 characters, over the 20,000"),
        ({"id": "b-19", "prompt": "Three dogs run. A cat sleeps.", "entities": [{"name": "dog", "count": 3}],
          "facts": [{"type": "presence", "sentence": 1, "entity": "cat"}]},
         "item 'b-19': entity 'dog' has count 3 but no count fact states it"),
        ({"id": "b-20", "prompt": "Two dogs.", "facts": [{"type": "count", "sentence": 0, "entity": "dog",
                                                          "value": "two"}]},
         "item 'b-20': facts[0] (count) value must be an integer >= 0, got 'two'"),
        ({"suite": {"name": "late"}}, "suite header must be the first line"),
    ]


def test_every_broken_line_is_named(tmp_path: Path) -> None:
    cases = broken_rows()
    f = write(tmp_path / "broken.jsonl", GOOD + [row for row, _ in cases])
    problems = validate_file(f)
    lines = by_line(problems)
    first_broken = 2 + len(GOOD)  # header on line 1
    for k, (_, expected) in enumerate(cases):
        line = first_broken + k
        assert line in lines, f"line {line} ({expected!r}) not reported"
        assert any(expected in m for m in lines[line]), (line, lines[line])
    # good lines stay silent, and nothing else is reported
    assert set(lines) == {first_broken + k for k in range(len(cases))}
    assert all(p.path == str(f) for p in problems)


def test_several_problems_on_one_line_are_all_reported(tmp_path: Path) -> None:
    row = {"id": "x y", "prompt": "", "tags": "abc", "facts": [{"type": "count", "sentence": -1}]}
    msgs = by_line(validate_file(write(tmp_path / "s.jsonl", [row])))[2]
    assert len(msgs) == 6, msgs
    assert any("invalid id 'x y'" in m for m in msgs) and any("tags must be a list" in m for m in msgs)


def test_undecodable_and_oversized_lines(tmp_path: Path) -> None:
    f = tmp_path / "bytes.jsonl"
    good = json.dumps(GOOD[3]).encode()
    f.write_bytes(good + b"\n" + b'{"id": "q", "prompt": "caf\xe9"}\n' + b'{"id": "big", "prompt": "'
                  + b"a" * (2 << 20) + b'"}\n')
    lines = by_line(validate_file(f))
    assert lines[2] == ["not valid UTF-8 (byte 0xe9 at column 27)"]  # the one JSONL reader's wording
    assert "over the 1,048,576-byte limit" in lines[3][0]


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n \n")
    assert [str(p) for p in validate_file(empty)] == [f"{empty}:1: file is empty"]
    header_only = write(tmp_path / "h.jsonl", [])
    assert [p.message for p in validate_file(header_only)] == ["file has no items"]


def test_newer_schema_version_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "new.jsonl"
    f.write_text(json.dumps({"suite": {"name": "n", "schema_version": SCHEMA_VERSION + 1}}) + "\n"
                 + json.dumps(GOOD[3]) + "\n")
    assert [p.line for p in validate_file(f)] == [1]


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(LongbenchError, match="cannot read"):
        validate_file(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("sentence, value", [
    ("Two cats.", 2), ("A pair of shoes.", 2), ("Half a dozen eggs.", 6), ("3 dogs.", 3), ("A dozen roses.", 12),
    ("Twenty-one guns.", 21), ("A single lamp.", 1), ("No people at all.", 0), ("Two dozen tents.", 24),
])
def test_number_values(sentence: str, value: int) -> None:
    assert value in number_values(sentence)
