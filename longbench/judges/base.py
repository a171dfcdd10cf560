"""The judge contract and spec parsing.

A judge answers, for each request (one image, its questions, its suite item), one :class:`Answer` per
question: the generated text and, when the judge can tell, the soft score ``P(yes) / (P(yes) + P(no))``.
What counts as "yes" is decided by the metric (``longbench.metrics.functional.vqa.answer_kind``), so every
judge is scored by the same rule. ``protocol()`` returns what defines the judge's answers (weights id,
revision/sha256, prompt template, dtype, decoding); the metric copies it into the results.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.devices import Dtype
from longbench.errors import LongbenchError
from longbench.options import option

if TYPE_CHECKING:
    from longbench.judges.questions import VQAQuestion


@dataclass(frozen=True)
class Answer:
    """A judge's answer to one question.

    Attributes:
        text: the generated answer as the judge produced it.
        p_yes: ``P(yes) / (P(yes) + P(no))`` of the first answer token; None when the judge has no probabilities.
    """

    text: str
    p_yes: float | None = None


@dataclass(frozen=True)
class JudgeRequest:
    """One image and the questions to ask about it (``item``: its suite item, for judges that read it)."""

    image: Any
    questions: tuple[VQAQuestion, ...]
    item: Any = None


@dataclass
class JudgeOptions:
    """Options of every judge kind (each kind uses the ones that apply to it); declared once, listed by
    ``longbench metrics list`` (as ``vqa`` options) and coerced by :func:`longbench.options.build_options`."""

    device: str = option("cpu", "torch device of a model judge")
    dtype: Dtype = option("float32", "model dtype")
    batch_size: int = option(32, "questions per forward pass of a model judge")
    max_new_tokens: int = option(8, "decoding budget of a generated answer")
    prompt: str | None = option(None, "question template with {question} (not set: the judge kind's)")
    revision: str | None = option(None, "Hugging Face revision of hub weights (a commit or tag in the local cache)")
    processor: str | None = option(None, "processor spec when it differs from the model's")
    trust_remote_code: bool = option(False, "passed to transformers (only when the user asks)")
    one_at_a_time: bool = option(False, "ask every (image, question) pair with its own generate call (the "
                                         "reference loop; slow)")

    def validate(self) -> None:
        if self.batch_size < 1:
            raise LongbenchError(f"vqa: batch_size must be >= 1, got {self.batch_size}")
        if self.max_new_tokens < 1:
            raise LongbenchError(f"vqa: max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.prompt is not None and "{question}" not in self.prompt:
            raise LongbenchError(f"vqa: prompt {self.prompt!r} must contain '{{question}}'")


class Judge(ABC):
    """Answers yes/no questions about images."""

    kind: ClassVar[str] = ""

    @classmethod
    def from_spec(cls, arg: str, options: JudgeOptions) -> Judge:
        """Build the judge from the part of the spec after ``kind:`` and the options."""
        return cls()

    @abstractmethod
    def answer(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        """One list of answers per request, one answer per question, in order."""

    def protocol(self) -> dict[str, Any]:
        return {"kind": self.kind}


def check_answers(judge: str, requests: Sequence[JudgeRequest], answers: Any) -> list[list[Answer]]:
    """The judge's output in shape (one list per request, one :class:`Answer` per question) or a
    LongbenchError naming the judge."""
    answers = list(answers)
    if len(answers) != len(requests):
        raise LongbenchError(f"judge {judge}: {len(answers)} answer lists for {len(requests)} images")
    for k, (r, a) in enumerate(zip(requests, answers)):
        if len(a) != len(r.questions):
            raise LongbenchError(f"judge {judge}: {len(a)} answers for the {len(r.questions)} questions of image {k}")
    return [list(a) for a in answers]


def build_judge(spec: str, options: JudgeOptions | None = None) -> Judge:
    """A judge from its spec: ``synth``, ``python:MODULE:FN``, ``transformers:ID|DIR``, a plugin ``KIND:ARG``,
    or a bare Hugging Face id / local directory (a transformers judge).

    Raises:
        LongbenchError: an unknown kind or a bad argument; MissingWeightsError for weights not found offline.
    """
    from longbench.registry import JUDGES

    options = options or JudgeOptions()
    options.validate()
    spec = spec.strip()
    if not spec:
        raise LongbenchError("vqa: empty judge spec (use synth, python:MODULE:FN or transformers:ID|DIR)")
    kind, sep, arg = spec.partition(":")
    if kind in JUDGES and (sep or kind == "synth"):
        return JUDGES.get(kind).from_spec(arg, options)
    looks_local = spec.startswith((".", "/", "~")) or Path(spec).expanduser().exists()
    if looks_local or (not sep and spec.count("/") == 1):  # a local directory or a Hugging Face id
        return JUDGES.get("transformers").from_spec(spec, options)
    known = ", ".join(n + ("" if n == "synth" else ":...") for n in JUDGES.names())
    raise LongbenchError(f"vqa: unknown judge {spec!r} (use {known}, or a Hugging Face id / local directory)")
