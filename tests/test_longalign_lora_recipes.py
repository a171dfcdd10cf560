"""``lora.recipe``: which UNet layers get a LoRA and where its dropout acts (input: peft; output: reference)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from tests.helpers_longalign import one_thread, tiny_sd_pipeline
from tests.test_longsd_release import reference_layers


@pytest.fixture(scope="module", autouse=True)
def _threads():
    yield from one_thread()


def _lora_cfg(*sets: str):
    from longalign.config import load_config

    return load_config("align", None, ["model.base=x", "data.path=y", "lora.rank=2", *sets]).lora


def _adapted(unet) -> dict:
    from peft.tuners.lora import LoraLayer

    return {name: m for name, m in unet.named_modules() if isinstance(m, LoraLayer)}


def _raw(module, x):
    """A Linear/Conv2d forward without its hooks (the recipe hooks lora_B)."""
    if isinstance(module, torch.nn.Conv2d):
        return module._conv_forward(x, module.weight, module.bias)
    return F.linear(x, module.weight, module.bias)


def _randomise_b(layer, name: str) -> None:
    with torch.no_grad():
        layer.lora_B[name].weight.normal_(0, 0.5)


def test_longalign_recipe_adapts_the_reference_layers_with_output_dropout():
    from longalign.lora_recipes import add_lora

    unet = tiny_sd_pipeline().unet
    plain = tiny_sd_pipeline().unet
    n = add_lora(unet, _lora_cfg("lora.recipe=longalign", "lora.dropout=0.5"), "t")
    adapted = _adapted(unet)
    expected = {id(m) for m in reference_layers(plain)}
    names = {name for name, m in plain.named_modules() if id(m) in expected}
    assert set(adapted) == names and n == len(names)
    layer = adapted["down_blocks.1.resnets.0.conv_shortcut"]
    _randomise_b(layer, "t")
    layer.train()
    x = torch.randn(2, 32, 4, 4)
    a, b, s = layer.lora_A["t"], layer.lora_B["t"], layer.scaling["t"]
    torch.manual_seed(5)
    got = layer(x)
    with torch.no_grad():
        torch.manual_seed(5)
        want = layer.base_layer(x) + F.dropout(_raw(b, a(x)), 0.5, training=True) * s  # the reference's position
        torch.manual_seed(5)
        on_input = layer.base_layer(x) + _raw(b, a(F.dropout(x, 0.5, training=True))) * s
    assert torch.allclose(got, want, atol=1e-6) and not torch.allclose(got, on_input, atol=1e-3)
    layer.eval()
    with torch.no_grad():
        assert torch.allclose(layer(x), layer.base_layer(x) + _raw(b, a(x)) * s, atol=1e-6)


def test_default_recipe_and_input_dropout():
    from longalign.lora_recipes import DEFAULT_TARGETS, add_lora

    unet = tiny_sd_pipeline().unet
    add_lora(unet, _lora_cfg("lora.dropout=0.5"), "t")
    adapted = _adapted(unet)
    assert any(n.endswith("ff.net.2") for n in adapted) and not any(n.endswith("conv_shortcut") for n in adapted)
    assert all(n.endswith(DEFAULT_TARGETS) for n in adapted)
    layer = adapted["mid_block.attentions.0.transformer_blocks.0.ff.net.2"]
    _randomise_b(layer, "t")
    layer.train()
    x = torch.randn(3, 256)
    a, b, s = layer.lora_A["t"], layer.lora_B["t"], layer.scaling["t"]
    torch.manual_seed(7)
    got = layer(x)
    with torch.no_grad():
        torch.manual_seed(7)
        want = layer.base_layer(x) + _raw(b, a(F.dropout(x, 0.5, training=True))) * s  # peft's position
    assert torch.allclose(got, want, atol=1e-6)


def test_unknown_target_module_names_the_setting():
    from longalign.lora_recipes import add_lora
    from longbench.errors import LongbenchError

    with pytest.raises(LongbenchError, match=r"lora\.target_modules=\['nothing_here'\]"):
        add_lora(tiny_sd_pipeline().unet, _lora_cfg("lora.target_modules=nothing_here"), "t")
