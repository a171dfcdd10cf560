"""The configuration sections shared by the training stages, each with its own value checks.

A stage's config (``longalign.config.StageConfig``) composes these with its own section::

    model:  base pipeline, parent checkpoint, segment encoding, optional T5 branch
    lora:   rank/alpha/targets of the LoRA added to the UNet
    data:   where the image-caption pairs come from (see longalign.data)
    optim:  AdamW, learning-rate schedule, gradient clipping
    train:  steps, batch size, precision, seeds, saving and logging cadence

``check()`` needs no files or models (files are checked when the data and models are opened). Fields
naming a file, directory or model id carry ``metadata=PATH`` so a resumed run compares them as paths.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from longalign.checks import check_range, require, require_choice

logger = logging.getLogger(__name__)

MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
DATA_FORMATS = ("auto", "folder", "jsonl", "csv", "parquet", "longalign", "synth", "mini")
#: lora.recipe → (dropout, where the dropout acts); the target layers are in longalign.lora_recipes
LORA_RECIPES = {"default": (0.0, "input"), "longalign": (0.1, "output")}
LORA_DROPOUT_ON = ("input", "output")
#: field metadata of settings naming a file, directory or model id (``longalign.config.same_setting``)
PATH: dict[str, Any] = {"path": True}


def path_field(default: str = "") -> Any:
    """A string field naming a file, directory or model id."""
    return field(default=default, metadata=PATH)


def check_splitter(name: str, key: str) -> None:
    """``key`` must name a segment splitter of the library."""
    from longbench.text.splitters import SPLITTERS

    require_choice(name, key, tuple(SPLITTERS))


def check_mini_seed(seed: int, key: str) -> None:
    """A training seed of the miniature world: ≥ 0 and not a test split's (``mini-v0``, ``mini-v1``)."""
    from longbench.mini.suite import TEST_SPLITS

    check_range(seed, key, 0)
    for split in TEST_SPLITS.values():
        require(seed != split.seed, f"{key}={seed} is the {split.name} test split's seed; pick another")


def check_mini_layout(layout: str, key: str) -> None:
    """A scene layout of the miniature world (``free``: mini-v0; ``homes``: mini-v1)."""
    from longbench.mini.world import LAYOUTS

    require_choice(layout, key, LAYOUTS)


@dataclass
class ModelSection:
    #: base diffusers pipeline: Hugging Face id (offline cache) or directory; taken from the parent if empty
    base: str = path_field()
    #: parent longSD checkpoint (align for lcm/reward, lcm for reward-lcm); fused into the UNet before training
    init_from: str = path_field()
    token_length: int = 240
    splitter: str = "longalign"
    #: how segments become one context: longalign (start + words, padding embedding) or naive (whole segments
    #: concatenated, the encoder's own padding states: the paper's encoding ablation); longbench.longsd.encoding
    merge: str = "longalign"
    #: T5 encoder (id or directory) enabling the T5 branch; empty disables it
    t5: str = path_field()
    #: pretrained adapter directory (e.g. LaVi-Bridge's t5_unet/adapter); a fresh adapter when empty
    t5_adapter: str = path_field()
    adapter_int_dim: int = 1024
    adapter_dropout: float = 0.1

    def check(self) -> None:
        from longbench.longsd.encoding import check_merge, check_token_length

        require(bool(self.base or self.init_from), "model.base is required (a diffusers pipeline id or directory) "
                "unless model.init_from names a parent checkpoint")
        check_token_length(self.token_length, 77, "model.token_length")
        check_splitter(self.splitter, "model.splitter")
        check_merge(self.merge, "model.merge")
        require(not self.t5_adapter or bool(self.t5), "model.t5_adapter needs model.t5 (the T5 encoder)")
        check_range(self.adapter_int_dim, "model.adapter_int_dim", 1)
        check_range(self.adapter_dropout, "model.adapter_dropout", 0, 1, hi_open=True)


@dataclass
class LoraSection:
    #: which UNet layers get a LoRA and how dropout acts: ``default`` (this project's) or ``longalign`` (the
    #: reference code's); see longalign.lora_recipes and docs/training.md
    recipe: str = "default"
    rank: int = 32
    #: LoRA alpha; 0 means alpha = rank (scale 1)
    alpha: float = 0.0
    #: dropout probability; empty: the recipe's (default 0, longalign 0.1)
    dropout: float | None = None
    #: ``input`` (peft: dropout on the layer input of the LoRA branch) or ``output`` (the reference: on the
    #: branch output); empty: the recipe's
    dropout_on: str = ""
    #: peft target module names (suffixes such as ``to_q``); empty: the recipe's. Only with recipe ``default``.
    target_modules: list[str] = field(default_factory=list)

    def resolve(self) -> None:
        """Fill the settings left empty with the values of ``recipe`` (so they are recorded)."""
        if self.recipe not in LORA_RECIPES:
            return  # check() reports it
        dropout, position = LORA_RECIPES[self.recipe]
        if self.dropout is None:
            self.dropout = dropout
        if not self.dropout_on:
            self.dropout_on = position

    def check(self) -> None:
        require_choice(self.recipe, "lora.recipe", tuple(LORA_RECIPES))
        check_range(self.rank, "lora.rank", 1)
        check_range(self.alpha, "lora.alpha", 0, why="0: alpha = rank")
        check_range(self.dropout if self.dropout is not None else 0.0, "lora.dropout", 0, 1, hi_open=True)
        require_choice(self.dropout_on, "lora.dropout_on", LORA_DROPOUT_ON)
        require(not (self.target_modules and self.recipe != "default"), f"lora.target_modules cannot be combined "
                f"with lora.recipe={self.recipe} (the recipe fixes its layers); use lora.recipe=default to list "
                "modules")


@dataclass
class DataSection:
    format: str = "auto"
    #: file or directory (unused for ``synth``)
    path: str = path_field()
    #: directory image paths are relative to (default: the table file's directory)
    image_root: str = path_field()
    image_column: str = "image"
    caption_column: str = "caption"
    resolution: int = 512
    random_flip: bool = False
    #: use only the first N rows (0: all)
    limit: int = 0
    num_workers: int = 0
    #: synth: number of scenes and the seed of the scene sampler
    synth_size: int = 256
    synth_seed: int = 0
    #: mini: number of training items, their seed (never mini-v0's) and the text of each element
    #: (prompt | short | sentences | sentences+prompt; longalign.data.mini)
    mini_size: int = 2048
    mini_seed: int = 1
    mini_captions: str = "prompt"
    #: mini: also serve each element's twin, its item with a stated fact broken (clip's hard negatives)
    mini_twins: bool = False
    #: mini: the scenes' layout: free (mini-v0) or homes (mini-v1: each shape in its home quadrant, no places
    #: stated); the stages' held-out checks draw the same layout
    mini_layout: str = "free"

    def check(self) -> None:
        require_choice(self.format, "data.format", DATA_FORMATS)
        require(self.format in ("synth", "mini") or bool(self.path), "data.path is required (a folder or a table "
                "of image paths and captions; or data.format=synth or mini)")
        require(self.resolution >= 8 and self.resolution % 8 == 0, f"data.resolution={self.resolution} must be a "
                "positive multiple of 8")
        check_range(self.limit, "data.limit", 0, why="0: all rows")
        check_range(self.num_workers, "data.num_workers", 0)
        check_range(self.synth_size, "data.synth_size", 1)
        check_range(self.synth_seed, "data.synth_seed", 0)
        check_range(self.mini_size, "data.mini_size", 1)
        check_mini_seed(self.mini_seed, "data.mini_seed")
        from longalign.data.mini import MINI_CAPTIONS

        require_choice(self.mini_captions, "data.mini_captions", MINI_CAPTIONS)
        require(not self.mini_twins or self.format == "mini", "data.mini_twins needs data.format=mini")
        check_mini_layout(self.mini_layout, "data.mini_layout")


@dataclass
class OptimSection:
    learning_rate: float = 3e-5
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 0.3
    lr_scheduler: str = "constant_with_warmup"
    #: the reference's 2000 (warnings when it exceeds train.max_steps, or is set with lr_scheduler=constant)
    warmup_steps: int = 2000

    def check(self, max_steps: int) -> None:
        """Ranges, plus warnings for two legal but probably unintended settings: a warmup beyond
        ``max_steps`` (legal because ``--resume`` may raise ``train.max_steps`` later) and a warmup with
        ``lr_scheduler=constant`` (which ignores it)."""
        check_range(self.learning_rate, "optim.learning_rate", 0, lo_open=True)
        check_range(self.adam_beta1, "optim.adam_beta1", 0, 1, hi_open=True)
        check_range(self.adam_beta2, "optim.adam_beta2", 0, 1, hi_open=True)
        check_range(self.weight_decay, "optim.weight_decay", 0)
        check_range(self.adam_epsilon, "optim.adam_epsilon", 0, lo_open=True)
        check_range(self.max_grad_norm, "optim.max_grad_norm", 0, why="0: no clipping")
        check_range(self.warmup_steps, "optim.warmup_steps", 0)
        require_choice(self.lr_scheduler, "optim.lr_scheduler", LR_SCHEDULERS)
        if self.lr_scheduler == "constant" and self.warmup_steps > 0:
            logger.warning("config: optim.warmup_steps=%d is ignored by optim.lr_scheduler=constant (use "
                           "constant_with_warmup, or set optim.warmup_steps=0)", self.warmup_steps)
        elif self.warmup_steps > max_steps:
            logger.warning("config: optim.warmup_steps=%d exceeds train.max_steps=%d: the learning rate reaches "
                           "only %.3g of optim.learning_rate=%g by the last step", self.warmup_steps, max_steps,
                           max_steps / self.warmup_steps, self.learning_rate)


@dataclass
class TrainSection:
    seed: int = 0
    #: images per process per micro-step
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    #: optimizer steps (default: the length of the reference's reward run, sd15-reward-3750)
    max_steps: int = 3750
    mixed_precision: str = "no"
    #: UNet-wide activation checkpointing (align, lcm)
    gradient_checkpointing: bool = False
    #: write a checkpoint every N steps (0: only at the end)
    save_every: int = 0
    #: write the resumable accelerate state every N steps (always at the end)
    state_every: int = 100
    #: force CPU even when an accelerator is present
    cpu: bool = False

    def check(self) -> None:
        check_range(self.seed, "train.seed", 0, 2 ** 63 - 1)
        check_range(self.batch_size, "train.batch_size", 1)
        check_range(self.gradient_accumulation_steps, "train.gradient_accumulation_steps", 1)
        check_range(self.max_steps, "train.max_steps", 1)
        check_range(self.save_every, "train.save_every", 0, why="0: only the final checkpoint")
        check_range(self.state_every, "train.state_every", 0, why="0: only at the end")
        require_choice(self.mixed_precision, "train.mixed_precision", MIXED_PRECISION)
