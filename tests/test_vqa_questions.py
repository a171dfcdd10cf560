"""Questions: the templates and dependencies generated from facts, and suite questions in the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbench.errors import LongbenchError
from longbench.suites.base import Entity, Fact, Item, Question
from tests.conftest import write_suite


def test_templates_and_dependencies():
    from longbench.judges.questions import questions_from_facts

    item = Item(id="x", prompt="A cat sits left of two dogs. A sign says OPEN. Watercolor.",
                entities=(Entity("cat", 1), Entity("dogs", 2)),
                facts=(Fact("attribute", 0, "cat", "black"), Fact("spatial", 0, "cat", "left of", "dogs"),
                       Fact("count", 0, "dogs", 2), Fact("text", 1, "sign", "OPEN"), Fact("style", 2, None, "watercolor"),
                       Fact("count", 0, "birds", 0), Fact("presence", 1, "sign")))
    qs = questions_from_facts(item)
    assert [(q.id, q.text, q.depends_on, q.category, q.fact_index) for q in qs] == [
        # presence first, in order of first mention; "cat" and "dogs" have no presence fact of their own
        ("1", "Is there a cat?", (), "presence", None),
        ("2", "Are there dogs?", (), "presence", None),
        ("3", "Is there a sign?", (), "presence", 6),
        ("4", "Is the cat black?", ("1",), "attribute", 0),
        ("5", "Is the cat left of the dogs?", ("1", "2"), "spatial", 1),
        ("6", "Are there exactly two dogs?", ("2",), "count", 2),
        ('7', 'Is the text "OPEN" written on the sign?', ("3",), "text", 3),
        ("8", "Is the image in a watercolor style?", (), "style", 4),
        ("9", "Are there no birds?", (), "count", 5),  # absence: nothing to depend on
    ]
    assert qs[0].fact == Fact("presence", 0, "cat")  # a generated presence question still carries a fact


def test_number_agreement_and_articles():
    from longbench.judges.questions import questions_from_facts

    item = Item(id="y", prompt="An owl. Three geese. One box.", entities=(Entity("geese", 3), Entity("box", 1)),
                facts=(Fact("presence", 0, "owl"), Fact("presence", 1, "geese"), Fact("count", 1, "geese", 3),
                       Fact("count", 2, "box", 1), Fact("attribute", 2, "box", "open")))
    assert [q.text for q in questions_from_facts(item)] == [
        "Is there an owl?", "Are there geese?", "Is there a box?", "Are there exactly three geese?",
        "Is there exactly one box?", "Is the box open?"]


def test_positions_split_at_77_tokens():
    from longbench.judges.questions import question_last_tokens, questions_from_facts
    from longbench.synth.world import visible

    filler = "The light is soft and the colours are calm in this quiet picture. " * 6
    prompt = "A cat. " + filler + "A dog."
    item = Item(id="z", prompt=prompt, facts=(Fact("presence", 0, "cat"), Fact("presence", 7, "dog")))
    qs = questions_from_facts(item)
    last = question_last_tokens(item, qs)
    assert visible(last[0]) and not visible(last[1])


def test_suite_questions_round_trip(tmp_path: Path):
    from longbench.suites.loaders import load_suite

    qs = [{"id": "1", "text": "Is there a cat?", "category": "entity"},
          {"id": "2", "text": "Is the cat black?", "depends_on": ["1"], "fact": 0}]
    p = write_suite(tmp_path / "q.jsonl", [{"id": "a", "prompt": "A black cat.", "questions": qs,
                                            "facts": [{"type": "attribute", "sentence": 0, "entity": "cat",
                                                       "value": "black"}]}])
    item = load_suite(str(p)).items[0]
    assert item.questions == (Question("1", "Is there a cat?", (), "entity"),
                              Question("2", "Is the cat black?", ("1",), None, 0))
    assert item.to_dict()["questions"] == qs
    from longbench.judges.questions import item_questions

    asked = item_questions(item)
    assert [q.category for q in asked] == ["entity", "attribute"]  # a question without category: its fact's type
    assert [q.text for q in item_questions(item, "facts")] == ["Is there a cat?", "Is the cat black?"]


BAD_QUESTIONS = [
    ([{"id": "1", "text": "Is there a cat?", "depends_on": ["9"]}], "question '1' depends on unknown question '9'"),
    ([{"id": "1", "text": "a?", "depends_on": ["2"]}, {"id": "2", "text": "b?", "depends_on": ["1"]}],
     "dependency cycle: '1' -> '2' -> '1'"),
    ([{"id": "1", "text": "  "}], "questions[0] (id '1') has an empty or missing text"),
    ([{"id": "1", "text": "a?"}, {"id": "1", "text": "b?"}], "questions[1] (id '1') duplicates the id of questions[0]"),
    ([{"id": "1", "text": "a?", "depends_on": ["1"]}], "question '1' depends on itself"),
    ([{"id": "1", "text": "a?", "fact": 3}], "fact must be an index into the item's 0 facts"),
    ([{"id": 1, "text": "a?"}], "needs a non-empty string id"),
    ([{"id": "1", "text": "a?", "why": 1}], "unknown field(s) why"),
]


@pytest.mark.parametrize("questions, message", BAD_QUESTIONS)
def test_validate_reports_bad_questions_with_file_and_line(tmp_path: Path, questions, message):
    from click.testing import CliRunner

    from cli import main

    items = [{"id": "ok", "prompt": "Fine."}, {"id": "bad", "prompt": "A cat.", "questions": questions}]
    p = write_suite(tmp_path / "bad.jsonl", items)
    r = CliRunner().invoke(main, ["suites", "validate", str(p)])
    assert r.exit_code == 2, r.output
    assert f"{p}:3: item 'bad': " in r.output and message in r.output, r.output


@pytest.mark.parametrize("questions, message", BAD_QUESTIONS[:4])
def test_loading_a_suite_with_bad_questions_is_one_line(tmp_path: Path, questions, message):
    from click.testing import CliRunner

    from cli import main

    p = write_suite(tmp_path / "bad.jsonl", [{"id": "bad", "prompt": "A cat.", "questions": questions}])
    r = CliRunner().invoke(main, ["eval", "--model", "synth:oracle", "--suite", str(p), "--metric", "vqa",
                                  "--output", str(tmp_path / "runs"), "--no-progress"])
    assert r.exit_code == 2, r.output
    assert r.output.startswith(f"error: {p}:2: item 'bad': ") and message in r.output
    assert r.output.count("\n") == 1


def test_questions_do_not_change_existing_hashes():
    """Items without questions serialise as before (suite sha256 of every existing suite is unchanged)."""
    item = Item(id="a", prompt="x")
    assert "questions" not in item.to_dict()
    assert json.dumps(Item.from_dict({"id": "a", "prompt": "x"}).to_dict()) == '{"id": "a", "prompt": "x"}'


def test_parents_by_index_rejects_unknown():
    from longbench.judges.questions import VQAQuestion, parents_by_index

    with pytest.raises(LongbenchError, match="unknown question"):
        parents_by_index([VQAQuestion("1", "a?", ("2",))])
