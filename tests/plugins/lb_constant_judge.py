"""An example VQA judge that lives outside the package and registers through an entry point
(``docs/architecture.md``, "A judge"): one module plus, in the plugin's packaging::

    [project.entry-points."longbench.judges"]
    constant = "lb_constant_judge:ConstantJudge"

after which ``longbench eval --metric vqa --metric-arg vqa.judge=constant:yes`` runs it. ``constant:TEXT``
answers TEXT to every question, with P(yes) 1 for "yes", 0 for "no" and none for anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from longbench.errors import LongbenchError
from longbench.judges.base import Answer, Judge, JudgeOptions, JudgeRequest


class ConstantJudge(Judge):
    kind = "constant"

    def __init__(self, text: str):
        self.text = text
        self.p_yes = {"yes": 1.0, "no": 0.0}.get(text.strip().lower())

    @classmethod
    def from_spec(cls, arg: str, options: JudgeOptions) -> ConstantJudge:
        if not arg.strip():
            raise LongbenchError("vqa: judge constant:TEXT needs the answer TEXT, e.g. constant:yes")
        return cls(arg)

    def answer(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        return [[Answer(self.text, self.p_yes) for _ in r.questions] for r in requests]

    def protocol(self) -> dict[str, Any]:
        return {"kind": self.kind, "answer": self.text}
