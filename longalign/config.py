"""Training configuration: one dataclass per stage, loaded from YAML and ``--set key=value`` overrides.

Every hyperparameter lives here and is written into the checkpoint manifest. Unknown keys are errors that
name the key (with a suggestion); values are checked against the field types, and every number against its
range by ``longalign.config_checks``. Sections::

    model:  base pipeline, parent checkpoint, segment encoding, optional T5 branch
    lora:   rank/alpha/targets of the LoRA added to the UNet
    data:   where the image-caption pairs come from (see longalign.data)
    optim:  AdamW, learning-rate schedule, gradient clipping
    train:  steps, batch size, precision, seeds, saving and logging cadence
    align / lcm / reward / reward_lcm:  the stage's own hyperparameters
    reward: also the preference model used by reward and reward-lcm

The ``denscore`` stage trains a preference model and has its own sections (``scorer``, ``pairs``,
``denscore``, ``optim``, ``train``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError

MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
DATA_FORMATS = ("auto", "folder", "jsonl", "csv", "parquet", "longalign", "synth")
#: lora.recipe → (dropout, where the dropout acts); the target layers are in longalign.lora_recipes
LORA_RECIPES = {"default": (0.0, "input"), "longalign": (0.1, "output")}
LORA_DROPOUT_ON = ("input", "output")
#: config keys naming files, directories or model ids: equal when they name the same path (``same_setting``)
PATH_KEYS = frozenset({"model.base", "model.init_from", "model.t5", "model.t5_adapter", "data.path",
                       "data.image_root", "reward.model", "reward.processor", "scorer.init", "scorer.processor",
                       "pairs.path", "pairs.image_root"})


@dataclass
class ModelSection:
    #: base diffusers pipeline: Hugging Face id (offline cache) or directory; taken from the parent if empty
    base: str = ""
    #: parent longSD checkpoint (align for lcm/reward, lcm for reward-lcm); fused into the UNet before training
    init_from: str = ""
    token_length: int = 240
    splitter: str = "longalign"
    #: T5 encoder (id or directory) enabling the T5 branch; empty disables it
    t5: str = ""
    #: pretrained adapter directory (e.g. LaVi-Bridge's t5_unet/adapter); a fresh adapter when empty
    t5_adapter: str = ""
    adapter_int_dim: int = 1024
    adapter_dropout: float = 0.1


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


@dataclass
class DataSection:
    format: str = "auto"
    #: file or directory (unused for ``synth``)
    path: str = ""
    #: directory image paths are relative to (default: the table file's directory)
    image_root: str = ""
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
    #: write a longSD checkpoint every N steps (0: only at the end)
    save_every: int = 0
    #: write the resumable accelerate state every N steps (always at the end)
    state_every: int = 100
    #: force CPU even when an accelerator is present
    cpu: bool = False


@dataclass
class AlignSection:
    caption_dropout: float = 0.1
    loss: str = "l2"
    huber_c: float = 0.001
    train_adapter: bool = True


@dataclass
class LcmSection:
    num_ddim_timesteps: int = 50
    guidance_scale: float = 7.5
    #: smallest start timestep sampled (the reference uses 10)
    min_timestep: int = 10
    timestep_scaling: float = 10.0
    loss: str = "huber"
    huber_c: float = 0.001


@dataclass
class RewardSection:
    #: preference model (id, directory or open_clip:ARCH:PATH)
    model: str = "luping-liu/Denscore"
    #: its processor; empty: the model's own (the LAION CLIP-H processor for the released Denscore)
    processor: str = ""
    #: score prompt segments (Denscore) or whole prompts truncated to the context (PickScore/CLIP style)
    segments: bool = True
    #: splitter of the reward's prompt segments
    splitter: str = "longalign"
    #: weight of the text-irrelevant component (1: plain score); must lie in [0, 1] unless allow_any_omega
    omega: float = 0.3
    #: accept omega outside [0, 1] (> 1 rewards the text-irrelevant part more than the plain score does,
    #: < 0 penalises it)
    allow_any_omega: bool = False
    #: crop this fraction of each side (randomly placed) before resizing, as the reference reward does
    crop_fraction: float = 504 / 512
    random_crop: bool = True
    dtype: str = "float32"
    #: DDIM rollout (reward stage)
    rollout_steps: int = 50
    guidance_scale: float = 7.5
    #: one gradient-carrying step per this many rollout steps, at one random offset
    grad_every: int = 10
    #: activation checkpointing of the gradient-carrying UNet calls
    checkpointing: bool = True


@dataclass
class RewardLcmSection:
    timesteps: list[int] = field(default_factory=lambda: [999, 749, 499, 249])


@dataclass
class DiffusionStageConfig:
    model: ModelSection = field(default_factory=ModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)


@dataclass
class AlignConfig(DiffusionStageConfig):
    align: AlignSection = field(default_factory=AlignSection)


@dataclass
class LcmConfig(DiffusionStageConfig):
    lcm: LcmSection = field(default_factory=LcmSection)


@dataclass
class RewardConfig(DiffusionStageConfig):
    reward: RewardSection = field(default_factory=RewardSection)
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=1))


@dataclass
class RewardLcmConfig(DiffusionStageConfig):
    reward: RewardSection = field(default_factory=RewardSection)
    reward_lcm: RewardLcmSection = field(default_factory=RewardLcmSection)


@dataclass
class ScorerSection:
    #: CLIP-style model to start from (id, directory) and its processor (default: the model's own)
    init: str = ""
    processor: str = ""


@dataclass
class PairsSection:
    #: JSONL of {caption, image_0, image_1, label: 0 | 1 | 0.5}
    path: str = ""
    image_root: str = ""
    limit: int = 0
    num_workers: int = 0


@dataclass
class DenscoreSection:
    splitter: str = "longalign"
    #: loss = w · segment-level loss + (1 − w) · prompt-level loss
    segment_weight: float = 0.5
    #: image preprocessing of the Denscore metric and the reward: crop this fraction of each side, resize
    #: to the model's image size (bilinear, antialiased), CLIP normalisation
    crop_fraction: float = 504 / 512
    #: place the crop at random (augmentation, as the reward does in training) instead of centred (the metric)
    random_crop: bool = False
    train_text: bool = True
    train_vision: bool = True
    train_logit_scale: bool = False


@dataclass
class DenscoreConfig:
    scorer: ScorerSection = field(default_factory=ScorerSection)
    pairs: PairsSection = field(default_factory=PairsSection)
    denscore: DenscoreSection = field(default_factory=DenscoreSection)
    optim: OptimSection = field(default_factory=lambda: OptimSection(learning_rate=3e-6, max_grad_norm=1.0,
                                                                     warmup_steps=500))
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=8))


STAGE_CONFIGS: dict[str, type] = {
    "align": AlignConfig, "lcm": LcmConfig, "reward": RewardConfig, "reward-lcm": RewardLcmConfig,
    "denscore": DenscoreConfig,
}


# ---------------------------------------------------------------------------------------------- building
def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unknown(key: str, known: list[str], prefix: str) -> LongbenchError:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
    return LongbenchError(f"unknown config key {prefix + key!r}{hint} (known in this section: {', '.join(known)})")


def _coerce(value: Any, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):  # ``X | None``: empty means "not set"
        inner = [t for t in typing.get_args(typ) if t is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return _coerce(value, inner[0], key)
    if origin is list:
        (inner,) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise LongbenchError(f"config key {key!r}: expected a list, got {value!r}")
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise LongbenchError(f"config key {key!r}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, str, float)):
            raise LongbenchError(f"config key {key!r}: expected an integer, got {value!r}")
        try:
            as_float = float(value)
        except ValueError:
            raise LongbenchError(f"config key {key!r}: expected an integer, got {value!r}") from None
        if not as_float.is_integer():
            raise LongbenchError(f"config key {key!r}: expected an integer, got {value!r}")
        return int(as_float)
    if typ is float:
        if isinstance(value, bool):
            raise LongbenchError(f"config key {key!r}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise LongbenchError(f"config key {key!r}: expected a number, got {value!r}") from None
    if typ is str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise LongbenchError(f"config key {key!r}: expected a string, got {value!r}")
        return str(value)
    raise LongbenchError(f"config key {key!r}: unsupported type {typ!r}")  # pragma: no cover


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, dict):
        raise LongbenchError(f"config section {prefix.rstrip('.') or 'root'!r}: expected a mapping, got {data!r}")
    fields = _fields(cls)
    obj = cls()
    for key, value in data.items():
        if key not in fields:
            raise _unknown(str(key), list(fields), prefix)
        typ = fields[key]
        if dataclasses.is_dataclass(typ):
            current = getattr(obj, key)
            merged = {**dataclasses.asdict(current), **(value or {})} if isinstance(value, dict) or value is None \
                else value
            setattr(obj, key, _build(typ, merged, f"{prefix}{key}."))
        else:
            setattr(obj, key, _coerce(value, typ, f"{prefix}{key}"))
    return obj


def parse_set(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → nested dict; values are parsed as YAML scalars/lists."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LongbenchError(f"--set {item!r}: expected KEY=VALUE (e.g. train.max_steps=100)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        except RecursionError:
            raise LongbenchError(f"--set {key}: the value is nested too deeply") from None
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise LongbenchError(f"--set {item!r}: {p!r} is set both as a value and a section")
        node[parts[-1]] = value
    return out


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(stage: str, path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Build the config of ``stage`` from a YAML file and ``--set`` overrides, then validate it.

    Raises:
        LongbenchError: unknown stage, unreadable YAML, unknown keys, wrong types or invalid values.
    """
    import yaml

    if stage not in STAGE_CONFIGS:
        raise LongbenchError(f"unknown stage {stage!r} (stages: {', '.join(STAGE_CONFIGS)})")
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise LongbenchError(f"config file {p} does not exist")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise LongbenchError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
        except UnicodeDecodeError as e:
            raise LongbenchError(f"{p}: not valid UTF-8 (byte {e.start})") from None
        except RecursionError:  # PyYAML composes nested nodes recursively
            raise LongbenchError(f"{p}: invalid YAML (nested too deeply)") from None
        if not isinstance(data, dict):
            raise LongbenchError(f"{p}: the config must be a mapping of sections")
        found = data.pop("stage", None)
        if found is not None and found != stage:
            raise LongbenchError(f"{p}: the file says stage {found!r} but --stage is {stage!r}")
    data = _deep_merge(data, parse_set(list(overrides)))
    from longalign.config_checks import validate

    cfg = _build(STAGE_CONFIGS[stage], data)
    resolve_recipe(cfg)
    validate(stage, cfg)
    return cfg


def resolve_recipe(cfg: Any) -> None:
    """Fill the LoRA settings left empty with the values of ``lora.recipe`` (so they are recorded)."""
    lo = getattr(cfg, "lora", None)
    if lo is None or lo.recipe not in LORA_RECIPES:
        return  # no LoRA (denscore), or an unknown recipe that validate reports
    dropout, position = LORA_RECIPES[lo.recipe]
    if lo.dropout is None:
        lo.dropout = dropout
    if not lo.dropout_on:
        lo.dropout_on = position


def same_setting(key: str, a: Any, b: Any) -> bool:
    """Whether two values of config key ``key`` mean the same (paths: the same file or directory, however
    written — relative to the working directory, absolute, with ``~`` or symlinks)."""
    if a == b:
        return True
    if key not in PATH_KEYS or not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return False
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_from_dict(stage: str, data: dict[str, Any]) -> Any:
    """Rebuild a config written into a manifest or the run directory."""
    cfg = _build(STAGE_CONFIGS[stage], data)
    resolve_recipe(cfg)
    return cfg
