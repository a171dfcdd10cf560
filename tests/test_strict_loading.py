"""Every learned metric and detector loads strictly: a checkpoint with missing, unexpected or mismatched
tensors is a one-line LongbenchError naming the weights and the keys, never a half-random model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file, save_file

from longbench.errors import LongbenchError
from tests.helpers_clip import save_tiny_clip
from tests.helpers_fid import TINY_OPEN_CLIP_CFG, make_inception_weights, make_tiny_open_clip


def _edit_safetensors(path: Path, edit) -> dict[str, torch.Tensor]:
    """Rewrite the safetensors file ``path`` with ``edit(state_dict)`` applied; returns the new dict."""
    sd = edit(dict(load_file(str(path))))
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata={"format": "pt"})
    return sd


def _drop(prefix: str):
    return lambda sd: {k: v for k, v in sd.items() if not k.startswith(prefix)}


def _assert_names(err: pytest.ExceptionInfo, weights: Path | str, kind: str, first_key: str, count: int) -> None:
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert str(weights) in msg, msg
    assert f"{count} {kind} key" in msg, msg
    assert first_key in msg, msg


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("strict") / "clip", seed=0)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _vision_keys(sd: dict) -> list[str]:
    return sorted(k for k in sd if k.startswith("vision_model."))


# ---------------------------------------------------------------------- transformers CLIP (denscore, ...)
@pytest.mark.parametrize("metric", ["denscore", "clipscore", "segment-align"])
def test_clip_without_vision_tower_is_refused(clip_dir: Path, tmp_path: Path, metric: str) -> None:
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.suites.base import Item, Suite

    full = load_file(str(clip_dir / "model.safetensors"))
    vision = _vision_keys(full)
    assert len(vision) > 10
    partial = _copy(clip_dir, tmp_path / "partial")
    _edit_safetensors(partial / "model.safetensors", _drop("vision_model."))
    ctx = MetricContext(suite=Suite("s", "1", [Item(id="a", prompt="A cat. A dog.")]))
    with pytest.raises(LongbenchError) as err:
        build_metric(metric, ctx, {"model": str(partial)})
    _assert_names(err, partial, "missing", vision[0], len(vision))
    build_metric(metric, ctx, {"model": str(clip_dir)})  # the complete checkpoint loads


def test_clip_unexpected_and_mismatched_keys(clip_dir: Path, tmp_path: Path) -> None:
    from longbench.metrics.clip_models import load_clip_scorer

    extra = _copy(clip_dir, tmp_path / "extra")
    _edit_safetensors(extra / "model.safetensors", lambda sd: {**sd, "head.extra.weight": torch.zeros(3)})
    with pytest.raises(LongbenchError) as err:
        load_clip_scorer(str(extra), what="denscore model")
    _assert_names(err, extra, "unexpected", "head.extra.weight", 1)
    assert str(err.value).startswith("denscore model ")
    wrong = _copy(clip_dir, tmp_path / "wrong")
    _edit_safetensors(wrong / "model.safetensors", lambda sd: {**sd, "text_projection.weight": torch.zeros(8, 32)})
    with pytest.raises(LongbenchError, match=r"text_projection\.weight") as err:
        load_clip_scorer(str(wrong))
    assert "\n" not in str(err.value) and str(wrong) in str(err.value)


def test_partial_clip_fails_the_cli_with_exit_2(clip_dir: Path, tmp_path: Path) -> None:
    from cli import main

    partial = _copy(clip_dir, tmp_path / "partial")
    _edit_safetensors(partial / "model.safetensors", _drop("vision_model.encoder.layers.1."))
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(images / "a.png")
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"id": "a", "prompt": "A cat on a mat."}) + "\n")
    r = CliRunner().invoke(main, ["eval", "--model", f"images:{images}", "--suite", str(suite), "--metric",
                                  "denscore", "--metric-arg", f"denscore.model={partial}",
                                  "--output", str(tmp_path / "runs"), "--no-progress"])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error: ")]  # (library noise: issue §5)
    assert len(lines) == 1 and "missing key" in lines[0] and "Traceback" not in r.output, r.output
    assert "vision_model.encoder.layers.1." in lines[0]
    assert not list((tmp_path / "runs").rglob("results.json"))


# ---------------------------------------------------------------------- open_clip (denscore spec, fid-clip)
def test_open_clip_checkpoint_without_visual_is_refused(tmp_path: Path) -> None:
    import open_clip

    from longbench.metrics.clip_models import load_clip_scorer

    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "lbstrict-tiny.json").write_text(json.dumps(TINY_OPEN_CLIP_CFG))
    open_clip.add_model_config(tmp_path / "cfg")
    torch.manual_seed(0)
    sd = open_clip.create_model("lbstrict-tiny").state_dict()
    ckpt = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items() if not k.startswith("visual.")}, str(ckpt))
    visual = sorted(k for k in sd if k.startswith("visual."))
    with pytest.raises(LongbenchError) as err:
        load_clip_scorer(f"open_clip:lbstrict-tiny:{ckpt}")
    _assert_names(err, ckpt, "missing", visual[0], len(visual))
    pt = tmp_path / "extra.pt"
    torch.save({**sd, "visual.extra": torch.zeros(2)}, pt)
    with pytest.raises(LongbenchError) as err:
        load_clip_scorer(f"open_clip:lbstrict-tiny:{pt}")
    _assert_names(err, pt, "unexpected", "visual.extra", 1)
    full = tmp_path / "full.pt"
    torch.save(sd, full)
    assert load_clip_scorer(f"open_clip:lbstrict-tiny:{full}").kind == "open_clip"


def test_fid_clip_directory_without_visual_is_refused(tmp_path: Path) -> None:
    from longbench.metrics.fid_clip import CLIPFID

    d = make_tiny_open_clip(tmp_path / "oc", seed=0)
    CLIPFID(model=str(d))  # complete: loads
    sd = _edit_safetensors(d / "open_clip_model.safetensors", _drop("visual.transformer."))
    assert not any(k.startswith("visual.transformer.") for k in sd)
    with pytest.raises(LongbenchError) as err:
        CLIPFID(model=str(d))
    msg = str(err.value)
    assert "\n" not in msg and str(d / "open_clip_model.safetensors") in msg and "missing keys" in msg, msg
    assert "visual.transformer.resblocks.0." in msg


# ---------------------------------------------------------------------- FID Inception
def test_fid_inception_partial_state_dict_is_refused(tmp_path: Path) -> None:
    from longbench.metrics.fid import FID

    weights = make_inception_weights(tmp_path / "inception.pth", seed=0)
    sd = torch.load(weights, weights_only=True)
    # torch's BatchNorm supplies an absent num_batches_tracked itself (old checkpoints lack it)
    dropped = sorted(k for k in sd if k.startswith("Mixed_7c.") and not k.endswith("num_batches_tracked"))
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in sd.items() if not k.startswith("Mixed_7c.")}, partial)
    with pytest.raises(LongbenchError) as err:
        FID(weights=str(partial))
    _assert_names(err, partial, "missing", dropped[0], len(dropped))
    extra = tmp_path / "extra.pth"
    torch.save({**sd, "Mixed_8.weight": torch.zeros(1)}, extra)
    with pytest.raises(LongbenchError) as err:
        FID(weights=str(extra))
    _assert_names(err, extra, "unexpected", "Mixed_8.weight", 1)


# ---------------------------------------------------------------------- detectors (count)
def _tiny_owlv2(path: Path) -> Path:
    from tests.helpers_count import save_tiny_owlv2

    return save_tiny_owlv2(path)


def _tiny_gdino(path: Path) -> Path:
    from longbench.testing import save_tiny_grounding_dino

    return save_tiny_grounding_dino(path)


@pytest.mark.parametrize("kind, build, prefix", [
    ("owlv2", _tiny_owlv2, "owlv2.vision_model."),
    ("grounding-dino", _tiny_gdino, "model.backbone."),
])
def test_detector_without_its_backbone_is_refused(tmp_path: Path, kind: str, build, prefix: str) -> None:
    from longbench.metrics.count import load_detector

    path = build(tmp_path / kind)
    load_detector(kind, str(path))  # complete: loads
    sd = load_file(str(path / "model.safetensors"))
    dropped = sorted(k for k in sd if k.startswith(prefix))
    assert dropped, sorted(sd)[:5]
    _edit_safetensors(path / "model.safetensors", _drop(prefix))
    with pytest.raises(LongbenchError) as err:
        load_detector(kind, str(path))
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and msg.startswith(f"{kind} detector"), msg
    m = re.search(r"(\d+) missing keys \(([^)]*)\)", msg)
    assert m and int(m.group(1)) >= 1 and m.group(2).split(", ")[0].startswith(prefix), msg


# ---------------------------------------------------------------------- the shared helpers
def test_check_loaded_keys_message() -> None:
    from longbench.weights import check_loaded_keys, load_state_dict_strict

    check_loaded_keys("m", "w")  # nothing wrong: no error
    with pytest.raises(LongbenchError) as err:
        check_loaded_keys("denscore model", "/w", missing=["d", "a", "c", "b"], unexpected=["x"],
                          mismatched=[("k", (1,), (2,))])
    assert str(err.value) == (
        "denscore model /w: the checkpoint does not match the model: 4 missing keys (a, b, c, ...); "
        "1 unexpected key (x); 1 shape-mismatched key (k); refusing to run with randomly initialised weights")
    lin = torch.nn.Linear(2, 3)
    with pytest.raises(LongbenchError, match=r"1 missing key \(bias\)"):
        load_state_dict_strict(lin, {"weight": torch.zeros(3, 2)}, what="m", weights="w")
    with pytest.raises(LongbenchError, match=r"1 shape-mismatched key \(weight\)"):
        load_state_dict_strict(lin, {"weight": torch.zeros(2, 2), "bias": torch.zeros(3)}, what="m", weights="w")
    load_state_dict_strict(lin, {"weight": torch.ones(3, 2), "bias": torch.zeros(3)}, what="m", weights="w")
    assert float(lin.weight.sum()) == 6.0


# ---------------------------------------------------------------------- generators (diffusers pipelines)
@pytest.mark.parametrize("component, weights", [("unet", "diffusion_pytorch_model.safetensors"),
                                                ("text_encoder", "model.safetensors"),
                                                ("vae", "diffusion_pytorch_model.safetensors")])
def test_pipeline_with_a_partial_component_is_refused(tiny_sd_dir: Path, tmp_path: Path, component: str,
                                                      weights: str) -> None:
    from longbench.models.base import Request, build_model
    from longbench.suites.base import Item

    pipe = _copy(tiny_sd_dir, tmp_path / "pipe")
    sd = load_file(str(pipe / component / weights))
    dropped = sorted(sd)[:4]
    _edit_safetensors(pipe / component / weights, lambda d: {k: v for k, v in d.items() if k not in dropped})
    model = build_model(f"diffusers:{pipe}", {"steps": "1", "height": "32", "width": "32"})
    with pytest.raises(LongbenchError) as err:
        model.generate([Request(Item(id="a", prompt="a red cube"), 0)])
    _assert_names(err, pipe / component, "missing", dropped[0], len(dropped))
    assert f" {component} " in str(err.value)


# ---------------------------------------------------------------------- the trainer's base pipeline
@pytest.mark.parametrize("component, weights, what", [("unet", "diffusion_pytorch_model.safetensors", "base UNet"),
                                                      ("text_encoder", "model.safetensors", "base text encoder")])
def test_training_on_a_partial_base_is_refused(tiny_sd_dir: Path, tmp_path: Path, component: str, weights: str,
                                               what: str) -> None:
    # the trainer loads the base itself: a partial component would train a LoRA on top of random tensors
    from longalign.commands import train

    pipe = _copy(tiny_sd_dir, tmp_path / "pipe")
    sd = load_file(str(pipe / component / weights))
    dropped = sorted(sd)[:4]
    _edit_safetensors(pipe / component / weights, lambda d: {k: v for k, v in d.items() if k not in dropped})
    r = CliRunner().invoke(train, ["--stage", "align", "--output", str(tmp_path / "run"), "--no-progress",
                                   "--set", f"model.base={pipe}", "--set", "data.format=synth",
                                   "--set", "data.resolution=32", "--set", "train.max_steps=1"])
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error: ")]
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert lines[0].startswith(f"error: {what} {pipe}: the checkpoint does not match the model: 4 missing keys ("
                               f"{dropped[0]}, "), lines[0]
    assert not (tmp_path / "run" / "final").exists()
