"""Every stage from the CLI on tiny models; overfitting, reward improvement, resume, checkpoints, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from tests.helpers_longalign import (
    SENTENCES,
    one_thread,
    save_tiny_clip,
    save_tiny_sd,
    save_tiny_t5,
    write_pairs,
)

TINY = ["data.resolution=16", "lora.rank=4", "optim.warmup_steps=0", "train.batch_size=2", "train.max_steps=2"]


@pytest.fixture(scope="module", autouse=True)
def _threads():
    yield from one_thread()


@pytest.fixture(scope="module")
def world(_threads, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("longalign")
    w = {"root": root, "sd": save_tiny_sd(root / "sd"), "clip": save_tiny_clip(root / "clip"),
         "pairs": write_pairs(root / "data", n=8)}
    rows = [{"caption": " ".join(SENTENCES[i:i + 3]), "image_0": f"img/{i}.png", "image_1": f"img/{i + 1}.png",
             "label": [0, 1, 0.5][i % 3]} for i in range(6)]
    w["prefs"] = root / "data" / "prefs.jsonl"
    w["prefs"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return w


def train(stage: str, out: Path, *sets: str, resume: bool = False):
    from longalign.commands import train as train_cmd

    args = ["--stage", stage, "--output", str(out), "--no-progress"]
    for s in sets:
        args += ["--set", s]
    if resume:
        args.append("--resume")
    return CliRunner().invoke(train_cmd, args)


def ok(result) -> None:
    assert result.exit_code == 0, (result.output, result.exception)


def log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def align_ckpt(world) -> Path:
    """An align run that overfits the 8 pairs (also the parent of the other stages)."""
    out = world["root"] / "align"
    ok(train("align", out, f"model.base={world['sd']}", f"data.path={world['pairs']}", "data.resolution=16",
             "lora.rank=8", "optim.warmup_steps=0", "optim.learning_rate=3e-3", "optim.max_grad_norm=1",
             "train.batch_size=8", "train.max_steps=16", "align.caption_dropout=0", "train.state_every=0"))
    return out / "final"


@pytest.fixture(scope="module")
def other_sd(world) -> Path:
    return save_tiny_sd(world["root"] / "other-sd", seed=7)


# ---------------------------------------------------------------------------------------------- stages
def test_align_checkpoint_and_manifest(world, align_ckpt):
    from diffusers import StableDiffusionPipeline

    m = json.loads((align_ckpt / "manifest.json").read_text())
    assert m["stage"] == "align" and m["step"] == 16 and m["token_length"] == 240 and m["splitter"] == "longalign"
    assert m["base"]["spec"] == str(world["sd"]) and m["config"]["lora"]["rank"] == 8
    assert m["config"]["align"]["caption_dropout"] == 0 and m["config"]["optim"]["max_grad_norm"] == 1
    assert m["inference"]["scheduler"] == "UniPCMultistepScheduler" and m["data"]["n"] == 8
    assert sorted(p.name for p in align_ckpt.iterdir()) == ["manifest.json", "pytorch_lora_weights.safetensors"]
    assert [r["step"] for r in log(align_ckpt.parent)] == list(range(1, 17))
    assert {"loss", "lr", "it_s"} <= set(log(align_ckpt.parent)[0])
    pipe = StableDiffusionPipeline.from_pretrained(str(world["sd"]), local_files_only=True)
    pipe.load_lora_weights(str(align_ckpt))  # plain diffusers, no longalign code
    assert any("lora" in n for n, _ in pipe.unet.named_parameters())


def test_denscore_stage_writes_a_model_the_metric_loads(world):
    from longbench.metrics.clip_models import load_clip_scorer
    from longbench.metrics.denscore import score

    out = world["root"] / "dens"
    ok(train("denscore", out, f"scorer.init={world['clip']}", f"pairs.path={world['prefs']}", "train.max_steps=2",
             "train.batch_size=3", "optim.warmup_steps=0", "optim.learning_rate=1e-3"))
    rec = log(out)
    assert len(rec) == 2 and {"segment_loss", "prompt_loss", "accuracy"} <= set(rec[0])
    scorer = load_clip_scorer(str(out / "final"))
    before = load_clip_scorer(str(world["clip"]))
    images, prompts = torch.rand(2, 3, 32, 32), ["A cat. A dog.", "Red."]
    assert not torch.allclose(score(images, prompts, scorer, None), score(images, prompts, before, None))
    assert json.loads((out / "final" / "manifest.json").read_text())["format"] == "longalign-denscore"


def test_denscore_stage_trains_on_the_metric_preprocessing(world, tmp_path):
    """The pixels the denscore stage feeds its model are the metric's and the reward's: centre crop 504/512
    of each side, bilinear antialiased resize to the model's size, CLIP normalisation (computed here with
    plain tensor ops; tolerance 1e-5 for float32 resampling)."""
    import numpy as np
    from accelerate import Accelerator
    from PIL import Image
    from torch.nn import functional as F

    from longalign.config import load_config
    from longalign.stages.denscore import DenscoreStage

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for _ in range(2)]
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(tmp_path / f"{i}.png")
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps({"caption": "A cat. A dog.", "image_0": "0.png", "image_1": "1.png", "label": 1}) + "\n")
    stage = DenscoreStage(load_config("denscore", None, [f"scorer.init={world['clip']}", f"pairs.path={prefs}"]),
                          Accelerator(cpu=True))
    stage.setup()
    seen = {}
    stage.model.register_forward_pre_hook(lambda m, args, kw: seen.update(kw), with_kwargs=True)
    stage.training_step(stage.collate([stage.dataset()[0]]), torch.Generator().manual_seed(0))
    x = torch.stack([torch.from_numpy(a).permute(2, 0, 1).float() / 255 for a in arrays])[:, :, 1:127, 1:127]
    x = F.interpolate(x, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    want = (x - mean) / std
    assert torch.allclose(seen["pixel_values"], want, atol=1e-5), float((seen["pixel_values"] - want).abs().max())
    standard = stage.scorer.standard_pixels([torch.from_numpy(a).permute(2, 0, 1) for a in arrays])
    assert not torch.allclose(standard, want, atol=1e-3)  # the CLIP processor's resize + crop would differ


def test_align_overfits_eight_pairs(align_ckpt):
    losses = [r["loss"] for r in log(align_ckpt.parent)]
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.8 * first, losses


def _rollout_reward(world, init_from: Path | None, prompts: list[str], seeds=(123, 124, 125)) -> float:
    """Mean reward of the reward stage's rollout from fixed noises (no training, centred crop)."""
    from accelerate import Accelerator

    from longalign.config import load_config
    from longalign.stages.reward import RewardStage

    sets = [f"data.path={world['pairs']}", f"reward.model={world['clip']}", "data.resolution=16", "lora.rank=4",
            "reward.rollout_steps=4", "reward.grad_every=2", "reward.random_crop=false", "reward.omega=1"]
    sets.append(f"model.init_from={init_from}" if init_from else f"model.base={world['sd']}")
    stage = RewardStage(load_config("reward", None, sets), Accelerator(cpu=True))
    stage.setup()
    stage.set_prepared([stage.unet])
    total = 0.0
    with torch.no_grad():
        for seed in seeds:
            x0, _ = stage.rollout(prompts, torch.Generator().manual_seed(seed))
            total += float(stage.reward(stage.decode(x0), prompts)["reward"].mean())
    return total / len(seeds)


def test_reward_stage_raises_the_reward(world):
    prompts = [" ".join(SENTENCES[:4]), " ".join(SENTENCES[4:8])]
    data = world["root"] / "reward_set.jsonl"
    data.write_text("".join(json.dumps({"caption": p}) + "\n" for p in prompts))
    out = world["root"] / "reward_up"
    ok(train("reward", out, f"model.base={world['sd']}", f"data.path={data}", f"reward.model={world['clip']}",
             "data.resolution=16", "lora.rank=4", "optim.warmup_steps=0", "optim.learning_rate=1e-2",
             "optim.max_grad_norm=1", "train.batch_size=2", "train.max_steps=10", "reward.rollout_steps=4",
             "reward.grad_every=1", "reward.omega=1", "train.state_every=0"))
    rec = log(out)
    assert len(rec) == 10 and rec[0]["grad_steps"] == 4 and isinstance(rec[0]["direction"], str)
    assert json.loads((out / "final" / "manifest.json").read_text())["config"]["reward"]["omega"] == 1
    before = _rollout_reward(world, None, prompts)
    after = _rollout_reward(world, out / "final", prompts)
    # measured: -0.2601 → -0.2486 (held-out noises; the training noises differ at every step)
    assert after > before + 0.005, (before, after, [r["reward"] for r in log(out)])


# ---------------------------------------------------------------------------------------------- resume
def test_resume_continues_the_identical_loss_trace(world):
    sets = [f"model.base={world['sd']}", f"data.path={world['pairs']}", "data.resolution=16", "lora.rank=4",
            "optim.warmup_steps=3", "train.batch_size=2", "align.caption_dropout=0.5"]
    straight, split = world["root"] / "straight", world["root"] / "split"
    ok(train("align", straight, *sets, "train.max_steps=4", "train.save_every=2"))
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["step-0000002"]
    assert json.loads((straight / "checkpoints" / "step-0000002" / "manifest.json").read_text())["step"] == 2
    ok(train("align", split, *sets, "train.max_steps=2"))
    r = train("align", split, *sets, "train.max_steps=2")
    assert r.exit_code == 2 and "already holds a training state; pass --resume" in r.output
    ok(train("align", split, *sets, "train.max_steps=4", resume=True))
    a, b = log(straight), log(split)
    assert [x["step"] for x in b] == [1, 2, 3, 4]
    assert [(x["loss"], x["lr"], x["dropped"]) for x in a] == [(x["loss"], x["lr"], x["dropped"]) for x in b]
    # every file of the saved state and checkpoints gets the normal mode (0666 less the umask), none private
    mask = os.umask(0)
    os.umask(mask)
    for f in (p for p in split.rglob("*") if p.is_file()):
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, (f, oct(f.stat().st_mode))
    r = train("align", split, *sets, "train.max_steps=4", "lora.rank=8", resume=True)
    assert r.exit_code == 2 and "config key 'lora.rank' changed" in r.output


def test_resume_accepts_the_same_paths_written_differently(world, monkeypatch):
    monkeypatch.chdir(world["root"])
    out = world["root"] / "rel"
    sets = ["data.resolution=16", "lora.rank=4", "optim.warmup_steps=0", "train.batch_size=2"]
    ok(train("align", out, "model.base=sd", "data.path=./data/pairs.jsonl", *sets, "train.max_steps=1"))
    ok(train("align", out, f"model.base={world['sd']}", f"data.path={world['pairs']}", *sets, "train.max_steps=2",
             resume=True))
    assert [x["step"] for x in log(out)] == [1, 2]
    r = train("align", out, "model.base=other-sd", "data.path=data/pairs.jsonl", *sets, "train.max_steps=3",
              resume=True)
    assert r.exit_code == 2 and f"config key 'model.base' changed ('{world['sd']}' → 'other-sd')" in r.output


def test_log_lines_past_the_saved_state_are_dropped(tmp_path):
    from longalign.resume import truncate_log

    f = tmp_path / "log.jsonl"
    f.write_text("".join(json.dumps({"step": i, "loss": i / 10}) + "\n" for i in range(1, 6)) + '{"step": 6, "lo')
    truncate_log(f, 3)
    assert [json.loads(x)["step"] for x in f.read_text().splitlines()] == [1, 2, 3]


# ---------------------------------------------------------------------------------------------- checkpoints
def test_lcm_then_reward_lcm_checkpoint_loads_as_trained(world, align_ckpt):
    """lcm and reward-lcm from the CLI; the reward-lcm LoRA (align + lcm + its own, stacked) loads in plain
    diffusers as exactly the model that was trained (rebuilt from the run's resumable state)."""
    from accelerate import Accelerator
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import load_file

    from longalign.config import load_config
    from longalign.stages.reward_lcm import RewardLcmStage

    root = world["root"]
    ok(train("lcm", root / "lcm", f"model.init_from={align_ckpt}", f"data.path={world['pairs']}",
             "lcm.num_ddim_timesteps=4", *TINY))
    sets = [f"model.init_from={root / 'lcm' / 'final'}", f"data.path={world['pairs']}", f"reward.model={world['clip']}",
            "optim.learning_rate=1e-2", *TINY, "lora.alpha=8"]  # scale 2, folded into lora_B when saved
    ok(train("reward-lcm", root / "rlcm", *sets))
    final = root / "rlcm" / "final"
    m = json.loads((final / "manifest.json").read_text())
    assert m["stage"] == "reward-lcm" and m["inference"]["scheduler"] == "LCMScheduler"
    assert [x["stage"] for x in m["lineage"]] == ["align", "lcm"] and m["lora"]["ranks"] == [16]
    assert log(root / "rlcm")[0]["grad_steps"] == 4
    assert json.loads((root / "lcm" / "final" / "manifest.json").read_text())["stage"] == "lcm"

    # the trained model: base + fused parents + the fresh LoRA with the trained weights of the state
    stage = RewardLcmStage(load_config("reward-lcm", None, sets), Accelerator(cpu=True))
    stage.setup()
    trained_weights = load_file(str(root / "rlcm" / "state" / "trainable.safetensors"))
    with torch.no_grad():
        for name, p in stage.trainable_named_parameters().items():
            p.copy_(trained_weights[name])
    trained = stage.unet.eval()
    x, t, ctx = torch.randn(1, 4, 8, 8), torch.tensor([500]), torch.randn(1, 240, 32)
    pipe = StableDiffusionPipeline.from_pretrained(str(world["sd"]), local_files_only=True)
    with torch.no_grad():
        base_out = pipe.unet(x, t, ctx).sample
        pipe.load_lora_weights(str(final))
        expected, got = trained(x, t, ctx).sample, pipe.unet(x, t, ctx).sample
    assert torch.allclose(got, expected, atol=1e-5), float((got - expected).abs().max())
    assert not torch.allclose(got, base_out, atol=1e-3)


def test_longalign_recipe_checkpoint(world):
    from safetensors.torch import load_file

    out = world["root"] / "recipe"
    ok(train("align", out, f"model.base={world['sd']}", f"data.path={world['pairs']}", *TINY, "lora.recipe=longalign"))
    keys = load_file(str(out / "final" / "pytorch_lora_weights.safetensors"))
    assert any("conv_shortcut.lora_A" in k for k in keys) and not any("ff.net.2.lora" in k for k in keys)
    lora = json.loads((out / "final" / "manifest.json").read_text())["config"]["lora"]
    assert (lora["recipe"], lora["dropout"], lora["dropout_on"]) == ("longalign", 0.1, "output")


def test_stack_loras_adds_the_deltas():
    from longbench.longsd.lora import stack_loras

    g = torch.Generator().manual_seed(0)
    p = {"m.lora_A.weight": torch.randn(2, 5, generator=g), "m.lora_B.weight": torch.randn(3, 2, generator=g),
         "c.lora_A.weight": torch.randn(2, 4, 3, 3, generator=g), "c.lora_B.weight": torch.randn(6, 2, 1, 1, generator=g)}
    n = {"m.lora_A.weight": torch.randn(4, 5, generator=g), "m.lora_B.weight": torch.randn(3, 4, generator=g)}
    s = stack_loras(p, n)
    delta = s["m.lora_B.weight"] @ s["m.lora_A.weight"]
    assert torch.allclose(delta, p["m.lora_B.weight"] @ p["m.lora_A.weight"] + n["m.lora_B.weight"] @ n["m.lora_A.weight"])
    assert s["c.lora_A.weight"].shape == (2, 4, 3, 3)


def test_longsd_model_generates_and_rejects_another_base(world, align_ckpt, other_sd):
    from longbench.errors import LongbenchError
    from longbench.models.base import Request, build_model
    from longbench.suites.base import Item

    model = build_model(f"longsd:{align_ckpt.parent}", {"steps": "2", "height": "16", "width": "16"})
    reqs = [Request(Item(id="a", prompt=" ".join(SENTENCES)), 1), Request(Item(id="b", prompt="A cat."), 2)]
    images = model.generate(reqs)
    assert [im.size for im in images] == [(16, 16), (16, 16)]
    assert model.call_kwargs()["guidance_scale"] == 7.5 and type(model.pipe.scheduler).__name__ == \
        "UniPCMultistepScheduler"
    assert model.identity()["encoder"] == {"token_length": 240, "splitter": "longalign", "t5": None}
    bad = build_model(f"longsd:{align_ckpt}", {"base": str(other_sd)})
    with pytest.raises(LongbenchError, match="was trained on base .* but the weights of .* differ"):
        bad.generate(reqs[:1])
    with pytest.raises(LongbenchError, match="model 'longsd' has no option 'long_prompt'"):
        build_model(f"longsd:{align_ckpt}", {"long_prompt": "segment"})
    with pytest.raises(LongbenchError, match="not a longSD checkpoint"):
        build_model(f"longsd:{world['root']}")


def test_naive_merge_round_trip_through_the_checkpoint(world):
    """model.merge=naive is recorded in the manifest's encoder section, longsd: encodes with it (also the
    unconditional context), it enters the model identity, and a child stage must keep it."""
    from longbench.longsd.encoding import SegmentEncoder
    from longbench.models.base import Request, build_model
    from longbench.suites.base import Item

    out = world["root"] / "align-naive"
    ok(train("align", out, f"model.base={world['sd']}", f"data.path={world['pairs']}", "model.merge=naive", *TINY))
    m = json.loads((out / "final" / "manifest.json").read_text())
    assert m["encoder"]["merge"] == "naive" and "pad_embed_positions" not in m["encoder"]
    assert m["config"]["model"]["merge"] == "naive"
    model = build_model(f"longsd:{out}", {"steps": "2", "height": "16", "width": "16"})
    prompts = [" ".join(SENTENCES[:4]), "A cat."]
    kw = model.prompt_kwargs(prompts)
    pipe = model.pipe
    ref = SegmentEncoder(pipe.tokenizer, pipe.text_encoder, 240, "longalign", merge="naive")
    assert torch.equal(kw["prompt_embeds"], ref(prompts)) and torch.equal(kw["negative_prompt_embeds"],
                                                                           ref.unconditional(2))
    assert model.identity()["encoder"] == {"token_length": 240, "splitter": "longalign", "t5": None, "merge": "naive"}
    assert model.generate([Request(Item(id="a", prompt="A cat. A dog."), 3)])[0].size == (16, 16)
    res = train("align", world["root"] / "child", f"model.init_from={out / 'final'}", f"data.path={world['pairs']}",
                *TINY)
    assert res.exit_code == 2 and "model.merge='longalign' differs from the parent checkpoint" in res.output
    res = train("align", world["root"] / "bad", f"model.base={world['sd']}", "model.merge=concat", *TINY)
    assert res.exit_code == 2 and "model.merge='concat': expected one of longalign, naive" in res.output


def test_t5_branch_trains_the_adapter_and_generates(world):
    from safetensors.torch import load_file

    from longbench.models.base import Request, build_model
    from longbench.suites.base import Item

    t5 = save_tiny_t5(world["root"] / "t5")
    out = world["root"] / "align-t5"
    ok(train("align", out, f"model.base={world['sd']}", f"data.path={world['pairs']}", f"model.t5={t5}",
             "model.adapter_int_dim=16", "model.token_length=80", *TINY))
    m = json.loads((out / "final" / "manifest.json").read_text())
    assert m["encoder"]["t5"] == str(t5) and m["token_length"] == 80
    assert (out / "final" / "t5_adapter" / "diffusion_pytorch_model.safetensors").exists()
    trained = load_file(str(out / "state" / "trainable.safetensors"))
    assert any(k.startswith("1.ff1.") for k in trained) and any("lora_B" in k for k in trained)
    model = build_model(f"longsd:{out}", {"steps": "2", "height": "16", "width": "16"})
    assert model.encoder().output_length == 160
    assert model.generate([Request(Item(id="a", prompt="A cat. A dog."), 3)])[0].size == (16, 16)


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_input_fails_before_any_training_step(world, align_ckpt, other_sd, tmp_path):
    import re
    import shutil

    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"image": "nope.png", "caption": "A cat."}) + "\n")
    shutil.copy(world["root"] / "data" / "img" / "0.png", tmp_path / "0.png")
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"image": "0.png", "caption": ""}) + "\n")
    base, pairs = f"model.base={world['sd']}", f"data.path={world['pairs']}"
    cases = [
        ([base, f"data.path={missing}"], "missing.jsonl:1: image file .*nope.png not found"),
        ([base, f"data.path={empty}"], "empty.jsonl:1: empty caption"),
        ([base, pairs, "align.dropout=0.2"], "unknown config key 'align.dropout'"),
        ([base, pairs, "model.token_length=64"], "model.token_length=64 is below one segment"),
        ([f"model.init_from={align_ckpt}", f"model.base={other_sd}", pairs],
         "was trained on base .* but the weights of .* differ"),
        ([f"model.init_from={align_ckpt}", pairs, "model.token_length=77"],
         "model.token_length=77 differs from the parent checkpoint"),
        ([base, pairs, "lora.target_modules=nothing_here"], "lora.target_modules"),
    ]
    for i, (sets, message) in enumerate(cases):
        out = tmp_path / f"bad{i}"
        r = train("align", out, *sets)
        assert r.exit_code == 2, (sets, r.output, r.exception)
        assert re.search(message, r.output), r.output
        assert not (out / "log.jsonl").exists() and not (out / "state").exists()
    # limits that depend on the base's noise schedule (1000 steps) are checked before any step too
    for i, (stage, sets, message) in enumerate([
        ("lcm", [f"model.init_from={align_ckpt}", pairs, "lcm.num_ddim_timesteps=2000"],
         r"lcm\.num_ddim_timesteps=2000 must lie in \[1, 1000\]"),
        ("reward", [base, pairs, f"reward.model={world['clip']}", "reward.rollout_steps=1500"],
         r"reward\.rollout_steps=1500 must lie in \[1, 1000\]"),
    ]):
        out = tmp_path / f"sched{i}"
        r = train(stage, out, *sets)
        assert r.exit_code == 2 and re.search(message, r.output), r.output
        assert not (out / "log.jsonl").exists() and not (out / "state").exists()
