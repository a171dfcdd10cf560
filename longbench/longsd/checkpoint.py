"""longSD checkpoints: a LoRA in the diffusers/peft format, an optional T5 adapter, and a manifest.

Layout of a checkpoint directory::

    manifest.json                        format, stage, step, base model (+ identity probe), encoder
                                         (token_length, splitter, T5), inference defaults, lineage,
                                         the full training config, longbench version
    pytorch_lora_weights.safetensors     UNet LoRA, loadable by plain diffusers ``load_lora_weights``
    t5_adapter/                          T5Adapter ``save_pretrained`` (only with the T5 branch)

The saved LoRA is always the whole difference from the *base* pipeline: a stage trained on top of a parent
checkpoint (e.g. reward on align) stores the parent's LoRA and its own side by side along the rank axis
(``[B_p, B_n] @ [A_p; A_n] = B_p A_p + B_n A_n``), with each LoRA's ``alpha/rank`` scale folded into ``B``,
so one ``load_lora_weights(dir)`` reproduces the trained model exactly, without any chain of files.

The one exception is a *shipped* checkpoint whose parent ships beside it (``longbench train mini-ship``: the
reward models on ``mini:longsd``, to fit the zoo's size budget). It stores only its own rank slice, as
``lora_delta/pytorch_lora_weights.safetensors``, and names the parent in the manifest (``lora_parent``, a
``mini:`` zoo name resolved in the zoo the checkpoint sits in); :func:`longbench.longsd.lora.read_lora` stacks the
two back into the whole LoRA. The slice sits in a sub-directory so that a plain ``load_lora_weights(dir)`` finds
no weights and fails instead of loading part of the model; plain diffusers loads the parent and the slice as two
adapters, both on (docs/mini.md, "The zoo").

Checkpoints remember their base through a *probe* (strided samples of a few base weights plus the
architecture) and refuse to load onto another base model.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

FORMAT = "longsd"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
#: a shipped checkpoint's own rank slice on top of its ``lora_parent`` (module docstring)
LORA_DELTA_NAME = "lora_delta/pytorch_lora_weights.safetensors"
ADAPTER_DIR = "t5_adapter"
PROBE_POINTS = 16
_ARCH_KEYS_UNET = ("in_channels", "out_channels", "cross_attention_dim", "block_out_channels", "layers_per_block")
_ARCH_KEYS_TEXT = ("hidden_size", "num_hidden_layers", "vocab_size")


# ---------------------------------------------------------------------------------------------- reading
def find_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint directory for ``path``: the directory itself, or ``final/`` of a training run."""
    p = Path(path).expanduser()
    if (p / MANIFEST).is_file():
        return p
    if (p / "final" / MANIFEST).is_file():
        return p / "final"
    if not p.exists():
        raise LongbenchError(f"longSD checkpoint {p} does not exist")
    raise LongbenchError(f"{p} is not a longSD checkpoint (no {MANIFEST}, no final/{MANIFEST} of a training run, "
                         "and no s<N>_lora_vis.pt of the LongAlign release)")


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check the manifest of a checkpoint directory (or training run directory)."""
    from longbench import jsonio

    d = find_checkpoint(path)
    f = d / MANIFEST
    m = jsonio.read_json(f)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise LongbenchError(f"{f}: not a longSD manifest (format {m.get('format') if isinstance(m, dict) else None!r})")
    if m.get("format_version") != FORMAT_VERSION:
        raise LongbenchError(f"{f}: format_version {m.get('format_version')!r} is not supported (expected "
                             f"{FORMAT_VERSION})")
    for key in ("stage", "base", "encoder"):
        if key not in m:
            raise LongbenchError(f"{f}: missing {key!r}")
    weights = own_lora_name(m)
    if m["stage"] != "denscore" and not (d / weights).is_file():
        raise LongbenchError(f"{d}: missing {weights}")
    m["_dir"] = str(d)
    m["_adapter_dir"] = str(d / ADAPTER_DIR)
    return m


def own_lora_name(manifest: dict[str, Any]) -> str:
    """The checkpoint's own LoRA file: the whole LoRA, or a shipped delta's slice (manifest ``lora_parent``)."""
    return LORA_DELTA_NAME if manifest.get("lora_parent") else LORA_WEIGHT_NAME


def open_checkpoint(path: str | os.PathLike, *, align: str | None = None, merge: str | None = None) -> dict[str, Any]:
    """The manifest of what ``longsd:PATH`` names: a longSD checkpoint, a training run (its ``final/``), or a
    directory of the LongAlign authors' release (:mod:`longbench.longsd.release`; ``align``/``merge`` pick
    its files). The format is detected from the files."""
    from longbench.longsd import release

    p = Path(path).expanduser()
    if not (p / MANIFEST).is_file() and not (p / "final" / MANIFEST).is_file() and release.is_release_dir(p):
        return release.release_manifest(p, align, merge)
    for arg, value in (("align", align), ("merge", merge)):
        if value is not None:
            raise LongbenchError(f"--model-arg {arg}: only for directories of the LongAlign release, and {p} is not one")
    return read_manifest(p)


# ---------------------------------------------------------------------------------------------- base identity
def _strided(t: torch.Tensor) -> list[float]:
    import torch

    flat = t.detach().flatten().float().cpu()
    idx = torch.linspace(0, flat.numel() - 1, PROBE_POINTS).round().long()
    return [round(float(v), 6) for v in flat[idx]]


def base_probe(unet: nn.Module, text_encoder: nn.Module) -> dict[str, Any]:
    """A cheap identity of a base model: architecture fields and strided samples of a few weights."""
    emb = text_encoder.get_input_embeddings().weight
    return {
        "unet_config": {k: _jsonable(unet.config.get(k)) for k in _ARCH_KEYS_UNET},
        "text_config": {k: _jsonable(getattr(text_encoder.config, k, None)) for k in _ARCH_KEYS_TEXT},
        "weights": {"unet.conv_in.weight": _strided(unet.conv_in.weight),
                    "unet.conv_out.weight": _strided(unet.conv_out.weight),
                    "text_encoder.token_embedding": _strided(emb)},
    }


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def check_base(manifest: dict[str, Any], probe: dict[str, Any], base_spec: str) -> None:
    """Raise LongbenchError when ``probe`` (of the loaded base) is not the checkpoint's base."""
    import torch

    want = manifest["base"].get("probe") or {}
    where = manifest.get("_dir", "checkpoint")
    trained_on = manifest["base"].get("spec", "?")
    hint = "pass the base it was trained on (--model-arg base=DIR, or model.base in the training config)"
    for section in ("unet_config", "text_config"):
        for k, v in (want.get(section) or {}).items():
            got = probe[section].get(k)
            if got != v:
                raise LongbenchError(f"{where} was trained on base {trained_on!r}, but {base_spec!r} is another model "
                                     f"({section}.{k} = {got!r}, expected {v!r}); {hint}")
    for name, values in (want.get("weights") or {}).items():
        a, b = torch.tensor(values), torch.tensor(probe["weights"].get(name, [float("nan")] * len(values)))
        if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-2, atol=1e-4):
            dev = float((a - b).abs().max()) if a.shape == b.shape else float("nan")
            raise LongbenchError(f"{where} was trained on base {trained_on!r}, but the weights of {base_spec!r} differ "
                                 f"({name}: max deviation {dev:.3g}); {hint}")


# ---------------------------------------------------------------------------------------------- writing
def build_manifest(*, stage: str, step: int, base_spec: str, base_path: str, probe: dict[str, Any],
                   encoder: dict[str, Any], inference: dict[str, Any], config: dict[str, Any],
                   parent: dict[str, Any] | None, lora: dict[str, Any] | None) -> dict[str, Any]:
    import longbench

    lineage = []
    if parent is not None:
        lineage = list(parent.get("lineage", [])) + [{"stage": parent["stage"], "step": parent.get("step"),
                                                       "path": parent.get("_dir")}]
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "stage": stage, "step": step,
        "base": {"spec": base_spec, "path": base_path, "probe": probe},
        "encoder": encoder, "token_length": encoder.get("token_length"), "splitter": encoder.get("splitter"),
        "lora": lora, "inference": inference, "lineage": lineage, "config": config,
        "longbench_version": longbench.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_checkpoint(target: str | os.PathLike, manifest: dict[str, Any], lora: dict[str, torch.Tensor] | None,
                     adapter: nn.Module | None = None) -> Path:
    """Write a checkpoint directory atomically (safetensors only)."""
    from diffusers import StableDiffusionPipeline

    from longbench.fileio import atomic_dir

    target = Path(target)
    with atomic_dir(target) as tmp:
        if lora is not None:
            StableDiffusionPipeline.save_lora_weights(str(tmp), unet_lora_layers=lora, safe_serialization=True)
        if adapter is not None:
            adapter.save_pretrained(str(tmp / ADAPTER_DIR), safe_serialization=True)
        body = {k: v for k, v in manifest.items() if not k.startswith("_")}
        (tmp / MANIFEST).write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    logger.info("wrote checkpoint %s", target)
    return target
