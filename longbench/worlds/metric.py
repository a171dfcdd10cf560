"""The per-fact metric of a scene world: read each image back exactly, check each of the item's facts.

Columns (``longbench.metrics.functional.synth``), per image the fraction of its facts of a kind that
hold (NaN when it has none), averaged over images: ``fact_recall`` (all facts), ``count_acc``,
``binding_acc`` (attribute facts), ``position_acc`` (spatial facts), each also as ``<column>@<=77`` /
``<column>@>77``: only the facts whose every token lies inside / not inside CLIP's 77 positions
(``tokens.fact_last_tokens``, ``tokens.visible``: the rule by which ``<world>:clip77`` decides what to
draw). ``per_segment()`` gives, per image, the fraction of each sentence's facts that hold (NaN for
sentences without facts).

A world's metric subclasses :class:`SceneFactsMetric` with its ``world``, a reader (:meth:`read`), how a
fact is checked against what it read (:meth:`holds`) and its ``protocol()``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.metrics.base import PerSampleMetric, Scores
from longbench.metrics.functional.synth import COLUMNS, fact_scores, sentence_scores
from longbench.worlds.tokens import fact_last_tokens, visible

if TYPE_CHECKING:
    from longbench.suites.base import Fact
    from longbench.text.tokenizer import TokenCounter
    from longbench.worlds.world import World


class SceneFactsMetric(PerSampleMetric):
    """Fact recall, count accuracy, attribute binding and position accuracy of a scene world's images,
    overall and split by whether every token of the fact lies within CLIP's 77 positions or not."""

    world: ClassVar[World]
    columns: ClassVar[dict[str, bool]] = {col: True for col in COLUMNS}
    has_segments: ClassVar[bool] = True

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._counter: TokenCounter | None = None  # CLIP tokens of the prompts, built on first use

    @abstractmethod
    def read(self, image: Any) -> Any:
        """What the world's exact reader sees in ``image``."""

    @abstractmethod
    def holds(self, fact: Fact, scene: Any, reading: Any) -> bool:
        """Whether ``fact`` (about a group of ``scene``) holds in ``reading``."""

    def _last_tokens(self, item: Any) -> list[int]:
        if self._counter is None:
            from longbench.text.tokenizer import TokenCounter

            self._counter = TokenCounter()
        return fact_last_tokens(item, self._counter)

    def score(self, images: Sequence[Any], items: Sequence[Any]) -> Scores:
        out: dict[str, list[float]] = {col: [] for col in self.columns}
        segments: list[list[float]] = []
        for image, item in zip(images, items):
            scene = self.world.item_scene(item)
            self.world.check_facts(item, scene)
            inside = [visible(t) for t in self._last_tokens(item)]
            reading = self.read(image)
            holds = [self.holds(f, scene, reading) for f in item.facts]
            for col, value in fact_scores([f.type for f in item.facts], holds, inside).items():
                out[col].append(value)
            n_seg = len(item.segments) if item.segments is not None else 0
            segments.append(sentence_scores([f.sentence for f in item.facts], holds, n_seg))
        return Scores(out, segments)
