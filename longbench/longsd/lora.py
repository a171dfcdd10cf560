"""The UNet LoRA of longSD checkpoints, as peft/diffusers state dicts.

Keys are peft module paths without the adapter name (``down_blocks.0.resnets.0.conv1.lora_A.weight``);
``lora_B`` carries the ``alpha/rank`` scale, so every LoRA here means ``W' = W + B @ A`` (for convolutions
with ``B``, ``A`` flattened to matrices). Stacking two such LoRAs along the rank axis gives one LoRA equal to
their sum, which is how a stage trained on a parent stores the whole difference from the base.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.longsd.checkpoint import LORA_WEIGHT_NAME

if TYPE_CHECKING:
    import torch
    from torch import nn


def lora_state_dict(unet: nn.Module, adapter_name: str) -> dict[str, torch.Tensor]:
    """The adapter's LoRA tensors (peft names, no adapter name) with ``alpha/rank`` folded into ``lora_B``."""
    from peft.tuners.lora import LoraLayer
    from peft.utils import get_peft_model_state_dict

    sd = {k: v.detach().float().cpu().clone() for k, v in get_peft_model_state_dict(
        unet, adapter_name=adapter_name).items()}
    scales = {}
    for name, module in unet.named_modules():
        if isinstance(module, LoraLayer) and adapter_name in module.scaling:
            scales[name] = float(module.scaling[adapter_name])
    for key in list(sd):
        if ".lora_B." in key:
            module = key.split(".lora_B.")[0]
            sd[key] = sd[key] * scales.get(module, 1.0)
    return sd


def _read_lora_file(f: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for k, v in load_file(str(f)).items():
        if not k.startswith("unet."):
            raise LongbenchError(f"{f}: unexpected key {k!r} (longSD LoRAs hold UNet weights only)")
        out[k[len("unet."):]] = v.float()
    return out


def lora_parent_dir(spec: str, ckpt_dir: Path) -> Path:
    """The directory of a shipped checkpoint's ``lora_parent`` (a ``mini:`` name in the zoo ``ckpt_dir`` sits in)."""
    from longbench.mini import zoo

    if not zoo.is_zoo_spec(spec):
        raise LongbenchError(f"{ckpt_dir}: lora_parent {spec!r} is not a zoo model name (mini:NAME)")
    return zoo.model_dir(spec[len(zoo.PREFIX):], ckpt_dir.parent)


def read_lora(ckpt_dir: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The UNet LoRA of a checkpoint, the whole difference from the base, keys without the ``unet.`` prefix: a
    shipped delta (manifest ``lora_parent``) is stacked onto its parent's LoRA, the parent's ranks first."""
    from longbench.longsd.checkpoint import own_lora_name, read_manifest

    m = read_manifest(ckpt_dir)
    d = Path(m["_dir"])
    own = _read_lora_file(d / own_lora_name(m))
    if not m.get("lora_parent"):
        return own
    parent = read_lora(lora_parent_dir(m["lora_parent"], d))
    ranks = lora_rank_summary(parent)["ranks"]
    if ranks != [m.get("lora_parent_rank")]:
        raise LongbenchError(f"{d}: lora_parent {m['lora_parent']} has LoRA ranks {ranks}, the manifest expects "
                             f"{m.get('lora_parent_rank')!r}")
    return stack_loras(parent, own)


def stack_loras(parent: dict[str, torch.Tensor], new: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One LoRA equal to the sum of two scale-folded LoRAs: A stacked on the rank axis, B side by side."""
    import torch

    out = dict(parent)
    for key, value in new.items():
        if key not in out:
            out[key] = value
        elif ".lora_A." in key:
            out[key] = torch.cat([out[key], value], dim=0)
        elif ".lora_B." in key:
            out[key] = torch.cat([out[key], value], dim=1)
        else:
            raise LongbenchError(f"cannot stack LoRA tensor {key!r} (only lora_A/lora_B weights are supported)")
    return out


def split_lora(whole: dict[str, torch.Tensor], rank: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The inverse of :func:`stack_loras`: the leading ``rank`` ranks of every tensor and the rest."""
    head, rest = {}, {}
    for key, value in whole.items():
        if ".lora_A." not in key and ".lora_B." not in key:
            raise LongbenchError(f"cannot split LoRA tensor {key!r} (only lora_A/lora_B weights are supported)")
        dim = 0 if ".lora_A." in key else 1
        head[key] = value.narrow(dim, 0, rank)
        rest[key] = value.narrow(dim, rank, value.shape[dim] - rank)
    return head, rest


def lora_rank_summary(sd: dict[str, torch.Tensor]) -> dict[str, Any]:
    ranks = sorted({int(v.shape[0]) for k, v in sd.items() if ".lora_A." in k})
    modules = sorted({k.split(".lora_")[0].rsplit(".", 1)[-1] for k in sd if ".lora_A." in k})
    return {"ranks": ranks, "module_types": modules, "tensors": len(sd)}


def fuse_checkpoint_lora(unet: nn.Module, ckpt_dir: str | os.PathLike) -> None:
    """Merge a checkpoint's LoRA into the UNet's weights (diffusers load → fuse → unload)."""
    name = "longsd_parent"
    unet.load_lora_adapter({f"unet.{k}": v for k, v in read_lora(ckpt_dir).items()}, prefix="unet", adapter_name=name)
    unet.fuse_lora(adapter_names=[name])
    unet.unload_lora()
