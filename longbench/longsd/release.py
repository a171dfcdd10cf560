"""The LongAlign authors' released longSD checkpoints, read without their code.

A release directory (``luping-liu/LongSD``, as the authors' ``sample.py`` uses it) holds::

    s28750_lora_vis.pt      UNet LoRA of the align stage
    s28750_adapter/         T5 adapter of the align stage (diffusers ``save_pretrained``)
    sd15-reward-3750.pt     UNet LoRA of the reward stage, trained on the align UNet with its LoRA merged

Each ``.pt`` file is a ``torch.save``d list of tensors ``[up_1, down_1, up_2, down_2, ...]``, one pair per
adapted layer. The adapted layers are every ``nn.Linear`` and ``nn.Conv2d`` inside a module of class
``ResnetBlock2D``, ``CrossAttention``, ``Attention`` or ``GEGLU``; the blocks come in the order of
``unet.modules()`` and, inside a block, the layers in the order of ``block.named_modules()``
(:func:`reference_lora_layers`). ``up`` is ``(out, r)`` (``(out, r, 1, 1)`` for a convolution), ``down`` is
``(r, in)`` (``(r, in, kh, kw)``, with the layer's stride and padding); the reference merges a pair as
``W + up @ down`` (matrices flattened for convolutions, scale 1). Its loader skips a layer whose kind does
not match the next tensor's dimensionality; for the files its own trainer writes that never happens, and
here any mismatch of kind, shape or count is an error naming the layer instead.

The files are read with ``torch.load(weights_only=True)`` and become the project's peft LoRA
(``lora_A`` = down, ``lora_B`` = up). The reward LoRA is stacked on the align LoRA along the rank axis
(:func:`~longbench.longsd.lora.stack_loras`), which equals merging one after the other as ``sample.py`` does.
``longsd:DIR`` converts in memory; :func:`convert_release` (``longbench train import-release``) writes a
longSD checkpoint, which training stages can start from (``model.init_from``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "longalign-release"
#: classes whose Linear/Conv2d layers the reference adapts (``VIS_REPLACE_MODULES`` of its scripts)
REFERENCE_BLOCKS = frozenset({"ResnetBlock2D", "CrossAttention", "Attention", "GEGLU"})
ALIGN_FILE = re.compile(r"^s(\d+)_lora_vis\.pt$")
#: what the release was trained with (the authors' sample.py)
DEFAULT_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_T5 = "google-t5/t5-large"
TOKEN_LENGTH = 240
SPLITTER = "longalign"
INFERENCE = {"scheduler": "UniPCMultistepScheduler", "steps": 25, "guidance": 7.5}


# ---------------------------------------------------------------------------------------------- layers
def reference_lora_layers(unet: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified name, layer)`` of every layer the reference adapts, in the order of its tensor lists.

    Raises:
        LongbenchError: a reference block inside another one (the reference would visit its layers twice),
            or a subclass of Linear/Conv2d inside a block (the reference's exact-class test would mishandle it).
    """
    from torch import nn

    blocks = [(name, m) for name, m in unet.named_modules() if type(m).__name__ in REFERENCE_BLOCKS]
    names = [name for name, _ in blocks]
    layers: list[tuple[str, nn.Module]] = []
    for name, block in blocks:
        for inner in names:
            if inner != name and inner.startswith(f"{name}."):
                raise LongbenchError(f"{type(block).__name__} {name!r} contains another adapted block ({inner!r}); "
                                     "the reference traversal is not defined for nested blocks")
        for sub_name, layer in block.named_modules():
            if not sub_name or not isinstance(layer, (nn.Linear, nn.Conv2d)):
                continue
            if type(layer) not in (nn.Linear, nn.Conv2d):
                raise LongbenchError(f"{name}.{sub_name} is a {type(layer).__name__}, not a plain Linear/Conv2d: "
                                     "the reference LoRA layout cannot be reproduced on this UNet")
            layers.append((f"{name}.{sub_name}", layer))
    return layers


def reference_lora_targets(unet: nn.Module) -> list[str]:
    """Qualified names of the reference's adapted layers (peft ``target_modules`` of ``lora.recipe=longalign``)."""
    return [name for name, _ in reference_lora_layers(unet)]


# ---------------------------------------------------------------------------------------------- tensors
def read_release_tensors(path: str | os.PathLike) -> list[torch.Tensor]:
    """The tensor list of a release ``.pt`` file (``weights_only=True``: tensors only, no code)."""
    import pickle

    import torch

    p = Path(path)
    try:
        data = torch.load(str(p), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LongbenchError(f"{p}: not a readable LongAlign LoRA file ({first})") from None
    if not isinstance(data, (list, tuple)) or not data or not all(isinstance(t, torch.Tensor) for t in data):
        raise LongbenchError(f"{p}: expected a non-empty list of tensors (up, down, up, down, ...), got "
                             f"{type(data).__name__}")
    if len(data) % 2:
        raise LongbenchError(f"{p}: {len(data)} tensors, expected (up, down) pairs")
    return [t.detach().float() for t in data]


def release_to_peft(unet: nn.Module, tensors: list[torch.Tensor], where: str = "LoRA file") -> dict[str, torch.Tensor]:
    """The peft state dict (keys without ``unet.``, scale 1 folded in) of one release tensor list."""
    from torch import nn

    layers = reference_lora_layers(unet)
    if len(tensors) != 2 * len(layers):
        raise LongbenchError(f"{where}: {len(tensors) // 2} (up, down) pairs, but the UNet has {len(layers)} layers "
                             "in ResnetBlock2D/Attention/GEGLU blocks; is this the base the release was trained on?")
    out: dict[str, torch.Tensor] = {}
    for i, (name, layer) in enumerate(layers):
        up, down = tensors[2 * i], tensors[2 * i + 1]
        if isinstance(layer, nn.Linear):
            ok = (up.ndim == 2 and down.ndim == 2 and up.shape[1] == down.shape[0]
                  and up.shape[0] == layer.out_features and down.shape[1] == layer.in_features)
            want = f"up ({layer.out_features}, r), down (r, {layer.in_features})"
        else:
            if layer.groups != 1:
                raise LongbenchError(f"{where}: {name} is a grouped convolution, which the release format does not "
                                     "describe")
            kh, kw = layer.kernel_size
            ok = (up.ndim == 4 and down.ndim == 4 and tuple(up.shape[2:]) == (1, 1) and up.shape[1] == down.shape[0]
                  and up.shape[0] == layer.out_channels
                  and tuple(down.shape[1:]) == (layer.in_channels, kh, kw))
            want = f"up ({layer.out_channels}, r, 1, 1), down (r, {layer.in_channels}, {kh}, {kw})"
        if not ok:
            raise LongbenchError(f"{where}: pair {i} (tensors {2 * i}, {2 * i + 1}) does not fit {name}: got up "
                                 f"{tuple(up.shape)}, down {tuple(down.shape)}, expected {want}")
        out[f"{name}.lora_A.weight"] = down.contiguous()
        out[f"{name}.lora_B.weight"] = up.contiguous()
    return out


# ---------------------------------------------------------------------------------------------- directories
def _files(d: Path) -> tuple[list[Path], list[Path]]:
    pts = sorted(p for p in d.glob("*.pt") if p.is_file())
    return [p for p in pts if ALIGN_FILE.match(p.name)], [p for p in pts if not ALIGN_FILE.match(p.name)]


def is_release_dir(path: str | os.PathLike) -> bool:
    d = Path(path).expanduser()
    return d.is_dir() and bool(_files(d)[0])


def _pick(choice: str | None, found: list[Path], d: Path, arg: str, what: str) -> Path | None:
    names = [p.name for p in found]
    if choice is not None:
        if choice.lower() == "none" and arg == "merge":
            return None
        if choice not in names:
            raise LongbenchError(f"--model-arg {arg}={choice!r}: no such {what} in {d} (found: "
                                 f"{', '.join(names) or 'none'})")
        return d / choice
    if len(found) > 1:
        raise LongbenchError(f"{d} holds several {what}s ({', '.join(names)}); choose one with --model-arg {arg}=FILE"
                             + (" (or none)" if arg == "merge" else ""))
    return found[0] if found else None


def release_manifest(path: str | os.PathLike, align: str | None = None, merge: str | None = None) -> dict[str, Any]:
    """A manifest (the fields ``longsd:`` reads) for a release directory.

    Args:
        path: the directory.
        align: the align LoRA file name (needed when there are several ``s<N>_lora_vis.pt``).
        merge: the LoRA merged on top (default: the only other ``.pt`` file; ``"none"`` for the align model).
    """
    d = Path(path).expanduser()
    aligns, others = _files(d)
    if not aligns:
        raise LongbenchError(f"{d} is not a LongAlign release directory (no s<N>_lora_vis.pt)")
    align_file = _pick(align, aligns, d, "align", "align LoRA (s<N>_lora_vis.pt)")
    merge_file = _pick(merge, others, d, "merge", "LoRA file to merge on top")
    assert align_file is not None
    adapter = d / f"s{ALIGN_FILE.match(align_file.name).group(1)}_adapter"  # type: ignore[union-attr]
    has_t5 = adapter.is_dir()
    return {
        "format": FORMAT, "stage": "reward" if merge_file is not None else "align",
        "base": {"spec": DEFAULT_BASE, "probe": None},
        "encoder": {"token_length": TOKEN_LENGTH, "splitter": SPLITTER, "t5": DEFAULT_T5 if has_t5 else None},
        "inference": dict(INFERENCE),
        "release": {"align": align_file.name, "merge": merge_file.name if merge_file else None,
                    "adapter": adapter.name if has_t5 else None},
        "_dir": str(d), "_adapter_dir": str(adapter) if has_t5 else None,
    }


def release_lora(unet: nn.Module, manifest: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The whole LoRA of a release manifest on ``unet``: the align pairs, plus the merged file's stacked on."""
    from longbench.longsd.lora import stack_loras

    d = Path(manifest["_dir"])
    rel = manifest["release"]
    lora = release_to_peft(unet, read_release_tensors(d / rel["align"]), str(d / rel["align"]))
    if rel.get("merge"):
        lora = stack_loras(lora, release_to_peft(unet, read_release_tensors(d / rel["merge"]), str(d / rel["merge"])))
    return lora


def convert_release(src: str | os.PathLike, target: str | os.PathLike, *, base: str | None = None,
                    t5: str | None = None, align: str | None = None, merge: str | None = None) -> Path:
    """Write a release directory as a longSD checkpoint (safetensors LoRA, manifest with the base's probe,
    T5 adapter), e.g. to train on top of it with ``model.init_from``. ``base``/``t5`` default to what the
    release was trained with; ``align``/``merge`` as in :func:`release_manifest`."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    from longbench.longsd.checkpoint import base_probe, build_manifest, write_checkpoint
    from longbench.longsd.lora import lora_rank_summary
    from longbench.longsd.t5_adapter import T5Adapter
    from longbench.weights import from_pretrained_strict, resolve

    rel = release_manifest(src, align, merge)
    base_spec = base or rel["base"]["spec"]
    base_path = resolve(base_spec, what="base pipeline of the release")
    try:
        # strict: the probe recorded in the manifest must come from the base's real weights
        unet = from_pretrained_strict(UNet2DConditionModel, base_path / "unet", what=f"base {base_spec!r} unet",
                                      local_files_only=True)
        text_encoder = from_pretrained_strict(CLIPTextModel, base_path / "text_encoder",
                                              what=f"base {base_spec!r} text_encoder", local_files_only=True)
    except (OSError, ValueError) as e:
        raise LongbenchError(f"cannot load the UNet and text encoder of {base_spec!r} from {base_path} "
                             f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    lora = release_lora(unet, rel)
    adapter = (from_pretrained_strict(T5Adapter, rel["_adapter_dir"], what="release T5 adapter")
               if rel["_adapter_dir"] else None)
    encoder = dict(rel["encoder"])
    if adapter is not None and t5:
        encoder["t5"] = t5
    manifest = build_manifest(stage=rel["stage"], step=None, base_spec=base_spec, base_path=str(base_path),
                              probe=base_probe(unet, text_encoder), encoder=encoder, inference=rel["inference"],
                              config={}, parent=None, lora=lora_rank_summary(lora))
    manifest["release"] = {**rel["release"], "source": str(Path(src).expanduser().resolve())}
    return write_checkpoint(target, manifest, lora, adapter)
