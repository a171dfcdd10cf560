"""The interface of a training reward: what the reward stages ask of it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator


class TrainingReward(ABC):
    """A differentiable reward of generated images against their prompts.

    A subclass declares ``name`` (its ``reward.kind``) and the defaults of the ``reward`` settings left empty
    (``default_model``, ``default_splitter``, ``default_crop_fraction``), builds itself from the section with
    :meth:`build`, and is registered in ``longalign.rewards.REWARDS``.
    """

    name: ClassVar[str] = ""
    #: weights used when ``reward.model`` is empty
    default_model: ClassVar[str] = ""
    #: segment splitter used when ``reward.splitter`` is empty
    default_splitter: ClassVar[str] = "default"
    #: crop fraction used when ``reward.crop_fraction`` is empty
    default_crop_fraction: ClassVar[float] = 1.0

    @classmethod
    @abstractmethod
    def build(cls, cfg: Any, device: Any) -> TrainingReward:
        """The reward of a (resolved) ``reward`` config section, its model loaded offline on ``device``."""

    @abstractmethod
    def __call__(self, images: torch.Tensor, prompts: Sequence[str], *, accelerator: Accelerator | None = None,
                 generator: torch.Generator | None = None) -> dict[str, Any]:
        """Score float (B,3,H,W) images in [0,1]: ``reward`` is the differentiable (B,) per-image reward; other
        keys are detached statistics."""

    @abstractmethod
    def loss(self, out: dict[str, Any]) -> torch.Tensor:
        """The scalar loss the stage minimises, from the output of :meth:`__call__`."""

    def log_values(self, out: dict[str, Any]) -> dict[str, float | str]:
        """Values written to the training log (means over the micro-batch; strings must agree across processes)."""
        return {"reward": float(out["reward"].detach().mean())}
