"""Training configuration: one dataclass per stage, loaded from YAML and ``--set key=value`` overrides.

Every hyperparameter lives here and is written into the checkpoint manifest. Unknown keys are errors that
name the key (with a suggestion); values are checked against the field types and every number against its
range (``validate``; the limits that depend on the base model's noise schedule are checked by
``check_schedule`` once the base is loaded, before any step). Sections::

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
import logging
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError

logger = logging.getLogger(__name__)

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
    return _build(STAGE_CONFIGS[stage], data)


# ---------------------------------------------------------------------------------------------- checks
def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise LongbenchError(f"config: {msg}")


def _range(value: float, key: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False, why: str = "") -> None:
    """Raise naming ``key`` unless ``value`` lies in the interval (None: unbounded on that side)."""
    import math

    bad = not math.isfinite(value) if isinstance(value, float) else False
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        interval = (("(" if lo_open else "[") + ("-inf" if lo is None else f"{lo:g}") + ", "
                    + ("inf" if hi is None else str(hi) if isinstance(hi, int) else f"{hi:g}")
                    + (")" if hi_open or hi is None else "]"))
        raise LongbenchError(f"config: {key}={value!r} must lie in {interval}" + (f" ({why})" if why else ""))


def validate(stage: str, cfg: Any) -> None:
    """Value checks that need no files (files are checked when the data and models are opened).

    Every numeric key has a range; a value outside it is an error naming the key. Two settings that are
    legal but probably unintended are warnings: ``optim.warmup_steps`` beyond ``train.max_steps`` (legal
    because ``--resume`` may raise ``train.max_steps`` later) and a warmup with ``lr_scheduler=constant``
    (which ignores it).
    """
    from longbench.longsd.encoding import SPLITTER_NAMES, check_token_length

    t: TrainSection = cfg.train
    o: OptimSection = cfg.optim
    _range(t.seed, "train.seed", 0, 2 ** 63 - 1)
    _range(t.batch_size, "train.batch_size", 1)
    _range(t.gradient_accumulation_steps, "train.gradient_accumulation_steps", 1)
    _range(t.max_steps, "train.max_steps", 1)
    _range(t.save_every, "train.save_every", 0, why="0: only the final checkpoint")
    _range(t.state_every, "train.state_every", 0, why="0: only at the end")
    _check(t.mixed_precision in MIXED_PRECISION, f"train.mixed_precision={t.mixed_precision!r}: expected one of "
           f"{', '.join(MIXED_PRECISION)}")
    _range(o.learning_rate, "optim.learning_rate", 0, lo_open=True)
    _range(o.adam_beta1, "optim.adam_beta1", 0, 1, hi_open=True)
    _range(o.adam_beta2, "optim.adam_beta2", 0, 1, hi_open=True)
    _range(o.weight_decay, "optim.weight_decay", 0)
    _range(o.adam_epsilon, "optim.adam_epsilon", 0, lo_open=True)
    _range(o.max_grad_norm, "optim.max_grad_norm", 0, why="0: no clipping")
    _range(o.warmup_steps, "optim.warmup_steps", 0)
    _check(o.lr_scheduler in LR_SCHEDULERS, f"optim.lr_scheduler={o.lr_scheduler!r}: expected one of "
           f"{', '.join(LR_SCHEDULERS)}")
    if o.lr_scheduler == "constant" and o.warmup_steps > 0:
        logger.warning("config: optim.warmup_steps=%d is ignored by optim.lr_scheduler=constant (use "
                       "constant_with_warmup, or set optim.warmup_steps=0)", o.warmup_steps)
    elif o.warmup_steps > t.max_steps:
        logger.warning("config: optim.warmup_steps=%d exceeds train.max_steps=%d: the learning rate reaches only "
                       "%.3g of optim.learning_rate=%g by the last step", o.warmup_steps, t.max_steps,
                       t.max_steps / o.warmup_steps, o.learning_rate)
    if stage == "denscore":
        dn: DenscoreSection = cfg.denscore
        _check(bool(cfg.scorer.init), "scorer.init is required: the CLIP-style model to fine-tune (id or directory)")
        _check(bool(cfg.pairs.path), "pairs.path is required: a JSONL of {caption, image_0, image_1, label}")
        _range(cfg.pairs.limit, "pairs.limit", 0, why="0: all pairs")
        _range(cfg.pairs.num_workers, "pairs.num_workers", 0)
        _check(dn.splitter in SPLITTER_NAMES, f"denscore.splitter={dn.splitter!r}: expected one "
               f"of {', '.join(SPLITTER_NAMES)}")
        _range(dn.segment_weight, "denscore.segment_weight", 0, 1)
        _range(dn.crop_fraction, "denscore.crop_fraction", 0, 1, lo_open=True)
        _check(dn.train_text or dn.train_vision or dn.train_logit_scale,
               "denscore: nothing to train (train_text, train_vision and train_logit_scale are all false)")
        return
    m: ModelSection = cfg.model
    _check(bool(m.base or m.init_from), "model.base is required (a diffusers pipeline id or directory) unless "
           "model.init_from names a parent checkpoint")
    check_token_length(m.token_length, 77, "model.token_length")
    _check(m.splitter in SPLITTER_NAMES, f"model.splitter={m.splitter!r}: expected one of {', '.join(SPLITTER_NAMES)}")
    _check(not m.t5_adapter or bool(m.t5), "model.t5_adapter needs model.t5 (the T5 encoder)")
    _range(m.adapter_int_dim, "model.adapter_int_dim", 1)
    _range(m.adapter_dropout, "model.adapter_dropout", 0, 1, hi_open=True)
    lo: LoraSection = cfg.lora
    _check(lo.recipe in LORA_RECIPES, f"lora.recipe={lo.recipe!r}: expected one of {', '.join(LORA_RECIPES)}")
    _range(lo.rank, "lora.rank", 1)
    _range(lo.alpha, "lora.alpha", 0, why="0: alpha = rank")
    _range(lo.dropout if lo.dropout is not None else 0.0, "lora.dropout", 0, 1, hi_open=True)
    _check(lo.dropout_on in LORA_DROPOUT_ON, f"lora.dropout_on={lo.dropout_on!r}: expected one of "
           f"{', '.join(LORA_DROPOUT_ON)}")
    _check(not (lo.target_modules and lo.recipe != "default"), f"lora.target_modules cannot be combined with "
           f"lora.recipe={lo.recipe} (the recipe fixes its layers); use lora.recipe=default to list modules")
    d: DataSection = cfg.data
    _check(d.format in DATA_FORMATS, f"data.format={d.format!r}: expected one of {', '.join(DATA_FORMATS)}")
    _check(d.format == "synth" or bool(d.path), "data.path is required (a folder or a table of image paths and "
           "captions; or data.format=synth)")
    _check(d.resolution >= 8 and d.resolution % 8 == 0, f"data.resolution={d.resolution} must be a positive "
           "multiple of 8")
    _range(d.limit, "data.limit", 0, why="0: all rows")
    _range(d.num_workers, "data.num_workers", 0)
    _range(d.synth_size, "data.synth_size", 1)
    _range(d.synth_seed, "data.synth_seed", 0)
    if stage == "align":
        a: AlignSection = cfg.align
        _range(a.caption_dropout, "align.caption_dropout", 0, 1)
        _check(a.loss in ("l2", "huber"), f"align.loss={a.loss!r}: expected l2 or huber")
        _range(a.huber_c, "align.huber_c", 0, lo_open=True)
    if stage == "lcm":
        c: LcmSection = cfg.lcm
        _check(c.loss in ("l2", "huber"), f"lcm.loss={c.loss!r}: expected l2 or huber")
        _range(c.num_ddim_timesteps, "lcm.num_ddim_timesteps", 1)
        _range(c.guidance_scale, "lcm.guidance_scale", 0, why="classifier-free guidance weight w")
        _range(c.min_timestep, "lcm.min_timestep", 0)
        _range(c.timestep_scaling, "lcm.timestep_scaling", 0, lo_open=True)
        _range(c.huber_c, "lcm.huber_c", 0, lo_open=True)
    if stage in ("reward", "reward-lcm"):
        r: RewardSection = cfg.reward
        _check(bool(r.model), "reward.model is required (the preference model)")
        _check(r.splitter in SPLITTER_NAMES, f"reward.splitter={r.splitter!r}: expected one of "
               f"{', '.join(SPLITTER_NAMES)}")
        if not r.allow_any_omega:
            _range(r.omega, "reward.omega", 0, 1, why="1: the plain score; set reward.allow_any_omega=true to go "
                   "beyond")
        _range(r.crop_fraction, "reward.crop_fraction", 0, 1, lo_open=True)
        _range(r.rollout_steps, "reward.rollout_steps", 1)
        _range(r.grad_every, "reward.grad_every", 1)
        _range(r.guidance_scale, "reward.guidance_scale", 0, why="classifier-free guidance weight")
        _check(r.dtype in ("float32", "float16", "bfloat16"), f"reward.dtype={r.dtype!r}: expected float32, "
               "float16 or bfloat16")
    if stage == "reward-lcm":
        ts = cfg.reward_lcm.timesteps
        _check(bool(ts) and all(x >= 0 for x in ts) and ts == sorted(ts, reverse=True) and len(set(ts)) == len(ts),
               f"reward_lcm.timesteps={ts}: expected distinct decreasing timesteps ≥ 0")


def check_schedule(stage: str, cfg: Any, num_train_timesteps: int) -> None:
    """Checks against the base model's noise schedule (``num_train_timesteps`` steps), before any step."""
    T = num_train_timesteps
    where = f"the base scheduler has {T} training timesteps"
    if stage == "lcm":
        _range(cfg.lcm.num_ddim_timesteps, "lcm.num_ddim_timesteps", 1, T, why=f"{where}; each teacher step spans "
               "num_train_timesteps // num_ddim_timesteps of them")
        _range(cfg.lcm.min_timestep, "lcm.min_timestep", 0, T, hi_open=True, why=where)
    if stage == "reward":
        _range(cfg.reward.rollout_steps, "reward.rollout_steps", 1, T, why=f"{where}; the DDIM rollout steps by "
               "num_train_timesteps // rollout_steps")
    if stage == "reward-lcm":
        ts = cfg.reward_lcm.timesteps
        _check(all(x < T for x in ts), f"reward_lcm.timesteps={ts}: every timestep must be < {T} ({where})")
