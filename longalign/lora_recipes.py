"""Which UNet layers the trainer adapts with LoRA, and where the LoRA dropout acts (``lora.recipe``).

Two recipes (docs/training.md, "LoRA recipes"):

* ``default`` (this project's): peft ``target_modules`` suffixes — the attention projections ``to_q``,
  ``to_k``, ``to_v``, ``to_out.0``, both feed-forward layers ``ff.net.0.proj`` and ``ff.net.2``, and the
  ResNet layers ``conv1``, ``conv2``, ``time_emb_proj``; no dropout (peft's dropout, on the branch *input*,
  when ``lora.dropout`` is set).
* ``longalign`` (the reference code's): every ``nn.Linear``/``nn.Conv2d`` inside a ``ResnetBlock2D``,
  ``Attention`` or ``GEGLU`` module (:func:`longbench.longsd.release.reference_lora_layers`, the same
  traversal that reads the authors' released files) — so ``conv_shortcut`` is adapted and the feed-forward
  output ``ff.net.2`` is not — with dropout 0.1 on the branch *output*, ``W x + dropout(B A x)·s``, in every
  stage, whenever the UNet is in training mode.

peft applies ``lora_dropout`` to the branch input (``B A dropout(x)``); the output position is implemented by
a forward hook on each ``lora_B`` layer (peft's own dropout set to 0), so the saved weights keep the plain
peft layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from torch import nn

DEFAULT_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "conv1", "conv2", "time_emb_proj")


def recipe_targets(unet: nn.Module, lora: Any) -> list[str]:
    """peft ``target_modules`` of the config's recipe (``lora.target_modules`` when given)."""
    if lora.recipe == "longalign":
        from longbench.longsd.release import reference_lora_targets

        return reference_lora_targets(unet)
    return list(lora.target_modules) or list(DEFAULT_TARGETS)


def add_lora(unet: nn.Module, lora: Any, adapter_name: str) -> int:
    """Add the config's LoRA to ``unet`` as peft adapter ``adapter_name``; the number of adapted layers."""
    from peft import LoraConfig
    from peft.tuners.lora import LoraLayer

    targets = recipe_targets(unet, lora)
    on_input = lora.dropout_on == "input"
    config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha or lora.rank, lora_dropout=lora.dropout if on_input else 0.0,
                        init_lora_weights="gaussian", target_modules=targets)
    try:
        unet.add_adapter(config, adapter_name=adapter_name)
    except ValueError as e:
        what = f"lora.target_modules={list(lora.target_modules)}" if lora.target_modules else f"lora.recipe={lora.recipe}"
        raise LongbenchError(f"{what}: {str(e).splitlines()[0]}") from None
    layers = [m for m in unet.modules() if isinstance(m, LoraLayer) and adapter_name in m.lora_B]
    if not on_input and lora.dropout > 0:
        for layer in layers:
            add_output_dropout(layer.lora_B[adapter_name], lora.dropout)
    return len(layers)


def add_output_dropout(lora_b: nn.Module, p: float) -> None:
    """Dropout with probability ``p`` on the output of a LoRA up-projection, active in training mode."""
    from torch.nn import functional as F

    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        return F.dropout(output, p=p, training=module.training)

    lora_b.register_forward_hook(hook)
