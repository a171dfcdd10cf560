"""``synth`` — the exact judge of the synthetic world.

It reads the image with the exact scene reader (``longbench.synth.detect``) and answers each question by
checking the fact the question was made from against what it read (``longbench.synth.check.fact_holds``):
"yes" when the fact holds, else "no", with ``p_yes`` 1 or 0 (the reader is exact, so it is certain). It
only answers questions that carry a fact of a synthetic item (those generated from ``synth-v0`` facts, or a
suite question with ``fact``); anything else is a LongbenchError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from longbench.errors import LongbenchError
from longbench.judges.base import Answer, Judge, JudgeOptions, JudgeRequest


class SynthJudge(Judge):
    """Answers from the exact scene reader.

    Args:
        image_size: side to which non-square images are resized before reading (the detector's rule).
    """

    kind: ClassVar[str] = "synth"

    def __init__(self, image_size: int | None = None):
        from longbench.synth.detect import Detector
        from longbench.synth.world import BASE_SIZE

        self.detector = Detector(image_size or BASE_SIZE)

    @classmethod
    def from_spec(cls, arg: str, options: JudgeOptions) -> SynthJudge:
        if arg:
            raise LongbenchError(f"vqa: the synth judge takes no argument, got synth:{arg}")
        return cls()

    def answer(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        from longbench.synth.check import fact_holds
        from longbench.synth.views import check_facts, item_scene

        out = []
        for r in requests:
            if r.item is None:
                raise LongbenchError("synth judge: needs the suite item of each image")
            scene = item_scene(r.item)
            check_facts(r.item, scene)
            detection = self.detector.detect(r.image)
            answers = []
            for q in r.questions:
                if q.fact is None:
                    raise LongbenchError(
                        f"synth judge: question {q.id!r} of item {r.item.id!r} ({q.text!r}) carries no fact; the "
                        f"exact judge answers only questions about the facts of synthetic items")
                holds = fact_holds(q.fact, scene, detection)
                answers.append(Answer("yes" if holds else "no", 1.0 if holds else 0.0))
            out.append(answers)
        return out

    def protocol(self) -> dict[str, Any]:
        from longbench.synth.detect import DETECTOR_VERSION

        return {"kind": self.kind, "reader": "longbench.synth.detect (exact)", "detector_version": DETECTOR_VERSION,
                "image_size": self.detector.image_size, "answers": "yes when the question's fact holds, else no",
                "p_yes": "1 or 0"}
