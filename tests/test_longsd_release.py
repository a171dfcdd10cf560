"""The LongAlign authors' released LoRA files (``s<N>_lora_vis.pt`` + ``sd15-reward-N.pt``) → longSD.

The expected model is built by a transcription of the reference code written here, independently of
``longbench.longsd.release``: walk ``unet.modules()``; for every module whose class is ResnetBlock2D,
CrossAttention, Attention or GEGLU, walk its ``named_modules()``; every exact ``nn.Linear``/``nn.Conv2d``
takes the next (up, down) pair of the list, and the reference's ``collapse_lora`` merges it in place as
``W += up.flatten(1) @ down.flatten(1)`` (scale 1); the reward file is merged the same way afterwards.
Tolerance 1e-5 (absolute, outputs of order 1): the loader applies the same deltas through peft's LoRA
layers (unfused: ``W x + B (A x)``; fused: peft's own merge), so only float32 summation order differs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from longbench.errors import LongbenchError
from tests.helpers_longalign import one_thread, save_tiny_t5, tiny_sd_pipeline

BLOCKS = {"ResnetBlock2D", "CrossAttention", "Attention", "GEGLU"}


@pytest.fixture(scope="module", autouse=True)
def _threads():
    yield from one_thread()


def reference_layers(unet: nn.Module) -> list[nn.Module]:
    layers = []
    for block in unet.modules():
        if block.__class__.__name__ in BLOCKS:
            layers += [m for _, m in block.named_modules() if m.__class__ in (nn.Linear, nn.Conv2d)]
    return layers


def random_release_list(unet: nn.Module, rank: int, seed: int) -> list[torch.Tensor]:
    """[up, down, up, down, ...] as the reference's save_lora_weight writes it (float16)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for layer in reference_layers(unet):
        if isinstance(layer, nn.Linear):
            up, down = torch.randn(layer.out_features, rank, generator=g), torch.randn(rank, layer.in_features,
                                                                                        generator=g)
        else:
            kh, kw = layer.kernel_size
            up = torch.randn(layer.out_channels, rank, 1, 1, generator=g)
            down = torch.randn(rank, layer.in_channels, kh, kw, generator=g)
        out += [(0.05 * up).half(), (0.05 * down).half()]
    return out


def reference_merge(unet: nn.Module, tensors: list[torch.Tensor]) -> None:
    tensors = list(tensors)
    with torch.no_grad():
        for layer in reference_layers(unet):
            up, down = tensors.pop(0).float(), tensors.pop(0).float()
            layer.weight += (up.flatten(1) @ down.flatten(1)).reshape(layer.weight.shape)
    assert not tensors


def unet_out(unet: nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 4, 8, 8, generator=g)
    context = torch.randn(2, 7, 32, generator=g)
    with torch.no_grad():
        return unet(sample, torch.tensor([10, 700]), context).sample


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("release")
    pipe = tiny_sd_pipeline(seed=0)
    sd = root / "sd"
    pipe.save_pretrained(str(sd))
    d = root / "LongSD"
    d.mkdir()
    align = random_release_list(pipe.unet, rank=4, seed=1)
    reward = random_release_list(pipe.unet, rank=4, seed=2)
    torch.save(align, d / "s28750_lora_vis.pt")
    torch.save(reward, d / "sd15-reward-3750.pt")
    expected = copy.deepcopy(pipe.unet)
    reference_merge(expected, align)
    reference_merge(expected, reward)
    align_only = copy.deepcopy(pipe.unet)
    reference_merge(align_only, align)
    return {"root": root, "dir": d, "sd": sd, "pipe": pipe, "expected": expected, "align_only": align_only,
            "align": align}


def test_traversal_is_the_reference_layer_set(release):
    from longalign.lora_recipes import DEFAULT_TARGETS
    from longbench.longsd.release import reference_lora_layers

    unet = release["pipe"].unet
    ours = reference_lora_layers(unet)
    assert [m for _, m in ours] == reference_layers(unet)  # same layers, same order
    names = [n for n, _ in ours]
    assert any(n.endswith("conv_shortcut") for n in names) and not any(n.endswith("ff.net.2") for n in names)
    assert "ff.net.2" in DEFAULT_TARGETS and "conv_shortcut" not in DEFAULT_TARGETS


@pytest.mark.parametrize("fuse", [False, True])
def test_converted_lora_equals_the_reference_merge(release, fuse):
    from longbench.longsd.release import release_lora, release_manifest

    unet = copy.deepcopy(release["pipe"].unet)
    manifest = release_manifest(release["dir"])
    assert manifest["release"] == {"align": "s28750_lora_vis.pt", "merge": "sd15-reward-3750.pt", "adapter": None}
    lora = release_lora(unet, manifest)
    assert {v.shape[0] for k, v in lora.items() if ".lora_A." in k} == {8}  # align and reward stacked (4 + 4)
    unet.load_lora_adapter({f"unet.{k}": v for k, v in lora.items()}, prefix="unet", adapter_name="rel")
    if fuse:
        unet.fuse_lora(adapter_names=["rel"])
    base, ours, want = unet_out(release["pipe"].unet), unet_out(unet), unet_out(release["expected"])
    assert (want - base).abs().max() > 1e-2  # the LoRA changes the output: the comparison can fail
    assert torch.allclose(ours, want, atol=1e-5, rtol=0), float((ours - want).abs().max())
    # merge=none: the align model alone
    only = copy.deepcopy(release["pipe"].unet)
    lora = release_lora(only, release_manifest(release["dir"], merge="none"))
    only.load_lora_adapter({f"unet.{k}": v for k, v in lora.items()}, prefix="unet", adapter_name="a")
    assert torch.allclose(unet_out(only), unet_out(release["align_only"]), atol=1e-5, rtol=0)


def test_longsd_model_loads_a_release_directory(release, tmp_path):
    """``longsd:DIR`` on a release directory with its T5 adapter: fused UNet == reference merge."""
    import shutil

    from longbench.longsd.t5_adapter import T5Adapter
    from longbench.models.base import Request, build_model
    from longbench.suites.base import Item

    d = tmp_path / "LongSD"
    shutil.copytree(release["dir"], d)
    t5 = save_tiny_t5(tmp_path / "t5")
    T5Adapter(in_dim=16, int_dim=16, out_dim=32).save_pretrained(str(d / "s28750_adapter"))
    model = build_model(f"longsd:{d}", {"base": str(release["sd"]), "t5": str(t5), "steps": "2", "height": "16",
                                        "width": "16"})
    assert model.manifest["encoder"] == {"token_length": 240, "splitter": "longalign", "t5": "google-t5/t5-large"}
    images = model.generate([Request(Item(id="a", prompt="A red cube. A blue ball. " * 20), 1)])
    assert images[0].size == (16, 16)
    assert model.encoder().output_length == 480  # CLIP part + T5 part
    got = dict(model.pipe.unet.named_parameters())
    for name, p in release["expected"].named_parameters():
        key = name if name in got else name.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        assert torch.allclose(got[key], p, atol=1e-5, rtol=0), name
    ident = model.identity()
    assert ident["release"]["merge"] == "sd15-reward-3750.pt" and ident["stage"] == "reward"

    # `longbench train import-release`: the same model as a longSD checkpoint (checked against its base)
    from click.testing import CliRunner

    from longalign.commands import train

    out = tmp_path / "converted"
    r = CliRunner().invoke(train, ["import-release", str(d), str(out), "--base", str(release["sd"]), "--t5", str(t5)])
    assert r.exit_code == 0, (r.output, r.exception)
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == "longsd" and m["stage"] == "reward" and m["encoder"]["t5"] == str(t5)
    assert m["release"]["align"] == "s28750_lora_vis.pt" and m["lora"]["ranks"] == [8]
    native = build_model(f"longsd:{out}", {"steps": "2", "height": "16", "width": "16"})
    got = dict(native.pipe.unet.named_parameters())
    for name, p in release["expected"].named_parameters():
        key = name if name in got else name.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        assert torch.allclose(got[key], p, atol=1e-5, rtol=0), name
    assert native.generate([Request(Item(id="a", prompt="A cat."), 1)])[0].size == (16, 16)


def test_bad_release_files_are_one_line_errors(release, tmp_path):
    from longbench.longsd.checkpoint import open_checkpoint
    from longbench.longsd.release import read_release_tensors, release_lora, release_manifest, release_to_peft

    unet = release["pipe"].unet
    align = release["align"]
    with pytest.raises(LongbenchError, match=r"pairs, but the UNet has \d+ layers"):
        release_to_peft(unet, align[:-2], "x.pt")
    swapped = list(align)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(LongbenchError, match=r"x.pt: pair 0 .* does not fit down_blocks\.0\..*to_q"):
        release_to_peft(unet, swapped, "x.pt")
    (tmp_path / "dict.pt").write_bytes(b"")
    torch.save({"a": torch.zeros(1)}, tmp_path / "dict.pt")
    with pytest.raises(LongbenchError, match="expected a non-empty list of tensors"):
        read_release_tensors(tmp_path / "dict.pt")
    torch.save([torch.zeros(1), Path("x")], tmp_path / "code.pt")  # an object weights_only refuses
    with pytest.raises(LongbenchError, match="code.pt: not a readable LongAlign LoRA file"):
        read_release_tensors(tmp_path / "code.pt")
    # several files: choose explicitly; the choice is checked
    d = tmp_path / "several"
    d.mkdir()
    for name in ("s1250_lora_vis.pt", "s2500_lora_vis.pt", "a.pt", "b.pt"):
        torch.save(align, d / name)
    with pytest.raises(LongbenchError, match="several align LoRA .* --model-arg align=FILE"):
        open_checkpoint(d)
    with pytest.raises(LongbenchError, match="several LoRA file to merge on top.*--model-arg merge=FILE"):
        open_checkpoint(d, align="s2500_lora_vis.pt")
    with pytest.raises(LongbenchError, match="--model-arg merge='c.pt': no such"):
        open_checkpoint(d, align="s2500_lora_vis.pt", merge="c.pt")
    m = open_checkpoint(d, align="s2500_lora_vis.pt", merge="b.pt")
    assert m["release"] == {"align": "s2500_lora_vis.pt", "merge": "b.pt", "adapter": None}
    assert len(release_lora(unet, m)) == 2 * len(reference_layers(unet))
    with pytest.raises(LongbenchError, match="only for directories of the LongAlign release"):
        open_checkpoint(tmp_path / "nothing", merge="none")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(LongbenchError, match="not a longSD manifest"):
        open_checkpoint(tmp_path / "ckpt")
    assert release_manifest(release["dir"])["stage"] == "reward"


def test_a_partial_lora_file_is_refused_not_left_at_init(release, tmp_path):
    # diffusers' load_lora_adapter only logs missing LoRA tensors: the layers would keep peft's init (a model
    # other than the trained one) and the run would exit 0
    from click.testing import CliRunner
    from safetensors.torch import load_file, save_file

    from longalign.commands import train
    from longbench.models.base import build_model

    out = tmp_path / "converted"
    r = CliRunner().invoke(train, ["import-release", str(release["dir"]), str(out), "--base", str(release["sd"])])
    assert r.exit_code == 0, (r.output, r.exception)
    build_model(f"longsd:{out}", {"steps": "2"}).pipe  # the whole file loads
    f = out / "pytorch_lora_weights.safetensors"
    sd = load_file(f)
    dropped = sorted(k for k in sd if ".lora_B." in k)[:3]
    save_file({k: v for k, v in sd.items() if k not in dropped}, f)
    with pytest.raises(LongbenchError, match=r"LoRA .*pytorch_lora_weights.safetensors: the checkpoint does not "
                                             r"match the model: 3 missing keys \(.*lora_B\.weight"):
        build_model(f"longsd:{out}", {"steps": "2"}).pipe
    save_file({**sd, "unet.down_blocks.0.nonexistent.lora_A.weight": sd[dropped[0]].clone()}, f)
    with pytest.raises(LongbenchError, match=r"1 unexpected key \(down_blocks\.0\.nonexistent\.lora_A\.weight\)"):
        build_model(f"longsd:{out}", {"steps": "2"}).pipe
