"""``python:MODULE:FN`` — a Python callable answers the questions.

The callable is called once per batch as ``fn(images, questions)`` with ``images`` a list of RGB PIL images
and ``questions`` a list (per image) of lists of question texts. It returns, per image, one answer per
question: a string (the answer text; no soft score), a ``(text, p_yes)`` pair, or a mapping
``{"answer": text, "p_yes": float}``. ``p_yes`` must lie in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from longbench.errors import LongbenchError, Terminated, describe_exception
from longbench.judges.base import Answer, Judge, JudgeOptions, JudgeRequest, check_answers
from longbench.registry import import_string


class PythonJudge(Judge):
    kind: ClassVar[str] = "python"

    def __init__(self, target: str):
        if target.count(":") != 1:
            raise LongbenchError(f"vqa: judge python:{target}: expected python:MODULE:CALLABLE")
        self.target = target
        try:
            self.fn = import_string(target)
        except (LongbenchError, Terminated):
            raise
        except (Exception, SystemExit) as e:  # the user's module failed while importing: their error, not ours
            raise LongbenchError(f"vqa: judge python:{target}: importing the module raised "
                                 f"{describe_exception(e)}") from e
        if not callable(self.fn):
            raise LongbenchError(f"vqa: judge python:{target} is not callable")

    @classmethod
    def from_spec(cls, arg: str, options: JudgeOptions) -> PythonJudge:
        return cls(arg)

    def answer(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        try:
            raw = self.fn([r.image for r in requests], [[q.text for q in r.questions] for r in requests])
        except (LongbenchError, Terminated):
            raise
        except (Exception, SystemExit) as e:  # the user's judge failed (sys.exit too): bad input, not a bug or a gate
            raise LongbenchError(f"vqa: judge python:{self.target} raised {describe_exception(e)}") from e
        rows = check_answers(f"python:{self.target}", requests, raw)
        return [[self._one(a, i, j) for j, a in enumerate(row)] for i, row in enumerate(rows)]

    def _one(self, a: Any, i: int, j: int) -> Answer:
        where = f"judge python:{self.target}: image {i} question {j}"
        if isinstance(a, str):
            return Answer(a)
        if isinstance(a, Mapping):
            text, p = a.get("answer"), a.get("p_yes")
        elif isinstance(a, (tuple, list)) and len(a) == 2:
            text, p = a
        else:
            raise LongbenchError(f"{where}: expected a string, (text, p_yes) or {{'answer', 'p_yes'}}, got {a!r}")
        if not isinstance(text, str):
            raise LongbenchError(f"{where}: answer text must be a string, got {text!r}")
        if p is not None:
            try:
                p = float(p)
            except (TypeError, ValueError):
                raise LongbenchError(f"{where}: p_yes must be a number, got {p!r}") from None
            if not (math.isfinite(p) and 0.0 <= p <= 1.0):
                raise LongbenchError(f"{where}: p_yes must lie in [0, 1], got {p}")
        return Answer(text, p)

    def protocol(self) -> dict[str, Any]:
        return {"kind": self.kind, "callable": self.target}
