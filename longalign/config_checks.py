"""Value checks of the training configuration: every number has a range, errors name the key.

``validate`` runs when a config is loaded (no files or models needed); ``check_schedule`` runs as soon as
the base model's noise schedule is known (``num_train_timesteps``), still before any training step.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from longalign.config import (
    DATA_FORMATS,
    LORA_DROPOUT_ON,
    LORA_RECIPES,
    LR_SCHEDULERS,
    MIXED_PRECISION,
    AlignSection,
    DataSection,
    DenscoreSection,
    LcmSection,
    LoraSection,
    ModelSection,
    OptimSection,
    RewardSection,
    TrainSection,
)
from longbench.errors import LongbenchError

logger = logging.getLogger(__name__)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise LongbenchError(f"config: {msg}")


def _range(value: float, key: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False, why: str = "") -> None:
    """Raise naming ``key`` unless ``value`` lies in the interval (None: unbounded on that side)."""
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
