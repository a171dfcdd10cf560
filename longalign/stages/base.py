"""The interface of a training stage: what the training loop (``longalign.trainer``) asks of it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator
    from torch import nn


class Stage(ABC):
    """One training stage. The trainer owns the loop, the optimizer, the state and the logs.

    A subclass sets ``name`` (its ``--stage`` name) and ``config_class`` (its config dataclass, a
    ``longalign.config.StageConfig``), and is registered in ``longalign.stages.STAGES``.
    """

    name: ClassVar[str] = ""
    #: the config dataclass of the stage (sections and checks)
    config_class: ClassVar[type]
    #: the stage averages gradients across processes itself (stages that call the unwrapped model)
    manual_grad_sync: ClassVar[bool] = False

    def __init__(self, cfg: Any, accelerator: Accelerator):
        self.cfg = cfg
        self.accelerator = accelerator

    @abstractmethod
    def setup(self) -> None:
        """Load models and data and check every input; nothing may be trained before this returns."""

    @abstractmethod
    def dataset(self) -> Any:
        """The map-style training dataset."""

    @abstractmethod
    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        """Collate function of the data loader."""

    def num_workers(self) -> int:
        """Worker processes of the data loader."""
        return 0

    @abstractmethod
    def trainable_modules(self) -> list[nn.Module]:
        """Modules holding trainable parameters, passed to ``accelerator.prepare`` (in this order)."""

    def set_prepared(self, modules: list[nn.Module]) -> None:
        """Receive the prepared (possibly wrapped) modules, in the order of ``trainable_modules``."""
        self.prepared = list(modules)

    def trainable_modules_prepared(self) -> list[nn.Module]:
        return list(getattr(self, "prepared", self.trainable_modules()))

    @abstractmethod
    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        """Loss of one micro-batch and extra values to log (means over the micro-batch)."""

    @abstractmethod
    def save_checkpoint(self, target: Path, step: int) -> None:
        """Write the stage's checkpoint directory (called on the main process)."""

    def trainable_named_parameters(self) -> dict[str, torch.nn.Parameter]:
        out = {}
        for i, module in enumerate(self.trainable_modules()):
            for n, p in module.named_parameters():
                if p.requires_grad:
                    out[f"{i}.{n}"] = p
        return out

    def state_parameters(self) -> dict[str, torch.nn.Parameter]:
        """Every trained weight the resumable state holds: the optimizer's (``trainable_named_parameters``), plus
        those of models the stage trains with an optimizer of its own (comat's discriminator)."""
        return self.trainable_named_parameters()

    def after_step(self) -> dict[str, float]:
        """Called on every micro-step after the loss's backward and the optimizer step (skipped by accelerate while
        gradients accumulate); a stage that trains a second model updates it here. Returns values to log."""
        return {}

    def describe_data(self) -> dict[str, Any]:
        return {}


class CaptionDataStage(Stage):
    """A stage whose data is ``cfg.data`` (captions with or without images, ``longalign.data.captions``),
    loaded into ``self._data`` by its ``setup``."""

    _data: Any

    def dataset(self) -> Any:
        return self._data

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        from longalign.data.captions import collate_pairs

        return collate_pairs(examples)

    def num_workers(self) -> int:
        return self.cfg.data.num_workers

    def describe_data(self) -> dict[str, Any]:
        return self._data.describe()
