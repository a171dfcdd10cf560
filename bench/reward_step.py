"""Time and memory of one ``reward`` training step, with and without activation checkpointing.

Tiny models built from configs (UNet (32, 64), 2-block VAE, 2-layer CLIP text encoder, tiny CLIP scorer),
a full 50-step DDIM rollout with CFG and gradients at 5 steps, VAE decode and the reweighted Denscore reward;
forward + backward. Reported per variant: median step time, the bytes the autograd graph keeps for backward
(exact, via saved-tensor hooks) and the peak RSS growth during the step (approximate: the first step of a fresh process,
so allocator reuse does not hide it); the time is the median of the later steps.

    python bench/reward_step.py [--resolution 64] [--batch-size 2] [--rollout-steps 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def build_world(root: Path) -> dict[str, Path]:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTextConfig,
        CLIPTextModel,
    )

    from longbench.synth.suite import make_items
    from longbench.text.tokenizer import load_clip_tokenizer

    torch.manual_seed(0)
    tok = load_clip_tokenizer()
    text = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    StableDiffusionPipeline(
        unet=UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                  block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                  attention_head_dim=4, norm_num_groups=32),
        vae=AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                          up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 32), latent_channels=4,
                          layers_per_block=1, norm_num_groups=32, sample_size=16),
        text_encoder=CLIPTextModel(CLIPTextConfig(**text)), tokenizer=tok,
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                                set_alpha_to_one=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False).save_pretrained(str(root / "sd"))
    CLIPModel(CLIPConfig(text_config=text, vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                              num_attention_heads=4, image_size=32, patch_size=8),
                         projection_dim=16)).save_pretrained(str(root / "clip"))
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                  tokenizer=tok).save_pretrained(str(root / "clip"))
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"caption": it.prompt}) + "\n" for it in make_items(16, seed=3)))
    return {"sd": root / "sd", "clip": root / "clip", "prompts": prompts}


def run_variant(args: argparse.Namespace) -> dict[str, float]:
    import psutil
    import torch
    from accelerate import Accelerator

    from longalign.config import load_config
    from longalign.stages.reward import RewardStage

    torch.set_num_threads(args.threads)
    root = Path(args.world)
    cfg = load_config("reward", None, [
        f"model.base={root / 'sd'}", f"data.path={root / 'prompts.jsonl'}", f"reward.model={root / 'clip'}",
        f"data.resolution={args.resolution}", f"reward.rollout_steps={args.rollout_steps}", "reward.grad_every=10",
        f"reward.checkpointing={args.variant == 'on'}", "lora.rank=4"])
    stage = RewardStage(cfg, Accelerator(cpu=True))
    stage.setup()
    stage.set_prepared([stage.unet])
    prompts = [stage.dataset()[i]["caption"] for i in range(args.batch_size)]
    saved = {"bytes": 0}

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved["bytes"] += t.numel() * t.element_size()
        return t

    proc = psutil.Process()
    peak = {"rss": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], proc.memory_info().rss)
            time.sleep(0.001)

    def step(measure: bool) -> float:
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(0)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t) if measure else _null():
            loss, _ = stage.training_step({"caption": prompts}, gen)
        loss.backward()
        stage.unet.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    # memory: the first step in a fresh process (later steps reuse the heap the first one grew)
    base_rss = proc.memory_info().rss
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    first = step(True)
    stop.set()
    thread.join()
    times = [step(False) for _ in range(args.repeats - 1)] or [first]
    return {"time_s": statistics.median(times), "saved_for_backward_mb": saved["bytes"] / 2**20,
            "peak_rss_growth_mb": max(0, peak["rss"] - base_rss) / 2**20}


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--rollout-steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variant", choices=("on", "off"), help=argparse.SUPPRESS)
    ap.add_argument("--world", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        build_world(Path(tmp))
        results = {}
        for variant in ("off", "on"):
            cmd = [sys.executable, __file__, "--variant", variant, "--world", tmp] + [
                f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("variant", "world")]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
            if out.returncode:
                sys.exit(out.stderr[-2000:])
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"reward step: batch {args.batch_size}, {args.resolution}px, {args.rollout_steps}-step DDIM rollout with CFG, "
          f"{len(range(0, args.rollout_steps, 10))} gradient steps, tiny models, {args.threads} thread(s)")
    for variant, label in (("off", "without checkpointing"), ("on", "with checkpointing")):
        r = results[variant]
        print(f"  {label:24s}: {r['time_s']:.3f} s/step, saved for backward {r['saved_for_backward_mb']:.2f} MiB, "
              f"peak RSS growth {r['peak_rss_growth_mb']:.1f} MiB")
    off, on = results["off"], results["on"]
    print(f"  checkpointing: time x{on['time_s'] / off['time_s']:.2f}, saved-for-backward "
          f"x{on['saved_for_backward_mb'] / max(off['saved_for_backward_mb'], 1e-9):.3f}")


if __name__ == "__main__":
    main()
