"""``longbench train --stage comat`` end to end on tiny models at 32 px, offline: exact synthetic masks and a tiny
Grounding DINO + SAM pair, a SIGKILL and a resume with the identical loss trace, two processes, and the checkpoint
giving the same image in ``longbench eval`` (``longsd:``) and in plain diffusers."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from tests.helpers_longalign import one_thread

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _threads():
    yield from one_thread()


@pytest.fixture(scope="module")
def world(_threads, tmp_path_factory) -> dict[str, Path]:
    from longbench.testing import (
        save_tiny_blip_captioner,
        save_tiny_grounding_dino,
        save_tiny_sam,
        tiny_sd_pipeline,
    )

    root = tmp_path_factory.mktemp("comat")
    tiny_sd_pipeline(0, sample_size=16).save_pretrained(str(root / "sd"))  # 16² latents, 32 px images
    return {"root": root, "sd": root / "sd", "blip": save_tiny_blip_captioner(root / "blip", image_size=32),
            "gdino": save_tiny_grounding_dino(root / "gdino"), "sam": save_tiny_sam(root / "sam")}


def sets(world, steps: int, *extra: str) -> list[str]:
    return [f"model.base={world['sd']}", "data.format=synth", "data.synth_size=4", "data.resolution=32",
            f"reward.model={world['blip']}", "lora.rank=4", "discriminator.lora_rank=4", "train.batch_size=2",
            "reward.rollout_steps=4", "reward.grad_steps=2", "train.state_every=1", "optim.learning_rate=1e-3",
            "discriminator.learning_rate=1e-2", f"train.max_steps={steps}", *extra]


def train(out: Path, settings: list[str], resume: bool = False):
    from longalign.commands import train as train_cmd

    args = ["--stage", "comat", "--output", str(out), "--no-progress"]
    for s in settings:
        args += ["--set", s]
    if resume:
        args.append("--resume")
    result = CliRunner().invoke(train_cmd, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


def trace(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "it_s"} for r in log(out)]


@pytest.fixture(scope="module")
def straight(world) -> Path:
    """Four steps with exact scene masks: the reference trace of the resume test, and the checkpoint."""
    out = world["root"] / "straight"
    train(out, sets(world, 4))
    return out


def test_exact_masks_run_writes_a_longsd_checkpoint(straight):
    from safetensors.torch import load_file

    rec = log(straight)
    assert [r["step"] for r in rec] == [1, 2, 3, 4]
    for r in rec:
        assert {"reward", "token_loss", "pixel_loss", "g_loss", "d_loss", "entities"} <= set(r)
        assert all(math.isfinite(r[k]) for k in ("loss", "token_loss", "pixel_loss", "g_loss", "d_loss"))
        assert r["grad_steps"] == 2 and r["entities"] >= 3 and r["token_loss"] > 0 and r["pixel_loss"] > 0
    m = json.loads((straight / "final" / "manifest.json").read_text())
    assert m["stage"] == "comat" and m["step"] == 4 and m["inference"]["scheduler"] == "UniPCMultistepScheduler"
    assert m["config"]["reward"]["kind"] == "caption" and m["config"]["discriminator"]["trunk"] == "encoder"
    lora = load_file(str(straight / "final" / "pytorch_lora_weights.safetensors"))
    assert lora and all(".to_" in k for k in lora)  # the reference's layers: attention projections only
    assert any(float(v.abs().max()) > 0 for k, v in lora.items() if "lora_B" in k)  # trained
    state = load_file(str(straight / "state" / "trainable.safetensors"))
    assert any(k.startswith("discriminator.head.") for k in state)  # the discriminator is part of the state


def test_sigkill_then_resume_gives_the_identical_loss_trace(world, straight, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "longalign.commands", "--stage", "comat", "--output", str(out), "--no-progress"]
    for s in sets(world, 4):
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}  # one thread, as this process
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if (out / "log.jsonl").exists() and len((out / "log.jsonl").read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    proc.send_signal(signal.SIGKILL)  # somewhere in step 3 (or while saving the state of step 2)
    proc.wait()
    assert not (out / "final").exists()
    train(out, sets(world, 4), resume=True)
    assert trace(out) == trace(straight)


def test_checkpoint_gives_the_same_image_in_eval_and_in_plain_diffusers(world, straight):
    import numpy as np
    from diffusers import StableDiffusionPipeline, UniPCMultistepScheduler

    from longbench.longsd.encoding import segment_prompt_embeds
    from longbench.models.base import Request, build_model
    from longbench.suites.base import Item
    from longbench.synth.suite import draft

    prompt = draft(0, 0)[1].text  # a long prompt (beyond 77 tokens)
    model = build_model(f"longsd:{straight}", {"steps": "3", "height": "32", "width": "32"})
    (ours,) = model.generate([Request(Item(id="a", prompt=prompt), 11)])

    pipe = StableDiffusionPipeline.from_pretrained(str(world["sd"]), local_files_only=True)
    pipe.load_lora_weights(str(straight / "final"))
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    embeds = segment_prompt_embeds(pipe, [prompt], {"token_length": 240, "splitter": "longalign"})
    with torch.no_grad():
        (plain,) = pipe(**embeds, num_inference_steps=3, guidance_scale=7.5, height=32, width=32,
                        generator=[torch.Generator().manual_seed(11)]).images
    a, b = np.asarray(ours, dtype=np.int16), np.asarray(plain, dtype=np.int16)
    # longsd fuses the LoRA into the weights, plain diffusers keeps it as a side branch: float rounding may
    # move a pixel by one level of 255
    assert a.shape == (32, 32, 3) and int(np.abs(a - b).max()) <= 1


def test_grounded_sam_masks_equal_a_direct_computation(world):
    from torchvision.transforms.v2 import functional as tvf
    from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor, SamModel, SamProcessor

    from longalign.comat.masks import GroundedSam

    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    names = [["red squares", "cat"], ["dog"]]
    gs = GroundedSam.load(str(world["gdino"]), "", str(world["sam"]), "", box_threshold=0.5, device="cpu")
    got = gs.masks(images, names)

    dino = GroundingDinoForObjectDetection.from_pretrained(str(world["gdino"])).eval()
    dproc = GroundingDinoProcessor.from_pretrained(str(world["gdino"]))
    sam, sproc = SamModel.from_pretrained(str(world["sam"])).eval(), SamProcessor.from_pretrained(str(world["sam"]))
    fired = 0
    with torch.no_grad():
        for img, want_names, masks in zip(images, names, got):
            pil = tvf.to_pil_image(img.mul(255).round().to(torch.uint8))
            assert masks.shape == (len(want_names), 32, 32)
            for e, name in enumerate(want_names):
                inp = dproc(images=[pil], text=[name + "."], return_tensors="pt")
                out = dino(**inp)
                n_tok = int(inp["attention_mask"][0].sum())
                scores = torch.sigmoid(out.logits[0, :, :n_tok]).max(-1).values
                cx, cy, w, h = out.pred_boxes[0].unbind(-1)
                boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * 32
                keep = boxes[scores > 0.5]
                want = torch.zeros(32, 32, dtype=torch.bool)
                for box in keep.tolist():  # one SAM call per box (GroundedSam prompts all boxes at once)
                    s_in = sproc(images=[pil], input_boxes=[[box]], return_tensors="pt")
                    pred = sam(**s_in, multimask_output=False).pred_masks
                    want |= sproc.post_process_masks(pred, s_in["original_sizes"], s_in["reshaped_input_sizes"])[0][0, 0]
                fired += len(keep)
                assert torch.equal(masks[e], want), (name, int((masks[e] ^ want).sum()))
    assert fired > 0  # the random detector fires at this threshold


def test_grounded_sam_run(world, tmp_path):
    out = tmp_path / "gsam"
    train(out, sets(world, 1, "comat.masks=grounded-sam", f"comat.grounding_model={world['gdino']}",
                    f"comat.sam_model={world['sam']}", "comat.box_threshold=0.5", "discriminator.loss_weight=0"))
    (rec,) = log(out)
    assert rec["pixel_loss"] > 0 and math.isfinite(rec["token_loss"]) and "g_loss" not in rec and "d_loss" not in rec


def test_scene_masks_need_a_synthetic_world(world, tmp_path):
    data = tmp_path / "captions.jsonl"
    data.write_text(json.dumps({"caption": "Three red boats on a lake."}) + "\n")
    from longalign.commands import train as train_cmd

    settings = [s for s in sets(world, 1) if not s.startswith("data.format")] + [f"data.path={data}",
                                                                                  "comat.masks=scene"]
    args = ["--stage", "comat", "--output", str(tmp_path / "bad"), "--no-progress"]
    for s in settings:
        args += ["--set", s]
    result = CliRunner().invoke(train_cmd, args)
    assert result.exit_code == 2 and "comat.masks=scene: exact masks need a synthetic world" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes(world, tmp_path):
    """torchrun, 2 CPU processes: gradients of the generator and the discriminator are averaged (the state save
    checks that both processes hold the same weights of both), one checkpoint."""
    out = tmp_path / "two"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "longalign.commands", "--stage", "comat", "--output", str(out),
           "--no-progress"]
    real = tmp_path / "real.safetensors"
    for s in sets(world, 2, "train.batch_size=1", f"discriminator.real_latents={real}"):
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("checkpoint:") == 1
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "final", "log.jsonl", "state"]
    assert {"random_states_0.pkl", "random_states_1.pkl", "optimizer.bin", "optimizer_1.bin"} <= \
        {p.name for p in (out / "state").iterdir()}
    assert [r["step"] for r in log(out)] == [1, 2]
    assert json.loads((out / "state" / "trainer.json").read_text())["num_processes"] == 2

    # the processes shared the sampling of the real latents: the same latents as one process samples
    from accelerate import Accelerator
    from safetensors.torch import load_file

    from longalign.config import load_config
    from longalign.stages.comat import ComatStage

    stage = ComatStage(load_config("comat", None, sets(world, 2, "train.batch_size=1", "comat.attention_steps=0")),
                       Accelerator(cpu=True))
    stage.setup()
    shared = load_file(str(real))["latents"]
    assert shared.shape == (4, 4, 16, 16) and torch.allclose(shared, stage.real, atol=1e-6)


def test_real_latents_are_the_base_models_ddpm_samples(world, tmp_path):
    """The discriminator's real latents are what diffusers' pipeline samples with DDPM for the same prompts, noise
    and guidance (segment-encoded prompts); a cache file is written once, then read, and refused when stale."""
    from accelerate import Accelerator
    from diffusers import DDPMScheduler, StableDiffusionPipeline

    from longalign.config import load_config
    from longalign.stages.comat import ComatStage
    from longalign.trainer import mix_seed
    from longbench.errors import LongbenchError
    from longbench.longsd.encoding import segment_prompt_embeds

    cfg = load_config("comat", None, sets(world, 1, "data.synth_size=2", "comat.attention_steps=0"))
    stage = ComatStage(cfg, Accelerator(cpu=True))
    stage.setup()
    prompts = [stage.dataset()[k]["caption"] for k in range(2)]

    pipe = StableDiffusionPipeline.from_pretrained(str(world["sd"]), local_files_only=True)
    pipe.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(mix_seed(cfg.train.seed, "real-latents", 0))
    noise = torch.randn(2, 4, 16, 16, generator=generator)  # the stage draws the noise first, then each step's
    embeds = segment_prompt_embeds(pipe, prompts, {"token_length": 240, "splitter": "longalign"})
    with torch.no_grad():
        want = pipe(**embeds, latents=noise, generator=generator, num_inference_steps=4, guidance_scale=7.5,
                    output_type="latent").images
    assert torch.allclose(stage.real, want, atol=1e-5), float((stage.real - want).abs().max())

    cache = tmp_path / "real.safetensors"
    cfg.discriminator.real_latents = str(cache)
    assert torch.equal(stage.real_latents(), stage.real) and cache.is_file()
    written = cache.stat().st_mtime_ns
    assert torch.equal(stage.real_latents(), stage.real) and cache.stat().st_mtime_ns == written  # read back
    cfg.reward.guidance_scale = 5.0
    with pytest.raises(LongbenchError, match="discriminator.real_latents=.*made for other prompts, models or sampler"):
        stage.real_latents()


def test_reward_stage_takes_the_caption_reward(world, tmp_path):
    """LongAlign's rollout (DDIM, truncated backprop) with CoMat's reward: one registry, one rollout."""
    out = tmp_path / "reward-caption"
    from longalign.commands import train as train_cmd

    args = ["--stage", "reward", "--output", str(out), "--no-progress"]
    for s in [f"model.base={world['sd']}", "data.format=synth", "data.synth_size=2", "data.resolution=32",
              f"reward.model={world['blip']}", "reward.kind=caption", "lora.rank=4", "train.batch_size=2",
              "train.max_steps=1", "reward.rollout_steps=4", "reward.grad_every=2", "optim.warmup_steps=0"]:
        args += ["--set", s]
    result = CliRunner().invoke(train_cmd, args)
    assert result.exit_code == 0, (result.output, result.exception)
    (rec,) = log(out)
    assert rec["loss"] == pytest.approx(-rec["reward"]) and rec["texts"] >= 1 and rec["grad_steps"] == 2
    m = json.loads((out / "final" / "manifest.json").read_text())
    assert m["config"]["reward"]["kind"] == "caption" and m["config"]["reward"]["splitter"] == "default"
