"""Which questions the ``vqa`` metric (:mod:`longbench.metrics.vqa`) asks of an item, prepared once per item:
the item's own or those generated from its facts (:mod:`longbench.judges.questions`; source ``auto``,
``suite`` or ``facts``), their dependency parents, where the CLIP context reads their facts, and how many
sentences the per-segment scores have; and the per-image record of the questions and their answers
(``details.vqa`` in samples.jsonl)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from longbench.errors import LongbenchError
from longbench.judges.questions import (
    QUESTION_SOURCES,
    VQAQuestion,
    item_questions,
    parents_by_index,
    question_last_tokens,
)


def check_source(source: str) -> str:
    """``source`` when it is a question source, else a one-line LongbenchError."""
    if source not in QUESTION_SOURCES:
        raise LongbenchError(f"vqa: questions must be one of {', '.join(QUESTION_SOURCES)}, got {source!r}")
    return source


def suite_categories(items: Iterable[Any], source: str) -> list[str]:
    """The categories of every question of ``items``, in order of first appearance (the suite fixes the
    ``vqa-hard:<category>`` columns, so ``--limit`` does not change which columns a run has)."""
    categories: list[str] = []
    for it in items:
        for q in item_questions(it, source):
            if q.category not in categories:
                categories.append(q.category)
    return categories


@dataclass(frozen=True)
class PreparedQuestions:
    """The questions asked of one item and what scoring needs besides the answers."""

    questions: list[VQAQuestion]
    parents: list[list[int]]  # indexes of each question's parent questions
    last_tokens: list[int | None]  # content-token index of the last token stating each question's fact
    n_sentences: int  # sentences of the per-segment scores (0 when no question is attached to a sentence)


class QuestionSelector:
    """Prepares the questions of items for one question ``source``; caches them by item id."""

    def __init__(self, source: str):
        self.source = check_source(source)
        self._prepared: dict[str, PreparedQuestions] = {}
        self._counter: Any = None  # a TokenCounter, loaded when a question carries a fact

    def prepare(self, item: Any) -> PreparedQuestions:
        """The questions of ``item`` (a bare item id has none)."""
        key = item if isinstance(item, str) else item.id
        if key not in self._prepared:
            if isinstance(item, str):
                self._prepared[key] = PreparedQuestions([], [], [], 0)
            else:
                qs = item_questions(item, self.source)
                if self._counter is None and any(q.fact is not None for q in qs):
                    from longbench.text.tokenizer import TokenCounter

                    self._counter = TokenCounter()
                self._prepared[key] = PreparedQuestions(qs, parents_by_index(qs),
                                                        question_last_tokens(item, qs, self._counter),
                                                        _n_sentences(item, qs))
        return self._prepared[key]


def _n_sentences(item: Any, qs: list[VQAQuestion]) -> int:
    if item.segments is not None:
        return len(item.segments)
    if not any(q.fact is not None for q in qs):
        return 0
    from longbench.text.splitters import split_default

    return len(split_default(item.prompt))


def answer_details(qs: Sequence[VQAQuestion], tile_answers: Sequence[Sequence[Any]], kinds_t: Sequence[Sequence[str]],
                   hard_t: Sequence[Sequence[float]], soft_t: Sequence[Sequence[float]], soft_known: bool
                   ) -> dict[str, Any]:
    """One image's ``details.vqa`` record (samples.jsonl): each question with the judge's answer, whether it is
    a yes, its hard (and, when the judge gives probabilities, soft) score — one value per tile for a grid."""
    one = len(tile_answers) == 1
    out = []
    for j, q in enumerate(qs):
        texts = [a[j].text for a in tile_answers]
        p = [a[j].p_yes for a in tile_answers]
        d: dict[str, Any] = {"id": q.id, "question": q.text, "category": q.category,
                             "answer": texts[0] if one else texts,
                             "yes": (kinds_t[0][j] == "yes") if one else [k[j] == "yes" for k in kinds_t],
                             "hard": hard_t[0][j] if one else [h[j] for h in hard_t]}
        if q.depends_on:
            d["depends_on"] = list(q.depends_on)
        if soft_known:
            d["p_yes"] = p[0] if one else p
            d["soft"] = soft_t[0][j] if one else [s[j] for s in soft_t]
        if any(k[j] == "other" for k in kinds_t):
            d["neither"] = True
        out.append(d)
    return {"questions": out}
