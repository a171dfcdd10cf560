"""An example training stage that lives outside the package and registers through an entry point.

It fits ``y = slope · x`` with a one-weight linear model: the point is the wiring, not the model. A stage
is this one file — its config dataclass (shared sections + its own, with checks) and its ``Stage`` — plus an
entry point in the plugin's packaging::

    [project.entry-points."longbench.stages"]
    toy = "toy_stage:ToyStage"

after which ``longbench train --stage toy --set toy.slope=3`` loads, checks and trains it with the
trainer's loop, logging, state and resume. ``tests/test_longalign_stage_plugin.py`` installs it that way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from longalign.checks import check_range
from longalign.config import StageConfig
from longalign.sections import OptimSection, TrainSection
from longalign.stages.base import Stage


@dataclass
class ToySection:
    #: number of (x, y) points on [-1, 1]
    n: int = 16
    slope: float = 2.0

    def check(self) -> None:
        check_range(self.n, "toy.n", 1)


@dataclass
class ToyConfig(StageConfig):
    toy: ToySection = field(default_factory=ToySection)
    optim: OptimSection = field(default_factory=lambda: OptimSection(learning_rate=0.1, warmup_steps=0,
                                                                     lr_scheduler="constant", max_grad_norm=0.0))
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=4, max_steps=5))

    def check(self) -> None:
        super().check()
        self.toy.check()


class ToyStage(Stage):
    name: ClassVar[str] = "toy"
    config_class: ClassVar[type] = ToyConfig

    def setup(self) -> None:
        import torch

        t = self.cfg.toy
        self.model = torch.nn.Linear(1, 1, bias=False)
        xs = torch.linspace(-1.0, 1.0, t.n).tolist()
        self.rows = [{"x": x, "y": t.slope * x} for x in xs]

    def dataset(self) -> Any:
        return self.rows

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        return {k: torch.tensor([[e[k]] for e in examples]) for k in ("x", "y")}

    def trainable_modules(self) -> list[Any]:
        return [self.model]

    def training_step(self, batch: dict[str, Any], generator: Any) -> tuple[Any, dict[str, float]]:
        model = self.trainable_modules_prepared()[0]
        loss = ((model(batch["x"].to(self.accelerator.device)) - batch["y"].to(self.accelerator.device)) ** 2).mean()
        return loss, {}

    def save_checkpoint(self, target: Path, step: int) -> None:
        target.mkdir(parents=True, exist_ok=True)
        weight = float(self.accelerator.unwrap_model(self.model).weight.detach())
        (target / "toy.json").write_text(json.dumps({"step": step, "weight": weight}), encoding="utf-8")
