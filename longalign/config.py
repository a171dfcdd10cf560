"""Training configuration: one dataclass per stage, loaded from YAML and ``--set key=value`` overrides.

Every hyperparameter lives here and is written into the checkpoint manifest. Unknown keys are errors that
name the key (with a suggestion); values are checked against the field types. Sections::

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
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError

MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
DATA_FORMATS = ("auto", "folder", "jsonl", "csv", "parquet", "longalign", "synth")
DEFAULT_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "conv1", "conv2",
                        "time_emb_proj"]


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
    rank: int = 32
    #: LoRA alpha; 0 means alpha = rank (scale 1)
    alpha: float = 0.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))


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
    warmup_steps: int = 2000


@dataclass
class TrainSection:
    seed: int = 0
    #: images per process per micro-step
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    #: optimizer steps
    max_steps: int = 1000
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
    #: weight of the text-irrelevant component (1: plain score)
    omega: float = 0.3
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
        if not isinstance(data, dict):
            raise LongbenchError(f"{p}: the config must be a mapping of sections")
        found = data.pop("stage", None)
        if found is not None and found != stage:
            raise LongbenchError(f"{p}: the file says stage {found!r} but --stage is {stage!r}")
    data = _deep_merge(data, parse_set(list(overrides)))
    cfg = _build(STAGE_CONFIGS[stage], data)
    validate(stage, cfg)
    return cfg


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_from_dict(stage: str, data: dict[str, Any]) -> Any:
    """Rebuild a config written into a manifest or the run directory."""
    return _build(STAGE_CONFIGS[stage], data)


# ---------------------------------------------------------------------------------------------- checks
def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise LongbenchError(f"config: {msg}")


def validate(stage: str, cfg: Any) -> None:
    """Value checks that need no files (files are checked when the data and models are opened)."""
    from longalign.encoding import SPLITTER_NAMES, check_token_length

    t: TrainSection = cfg.train
    o: OptimSection = cfg.optim
    _check(t.batch_size >= 1, f"train.batch_size={t.batch_size} must be ≥ 1")
    _check(t.gradient_accumulation_steps >= 1, "train.gradient_accumulation_steps must be ≥ 1")
    _check(t.max_steps >= 1, f"train.max_steps={t.max_steps} must be ≥ 1")
    _check(t.mixed_precision in MIXED_PRECISION, f"train.mixed_precision={t.mixed_precision!r}: expected one of "
           f"{', '.join(MIXED_PRECISION)}")
    _check(t.save_every >= 0 and t.state_every >= 0, "train.save_every and train.state_every must be ≥ 0")
    _check(o.learning_rate > 0, "optim.learning_rate must be > 0")
    _check(o.lr_scheduler in LR_SCHEDULERS, f"optim.lr_scheduler={o.lr_scheduler!r}: expected one of "
           f"{', '.join(LR_SCHEDULERS)}")
    _check(o.warmup_steps >= 0 and o.max_grad_norm >= 0, "optim.warmup_steps and optim.max_grad_norm must be ≥ 0")
    if stage == "denscore":
        _check(bool(cfg.scorer.init), "scorer.init is required: the CLIP-style model to fine-tune (id or directory)")
        _check(bool(cfg.pairs.path), "pairs.path is required: a JSONL of {caption, image_0, image_1, label}")
        _check(cfg.denscore.splitter in SPLITTER_NAMES, f"denscore.splitter={cfg.denscore.splitter!r}: expected one "
               f"of {', '.join(SPLITTER_NAMES)}")
        _check(0.0 <= cfg.denscore.segment_weight <= 1.0, "denscore.segment_weight must lie in [0, 1]")
        _check(cfg.denscore.train_text or cfg.denscore.train_vision or cfg.denscore.train_logit_scale,
               "denscore: nothing to train (train_text, train_vision and train_logit_scale are all false)")
        return
    m: ModelSection = cfg.model
    _check(bool(m.base or m.init_from), "model.base is required (a diffusers pipeline id or directory) unless "
           "model.init_from names a parent checkpoint")
    check_token_length(m.token_length, 77, "model.token_length")
    _check(m.splitter in SPLITTER_NAMES, f"model.splitter={m.splitter!r}: expected one of {', '.join(SPLITTER_NAMES)}")
    _check(not m.t5_adapter or bool(m.t5), "model.t5_adapter needs model.t5 (the T5 encoder)")
    _check(m.adapter_int_dim >= 1 and 0.0 <= m.adapter_dropout < 1.0, "model.adapter_int_dim ≥ 1 and "
           "0 ≤ model.adapter_dropout < 1")
    lo: LoraSection = cfg.lora
    _check(lo.rank >= 1, f"lora.rank={lo.rank} must be ≥ 1")
    _check(bool(lo.target_modules), "lora.target_modules must name at least one module")
    d: DataSection = cfg.data
    _check(d.format in DATA_FORMATS, f"data.format={d.format!r}: expected one of {', '.join(DATA_FORMATS)}")
    _check(d.format == "synth" or bool(d.path), "data.path is required (a folder or a table of image paths and "
           "captions; or data.format=synth)")
    _check(d.resolution >= 8 and d.resolution % 8 == 0, f"data.resolution={d.resolution} must be a multiple of 8")
    if stage == "align":
        a: AlignSection = cfg.align
        _check(0.0 <= a.caption_dropout <= 1.0, "align.caption_dropout must lie in [0, 1]")
        _check(a.loss in ("l2", "huber"), f"align.loss={a.loss!r}: expected l2 or huber")
    if stage == "lcm":
        c: LcmSection = cfg.lcm
        _check(c.loss in ("l2", "huber"), f"lcm.loss={c.loss!r}: expected l2 or huber")
        _check(c.num_ddim_timesteps >= 1, "lcm.num_ddim_timesteps must be ≥ 1")
        _check(0 <= c.min_timestep < 1000, "lcm.min_timestep must lie in [0, 1000)")
    if stage in ("reward", "reward-lcm"):
        r: RewardSection = cfg.reward
        _check(bool(r.model), "reward.model is required (the preference model)")
        _check(r.splitter in SPLITTER_NAMES, f"reward.splitter={r.splitter!r}: expected one of "
               f"{', '.join(SPLITTER_NAMES)}")
        _check(0.0 < r.crop_fraction <= 1.0, "reward.crop_fraction must lie in (0, 1]")
        _check(r.rollout_steps >= 1 and r.grad_every >= 1, "reward.rollout_steps and reward.grad_every must be ≥ 1")
        _check(r.dtype in ("float32", "float16", "bfloat16"), f"reward.dtype={r.dtype!r}: expected float32, "
               "float16 or bfloat16")
    if stage == "reward-lcm":
        ts = cfg.reward_lcm.timesteps
        _check(bool(ts) and all(0 <= x < 1000 for x in ts) and ts == sorted(ts, reverse=True) and len(set(ts)) ==
               len(ts), f"reward_lcm.timesteps={ts}: expected distinct decreasing timesteps in [0, 1000)")
