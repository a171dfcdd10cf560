"""Scoring throughput of the CLIP-based metrics against two peers each, and against torchmetrics, in one run.

For ``clipscore``, ``denscore`` and ``segment-align``, the wall time of the metric — construction (for
Denscore: embedding the whole suite to fix V), every ``update`` and ``compute`` — on the batches the runner
hands it: an :class:`~longbench.images.ImageBatch` (uint8, decoded and converted once, shared by every
metric) — is divided by

* **bare**: the forwards the metric cannot avoid: the image tower once per image on preprocessed pixels and
  the text tower once per unique text (prompt or segment) on pre-tokenized input;
* **floor**: bare plus the rest of the work the protocol requires, written here directly: per batch the image
  preprocessing from the uint8 batch in torch (resize/crop/normalise for the CLIP protocol; centre crop
  504/512, float, antialiased bilinear resize, normalise for Denscore's), the prompts' segments (Denscore:
  the ``longalign`` split; ``segment-align``: the suite's segments or sentences, counted in one tokenizer
  call and fitted to 75 tokens), and one tokenizer call for the unique texts. Decoding is not in it: the
  runner decodes once for all metrics (its cost is printed as ``decode once``).

Goals: tiny-model rows ≤ 1.15× the floor (a tiny model is what a GPU makes of a real one: preprocessing and
Python overhead show); ViT-B rows ≤ 1.05× bare; ``clipscore`` images/s ≥ 1.2× torchmetrics' ``CLIPScore``
on the same model, processor and batches (its model wrapped so that ``get_*_features`` return tensors under
transformers 5; it is given the uint8 tensors of each batch, which is what its API takes).

Two random-weight CLIP models built from configs: ``tiny`` (width 32, 2 layers) and ``vit-b`` (ViT-B/32
sized: vision 768×12, text 512×12). Fastest of repeats run in a shuffled interleaved order; wall and
CPU-time ratios are both printed (CPU time resists load from other processes on a shared machine).

    python bench/scoring_throughput.py [--items 32] [--vitb-items 16] [--repeats 3] [--tiny-repeats 15]
        [--batch-size 8] [--threads 1] [--dtype float32] [--device cpu]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WORDS = ["red", "blue", "green", "old", "small", "tall", "bright", "quiet", "wooden", "glass", "stone", "silver",
         "golden", "misty", "dark", "narrow", "cat", "dog", "boat", "tree", "house", "lamp", "river", "bridge",
         "tower", "garden", "window", "mountain", "street", "market", "child", "bird", "sits", "stands", "leans",
         "floats", "glows", "rests", "hangs", "runs", "sleeps", "waits"]
METRICS = ("clipscore", "denscore", "segment-align")


def make_prompt(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(5, 10)):
        n = rng.randint(6, 18)
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
    sentences.append("The scene is calm.")  # one segment shared by every prompt
    return " ".join(sentences)


def build_model(path: Path, size: str) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from longbench.text.tokenizer import load_clip_tokenizer

    if size == "tiny":
        text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
        vision = {**text, "image_size": 224, "patch_size": 32}
        proj = 16
    else:  # ViT-B/32
        text = {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 8}
        vision = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                  "num_attention_heads": 12, "image_size": 224, "patch_size": 32}
        proj = 512
    torch.manual_seed(0)
    cfg = CLIPConfig(text_config={"vocab_size": 49408, "max_position_embeddings": 77, **text},
                     vision_config=vision, projection_dim=proj)
    CLIPModel(cfg).eval().save_pretrained(str(path))
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=load_clip_tokenizer()).save_pretrained(str(path))
    return path


def make_data(n: int, seed: int = 0):
    import numpy as np
    from PIL import Image

    from longbench.suites.base import Item, Suite

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    items = [Item(id=f"b{i:04d}", prompt=make_prompt(rng)) for i in range(n)]
    images = [Image.fromarray(nrng.integers(0, 256, (512, 512, 3), dtype=np.uint8)) for _ in range(n)]
    return Suite("bench", "1", items), images


def timed(fn: Callable[[], Any], sync: Callable[[], None] = lambda: None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn()``; CPU time resists load from other processes."""
    sync()
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync()
    return time.perf_counter() - w0, time.process_time() - c0


# ---------------------------------------------------------------------- the peers
def clip_protocol_pixels(u8, scorer):
    """The CLIP protocol written out in torch: shortest side to 224 (bicubic, antialias, on uint8), centre
    crop, rescale, normalise (what CLIPImageProcessor does)."""
    import torch
    from torchvision.transforms.v2 import functional as tvf

    x = tvf.resize(u8, 224, interpolation=tvf.InterpolationMode.BICUBIC, antialias=True)
    x = tvf.center_crop(x, [224, 224]).to(torch.float32, memory_format=torch.contiguous_format).mul_(1 / 255)
    return tvf.normalize(x, list(scorer.image_mean), list(scorer.image_std))


def denscore_protocol_pixels(u8, scorer):
    """Denscore's protocol written out in torch: centre crop 504/512 of each side, float in [0,1], bilinear
    antialiased resize to the model's size, normalise."""
    import torch
    from torchvision.transforms.v2 import functional as tvf

    h, w = u8.shape[-2:]
    x = tvf.center_crop(u8, [round(h * 504 / 512), round(w * 504 / 512)])
    x = x.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
    x = tvf.resize(x, [scorer.image_size] * 2, interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
    return tvf.normalize(x, list(scorer.image_mean), list(scorer.image_std))


def forwards(scorer, pixels: list, encodings: list) -> None:
    """Image tower on each batch of pixels, text tower on each batch of tokens."""
    import torch

    with torch.inference_mode():
        for p in pixels:
            scorer.image_features(p)
        for enc in encodings:
            scorer.model.get_text_features(**enc)


def protocol_segments(metric: str, items: list, scorer) -> list[str]:
    """The texts a metric embeds, made directly: prompts; Denscore's ``longalign`` split; for
    ``segment-align`` the suite's segments or the sentences of the prompt, counted in one tokenizer call,
    then fitted to 75 tokens (a sentence over the budget is cut by the library's splitter)."""
    from longbench.text.splitters import fit_segments, split_default, split_longalign

    if metric == "clipscore":
        return [it.prompt for it in items]
    if metric == "denscore":
        return [s for it in items for s in split_longalign(it.prompt)]
    sentences = [it.segments or split_default(it.prompt) for it in items]
    flat = [s for ss in sentences for s in ss]
    counts = dict(zip(flat, map(len, scorer.tokenizer(flat, add_special_tokens=False)["input_ids"])))

    def count(text: str) -> int:
        return counts[text] if text in counts else len(scorer.tokenizer(text, add_special_tokens=False)["input_ids"])

    return [s for it in items for s in fit_segments(it.prompt, it.segments, count, 75)]


def tokenize_unique(scorer, texts: list[str]) -> list:
    unique = list(dict.fromkeys(texts))
    return [{k: v.to(scorer.device) for k, v in scorer.tokenize(unique[i:i + scorer.text_batch_size]).items()}
            for i in range(0, len(unique), scorer.text_batch_size)]


class TensorFeatures:
    """torchmetrics 1.9 reads ``get_*_features`` as tensors; transformers 5 returns output objects."""

    def __init__(self, model):
        self.inner, self.config = model, model.config

    def to(self, *args, **kwargs):
        self.inner.to(*args, **kwargs)
        return self

    def get_image_features(self, *args, **kwargs):
        return _tensor(self.inner.get_image_features(*args, **kwargs))

    def get_text_features(self, *args, **kwargs):
        return _tensor(self.inner.get_text_features(*args, **kwargs))


def _tensor(out):
    import torch

    return out if isinstance(out, torch.Tensor) else out.pooler_output


def bench_model(size: str, n: int, root: Path, args: argparse.Namespace) -> tuple[list[tuple], dict[str, float]]:
    """Time every metric, its two peers and torchmetrics on one model; one table row per ratio."""
    import torch
    from torchmetrics.multimodal import CLIPScore

    from longbench.images import ImageBatch
    from longbench.metrics.clip_models import load_clip_scorer
    from longbench.metrics.clipscore import ClipScore
    from longbench.metrics.denscore import Denscore, split_prompts
    from longbench.metrics.segment_align import SegmentAlign

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    path = build_model(root / size, size)
    scorer = load_clip_scorer(str(path), device=args.device, dtype=args.dtype)
    suite, images = make_data(n)
    items = suite.items
    bs = args.batch_size
    spans = [(i, min(i + bs, n)) for i in range(0, n, bs)]
    pil_batches = [(images[a:b], items[a:b]) for a, b in spans]
    u8 = [ImageBatch.from_images(images[a:b], device=device) for a, b in spans]  # the runner's one conversion
    batches = [(u8[k], items[a:b]) for k, (a, b) in enumerate(spans)]
    prompts = [it.prompt for it in items]
    texts = {m: protocol_segments(m, items, scorer) for m in METRICS}
    # the floor's segments are the metric's: same texts, same forwards
    assert texts["denscore"] == split_prompts(prompts, scorer, "longalign")[0]
    assert texts["segment-align"] == [s for it in items for s in SegmentAlign(scorer).segments_of(it)]
    pixel_fn = {"clipscore": clip_protocol_pixels, "denscore": denscore_protocol_pixels,
                "segment-align": clip_protocol_pixels}
    # bare: inputs prepared outside the timed region
    ready = {m: ([pixel_fn[m](b.stacked, scorer) for b in u8], tokenize_unique(scorer, texts[m])) for m in METRICS}

    def floor(m: str) -> None:
        scorer.clear_cache()  # nothing kept from another job (token ids)
        with torch.inference_mode():
            pixels = [pixel_fn[m](b.stacked, scorer) for b in u8]
        forwards(scorer, pixels, tokenize_unique(scorer, protocol_segments(m, items, scorer)))

    def run_metric(make, data) -> None:
        scorer.clear_cache()  # every run starts cold: text forwards and token counts are part of the cost
        metric = make()
        for ims, its in data:
            metric.update(ims, its)
        metric.compute()

    makers = {"clipscore": lambda: ClipScore(scorer), "denscore": lambda: Denscore(scorer, direction_prompts=prompts),
              "segment-align": lambda: SegmentAlign(scorer)}
    wrapped = TensorFeatures(scorer.model)
    proc = _processor(path)
    u8_lists = [list(b) for b in u8]

    def run_torchmetrics() -> None:
        metric = CLIPScore(model_name_or_path=lambda: (wrapped, proc)).to(device)
        for k, (a, b) in enumerate(spans):
            metric.update(u8_lists[k], prompts[a:b])
        metric.compute()

    jobs: dict[str, Callable[[], tuple[float, float]]] = {}
    for m in METRICS:
        jobs[m] = lambda m=m: timed(lambda: run_metric(makers[m], batches), sync)
        jobs[f"bare:{m}"] = lambda m=m: timed(lambda: forwards(scorer, *ready[m]), sync)
        jobs[f"floor:{m}"] = lambda m=m: timed(lambda: floor(m), sync)
    jobs["clipscore-pil"] = lambda: timed(lambda: run_metric(makers["clipscore"], pil_batches), sync)
    jobs["torchmetrics"] = lambda: timed(run_torchmetrics, sync)
    jobs["decode"] = lambda: timed(lambda: [ImageBatch.from_images(ims, device=device) for ims, _ in pil_batches],
                                   sync)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in jobs}
    run_metric(makers["clipscore"], batches)  # warm-up (allocator, lazy imports)
    order = list(jobs)
    shuffle = random.Random(0)
    for _ in range(args.tiny_repeats if size == "tiny" else args.repeats):
        shuffle.shuffle(order)  # interleaved in a new order each repeat: load drifts hit every job
        for name in order:
            times[name].append(jobs[name]())
    # the fastest repeat is the one least disturbed by other processes on a shared machine
    wall = {k: min(t[0] for t in v) for k, v in times.items()}
    cpu = {k: min(t[1] for t in v) for k, v in times.items()}
    rows = []
    for m in METRICS:
        for peer in ("bare", "floor"):
            p = f"{peer}:{m}"
            rows.append((size, n, f"{m} ÷ {peer}", wall[m], wall[p], wall[m] / wall[p], cpu[m] / cpu[p]))
    for name, label in (("clipscore", "batch"), ("clipscore-pil", "from PIL")):
        rows.append((size, n, f"clipscore img/s ÷ torchmetrics ({label})", n / wall[name], n / wall["torchmetrics"],
                     wall["torchmetrics"] / wall[name], cpu["torchmetrics"] / cpu[name]))
    extra = {"decode": wall["decode"], "floors": sum(wall[f"floor:{m}"] for m in METRICS)}
    return rows, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32, help="images for the tiny model")
    parser.add_argument("--vitb-items", type=int, default=16, help="images for the ViT-B model")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the ViT-B jobs")
    parser.add_argument("--tiny-repeats", type=int, default=15,
                        help="repeats of the tiny-model jobs (tens of ms each: more repeats, steadier minimum)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--models", default="tiny,vit-b")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = least noise on shared CPUs)")
    parser.add_argument("--dtype", default="float32", help="metric model dtype (float32, bfloat16, float16)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import os

    import torch

    # one thread everywhere: the tokenizers' Rust thread pool would otherwise add CPU time outside torch
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(args.threads)
    rows, extras = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.models.split(","):
            r, extras[size] = bench_model(size, args.items if size == "tiny" else args.vitb_items, Path(tmp), args)
            rows += r

    print(f"{'model':7} {'n':>4} {'metric':40} {'metric':>10} {'peer':>10} {'ratio':>7} {'cpu ratio':>9}")
    for size, n, name, a, b, r, rc in rows:
        unit = "i" if "img/s" in name else "s"
        print(f"{size:7} {n:4d} {name:40} {a:9.3f}{unit} {b:9.3f}{unit} {r:7.3f} {rc:9.3f}")
    for size, e in extras.items():
        print(f"{size:7} decode once (PIL → uint8 batches, shared by all metrics): {e['decode']:.3f}s "
              f"= {e['decode'] / e['floors']:.2f}× the three floors")
    print("metric/peer: wall seconds (img/s for the torchmetrics rows), fastest of the repeats; "
          "cpu ratio: the same ratio in CPU seconds of this process")
    print(f"goals: tiny ÷ floor ≤ 1.15; vit-b ÷ bare ≤ 1.05; clipscore img/s ÷ torchmetrics ≥ 1.2 "
          f"(device {args.device}, dtype {args.dtype}, torch threads {torch.get_num_threads()})")


def _processor(path: Path):
    from transformers import CLIPProcessor

    return CLIPProcessor.from_pretrained(str(path), local_files_only=True)


if __name__ == "__main__":
    main()
