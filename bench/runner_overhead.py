"""Runner overhead: `longbench eval` end-to-end ÷ a bare loop doing the same pipeline calls and
metric updates, measured in one process, interleaved, median of repeats. Goal ≤ 1.10.

    python bench/runner_overhead.py [--items 24] [--steps 10] [--size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def bare_loop(pipe_dir: Path, suite, args) -> float:
    import torch
    from diffusers import DiffusionPipeline

    from longbench.metrics.base import MetricContext, build_metric
    from longbench.models.base import request_seed

    t0 = time.perf_counter()
    pipe = DiffusionPipeline.from_pretrained(str(pipe_dir), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    metric = build_metric("synth", MetricContext(suite=suite))
    items = suite.items
    for i in range(0, len(items), args.batch_size):
        batch = items[i:i + args.batch_size]
        gens = [torch.Generator().manual_seed(request_seed(0, suite.name, it.id)) for it in batch]
        with torch.inference_mode():
            images = pipe(prompt=[it.prompt for it in batch], generator=gens, num_inference_steps=args.steps,
                          height=args.size, width=args.size, output_type="pil").images
        metric.update(images, batch)
    metric.compute()
    return time.perf_counter() - t0


def longbench_eval(pipe_dir: Path, out: Path, args) -> float:
    from longbench.runner import EvalConfig, run_eval

    config = EvalConfig(models=[f"diffusers:{pipe_dir}"], suite="synth-v0", metrics=["synth"], limit=args.items,
                        batch_size=args.batch_size, output=str(out),
                        model_args={"steps": str(args.steps), "height": str(args.size), "width": str(args.size)})
    t0 = time.perf_counter()
    (o,) = run_eval(config)
    assert o.images_generated == args.items, "the eval must generate every image (fresh output dir)"
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=24)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from longbench.suites.loaders import load_suite
    from longbench.testing import tiny_sd_pipeline

    suite = load_suite("synth-v0").head(args.items)
    with tempfile.TemporaryDirectory() as tmp:
        pipe_dir = Path(tmp) / "pipe"
        tiny_sd_pipeline().save_pretrained(str(pipe_dir))
        bare_loop(pipe_dir, suite, args)  # warm-up: imports, allocator, tokenizer files
        bare, ours = [], []
        for r in range(args.repeats):
            bare.append(bare_loop(pipe_dir, suite, args))
            ours.append(longbench_eval(pipe_dir, Path(tmp) / f"runs{r}", args))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"items={args.items} steps={args.steps} size={args.size} batch={args.batch_size} repeats={args.repeats}")
    print(f"bare loop      median {b:7.3f} s   runs {[round(x, 3) for x in bare]}")
    print(f"longbench eval median {o:7.3f} s   runs {[round(x, 3) for x in ours]}")
    print(f"ratio eval/bare = {o / b:.3f}  (goal <= 1.10)")


if __name__ == "__main__":
    main()
