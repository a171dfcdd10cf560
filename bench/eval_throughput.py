"""Evaluation throughput at real architecture sizes: generation + every default metric, random weights.

Builds, with random weights and on the device present (nothing is downloaded): an SD-1.5 pipeline (UNet,
VAE and CLIP text encoder at their SD-1.5 configs, DDIM), a ViT-L/14 CLIP (``clipscore`` and
``segment-align``), a ViT-H/14-sized CLIP (``denscore``), OWLv2-base/16 at 960 px (``count``) and the FID
Inception-v3 (``fid`` against fixed reference statistics). Prompts: the first items of ``longbench-v1``
(Denscore's V over the whole suite, as in a real run). Generated images go to the metrics as one uint8
:class:`~longbench.images.ImageBatch` on the metric device per batch (no PIL, no host round trip).

Printed: images/s of bare generation (pipeline calls only) and of the evaluation (generation + one batch
conversion + every metric's updates and computes, batch after batch, as the runner does without overlap);
eval ÷ bare generation (goal ≤ 1.10 on a GPU); each metric alone on the generated batches ÷ its bare forwards
(the model forwards it cannot avoid on inputs prepared beforehand: image tower per image, text tower per
unique text, detector per batch, Inception per image). The fastest of ``--repeats`` runs counts.

    python bench/eval_throughput.py                 # real sizes on the GPU (≤ 5 minutes on one H100)
    python bench/eval_throughput.py --cpu-small     # tiny configs, few images: a few minutes on a laptop CPU
    python bench/eval_throughput.py --check-configs # parameter counts of the real configs (meta device)
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

SD_UNET = {"sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
           "block_out_channels": (320, 640, 1280, 1280), "cross_attention_dim": 768, "attention_head_dim": 8,
           "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
           "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3}
SD_VAE = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "sample_size": 512,
          "block_out_channels": (128, 256, 512, 512), "down_block_types": ("DownEncoderBlock2D",) * 4,
          "up_block_types": ("UpDecoderBlock2D",) * 4}
SD_TEXT = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
           "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
           "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407}


def _tower(width: int, layers: int, heads: int, mlp: int, **extra: Any) -> dict[str, Any]:
    return {"hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads,
            "intermediate_size": mlp, **extra}


def _clip(vision: tuple[int, int, int, int], text: tuple[int, int, int], proj: int, image: int = 224,
          patch: int = 14, act: str = "gelu") -> dict[str, Any]:
    """CLIP config: vision (width, layers, heads, mlp), text (width, layers, heads), projection."""
    tw, tl, th = text
    return {"text_config": _tower(tw, tl, th, 4 * tw, vocab_size=49408, max_position_embeddings=77, hidden_act=act),
            "vision_config": _tower(*vision, image_size=image, patch_size=patch, hidden_act=act),
            "projection_dim": proj}


def _owl(vision: tuple[int, int, int, int], text: tuple[int, int, int], proj: int, image: int) -> dict[str, Any]:
    tw, tl, th = text
    return {"text_config": _tower(tw, tl, th, 4 * tw, vocab_size=49408, max_position_embeddings=16),
            "vision_config": _tower(*vision, image_size=image, patch_size=16), "projection_dim": proj}


SIZES: dict[str, dict[str, Any]] = {
    "full": {  # SD-1.5; CLIP ViT-L/14 (openai); ViT-H/14 (laion, Denscore's); OWLv2 base/16 at 960 px
        "clip_l": _clip((1024, 24, 16, 4096), (768, 12, 12), 768, act="quick_gelu"),
        "clip_h": _clip((1280, 32, 16, 5120), (1024, 24, 16), 1024),
        "owl": _owl((768, 12, 12, 3072), (512, 12, 8), 512, image=960),
        "owl_size": 960, "image": 512, "items": 32, "batch": 8, "steps": 25, "repeats": 2,
    },
    "cpu-small": {
        "clip_l": _clip((32, 2, 4, 64), (32, 2, 4), 16, patch=32),
        "clip_h": _clip((48, 2, 4, 96), (32, 2, 4), 16, patch=32),
        "owl": _owl((32, 2, 4, 64), (32, 2, 4), 32, image=64),
        "owl_size": 64, "image": 64, "items": 8, "batch": 4, "steps": 4, "repeats": 3,
    },
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], devices: list[torch.device], setup: Callable[[], Any] = lambda: None) -> float:
    setup()
    for d in devices:
        _sync(d)
    t0 = time.perf_counter()
    fn()
    for d in devices:
        _sync(d)
    return time.perf_counter() - t0


def nparams(m: torch.nn.Module) -> str:
    return f"{sum(p.numel() for p in m.parameters()) / 1e6:.1f}M"


# ---------------------------------------------------------------------- models
def build_pipeline(size: str, device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from longbench.testing import tiny_sd_pipeline
    from longbench.text.tokenizer import load_clip_tokenizer

    if size == "cpu-small":
        pipe = tiny_sd_pipeline(seed=0, sample_size=SIZES[size]["image"] // 2)
    else:
        torch.manual_seed(0)
        with device:  # parameters are created (and randomly initialised) on the device: seconds, not minutes
            unet = UNet2DConditionModel(**SD_UNET)
            vae = AutoencoderKL(**SD_VAE)
            text = CLIPTextModel(CLIPTextConfig(**SD_TEXT))
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                                  set_alpha_to_one=False, steps_offset=1)
        pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=load_clip_tokenizer(),
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipe = pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_clip(cfg: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> Any:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from longbench.text.tokenizer import load_clip_tokenizer

    torch.manual_seed(seed)
    with device:
        model = CLIPModel(CLIPConfig(**cfg))
    model = model.to(dtype=dtype).eval().requires_grad_(False)
    return model, CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=load_clip_tokenizer())


def build_owl(cfg: dict[str, Any], side: int, device: torch.device, dtype: torch.dtype) -> Any:
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    from longbench.text.tokenizer import load_clip_tokenizer

    torch.manual_seed(2)
    with device:
        model = Owlv2ForObjectDetection(Owlv2Config(**cfg))
    tok = load_clip_tokenizer()
    tok.model_max_length = 16
    proc = Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": side, "width": side}), tokenizer=tok)
    return model.to(dtype=dtype).eval().requires_grad_(False), proc


def inception_weights(path: Path) -> Path:
    """torch-fidelity's Inception-v3 with random weights, saved as a state dict (its constructor's download
    is bypassed; batch norms calibrated on random images so features vary)."""
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as fe

    torch.manual_seed(3)
    with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None):
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    with torch.no_grad():
        net(torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8))
    buf = io.BytesIO()
    torch.save(net.eval().state_dict(), buf)
    path.write_bytes(buf.getvalue())
    return path


def check_configs() -> None:
    """Parameter counts of the real configs, built on the meta device (no memory, no time)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import (
        CLIPConfig,
        CLIPModel,
        CLIPTextConfig,
        CLIPTextModel,
        Owlv2Config,
        Owlv2ForObjectDetection,
    )

    cfg = SIZES["full"]
    with torch.device("meta"):
        models = {"sd-1.5 unet": UNet2DConditionModel(**SD_UNET), "sd-1.5 vae": AutoencoderKL(**SD_VAE),
                  "sd-1.5 text encoder": CLIPTextModel(CLIPTextConfig(**SD_TEXT)),
                  "clip ViT-L/14": CLIPModel(CLIPConfig(**cfg["clip_l"])),
                  "denscore ViT-H/14": CLIPModel(CLIPConfig(**cfg["clip_h"])),
                  "owlv2 base/16": Owlv2ForObjectDetection(Owlv2Config(**cfg["owl"]))}
    for name, m in models.items():
        print(f"{name:22} {nparams(m):>9}")


# ---------------------------------------------------------------------- run
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-small", action="store_true", help="tiny configs and few images (CPU)")
    parser.add_argument("--check-configs", action="store_true", help="print the real configs' parameter counts")
    parser.add_argument("--device", default=None, help="generation device (default: cuda when present, else cpu)")
    parser.add_argument("--metric-device", default=None, help="metric device (default: --device)")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--gen-dtype", default=None, help="pipeline dtype (default: float16 on a GPU, else float32)")
    parser.add_argument("--metric-dtype", default="float32", help="metric model dtype")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.check_configs:
        check_configs()
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    import diffusers

    diffusers.utils.logging.set_verbosity_error()  # the cast-to-dtype notes of random-weight pipelines
    logging.getLogger("longbench.metrics.fid").setLevel(logging.ERROR)  # "fewer images than dimensions": known
    if args.threads:
        torch.set_num_threads(args.threads)
    size = "cpu-small" if args.cpu_small else "full"
    cfg = SIZES[size]
    gen_dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    met_dev = torch.device(args.metric_device or gen_dev)
    gen_dtype = getattr(torch, args.gen_dtype or ("float16" if gen_dev.type == "cuda" else "float32"))
    from longbench.devices import device_dtype

    met_dtype = device_dtype(args.metric_dtype, met_dev, "--metric-dtype")
    n, bs = args.items or cfg["items"], args.batch_size or cfg["batch"]
    steps, repeats = args.steps or cfg["steps"], args.repeats or cfg["repeats"]
    devices = sorted({gen_dev, met_dev}, key=str)
    with tempfile.TemporaryDirectory() as tmp:
        run(size, cfg, n, bs, steps, repeats, gen_dev, met_dev, gen_dtype, met_dtype, devices, Path(tmp))


def run(size: str, cfg: dict[str, Any], n: int, bs: int, steps: int, repeats: int, gen_dev: torch.device,
        met_dev: torch.device, gen_dtype: torch.dtype, met_dtype: torch.dtype, devices: list[torch.device],
        tmp: Path) -> None:
    from longbench.images import ImageBatch
    from longbench.metrics.clip_models import ClipScorer
    from longbench.metrics.clipscore import ClipScore
    from longbench.metrics.count import CountMetric, Owlv2Detector, entities_of
    from longbench.metrics.denscore import Denscore, split_prompts
    from longbench.metrics.fid import FID
    from longbench.metrics.functional.denscore import eval_preprocess
    from longbench.metrics.segment_align import SegmentAlign
    from longbench.models.base import request_seed
    from longbench.suites.loaders import load_suite

    t_build = time.perf_counter()
    suite = load_suite("longbench-v1")
    items = suite.items[:n]
    all_prompts = [it.prompt for it in suite.items]
    pipe = build_pipeline(size, gen_dev, gen_dtype)
    clip_l, proc_l = build_clip(cfg["clip_l"], met_dev, met_dtype, seed=1)
    clip_h, proc_h = build_clip(cfg["clip_h"], met_dev, met_dtype, seed=4)
    owl, owl_proc = build_owl(cfg["owl"], cfg["owl_size"], met_dev, met_dtype)
    fid_weights = inception_weights(tmp / "inception.pth")
    scorer_l, scorer_h = ClipScorer.wrap(clip_l, proc_l), ClipScorer.wrap(clip_h, proc_h)
    detector = Owlv2Detector(owl, owl_proc)
    d = 2048
    ref_mu, ref_sigma = torch.zeros(d, dtype=torch.float64), torch.eye(d, dtype=torch.float64)
    # built once per run, as the runner does (weights, Denscore's V over the whole suite); reset between uses
    metrics: dict[str, Any] = {
        "clipscore": ClipScore(scorer_l),
        "denscore": Denscore(scorer_h, direction_prompts=all_prompts),
        "segment-align": SegmentAlign(scorer_l),
        "count": CountMetric(detector=detector),
        "fid": _fid(FID(fid_weights, by_bucket=False, batch_size=bs), ref_mu, ref_sigma, met_dev),
    }
    build_s = time.perf_counter() - t_build
    spans = [(a, min(a + bs, n)) for a in range(0, n, bs)]

    def generate(a: int, b: int) -> torch.Tensor:
        gens = [torch.Generator(gen_dev).manual_seed(request_seed(0, suite.name, it.id)) for it in items[a:b]]
        with torch.inference_mode():
            out = pipe(prompt=[it.prompt for it in items[a:b]], generator=gens, num_inference_steps=steps,
                       height=cfg["image"], width=cfg["image"], output_type="pt").images
        return out

    def to_batch(images: torch.Tensor) -> ImageBatch:
        # float [0, 1] on the generation device → uint8 once, moved once (random weights can give NaN)
        u8 = torch.nan_to_num(images.float(), nan=0.0).clamp_(0, 1).mul_(255).round_().to(torch.uint8)
        # channels-last, as decoded images are: the CPU's uint8 antialiased resize is fastest on it
        return ImageBatch(u8.contiguous(memory_format=torch.channels_last)).to(met_dev)

    batches: list[ImageBatch] = []

    def bare_generation() -> None:
        for a, b in spans:
            generate(a, b)

    def fresh(names: list[str]) -> None:
        """Every run starts cold: no kept text features, token counts or segments; states reset."""
        for scorer in (scorer_l, scorer_h):
            scorer.clear_cache()
        metrics["segment-align"]._segment_cache.clear()
        for name in names:
            metrics[name].reset()

    def evaluation() -> None:
        for a, b in spans:
            batch = to_batch(generate(a, b))
            for m in metrics.values():
                m.update(batch, items[a:b])
        for m in metrics.values():
            m.compute()

    def metric_updates(name: str) -> None:
        for (a, b), batch in zip(spans, batches):
            metrics[name].update(batch, items[a:b])

    def metric_compute(name: str) -> None:
        metrics[name].compute()

    # inputs of the bare forwards, prepared once outside the timed region
    for a, b in spans:
        batches.append(to_batch(generate(a, b)))
    prompts = [it.prompt for it in items]
    seg_texts = [s for it in items for s in SegmentAlign(scorer_l).segments_of(it)]
    dense_texts = split_prompts(prompts, scorer_h, "longalign")[0]
    with torch.inference_mode():
        std_px = [scorer_l.standard_pixels(bt) for bt in batches]
        dense_px = [eval_preprocess(bt.stacked, image_size=scorer_h.image_size, mean=scorer_h.image_mean,
                                    std=scorer_h.image_std) for bt in batches]
        owl_in = []  # the detector sees the images whose items name entities, as in the metric
        for (a, b), bt in zip(spans, batches):
            queries = [[e.name for e in entities_of(it)] for it in items[a:b]]
            keep = [k for k, q in enumerate(queries) if q]
            if keep:
                enc = owl_proc(text=[queries[k] for k in keep], images=list(bt.select(keep)), return_tensors="pt",
                               device=met_dev)
                owl_in.append({k: v.to(met_dev) for k, v in enc.items()})
    inception = metrics["fid"].extractor

    def clip_bare(scorer: ClipScorer, pixels: list[torch.Tensor], texts: list[str]) -> Callable[[], None]:
        unique = list(dict.fromkeys(texts))
        tokens = [{k: v.to(met_dev) for k, v in scorer.tokenize(unique[i:i + 256]).items()}
                  for i in range(0, len(unique), 256)]

        def go() -> None:
            with torch.inference_mode():
                for p in pixels:
                    scorer.image_features(p)
                for t in tokens:
                    scorer.model.get_text_features(**t)
        return go

    def owl_bare() -> None:
        with torch.inference_mode():
            for enc in owl_in:
                owl(**{**enc, "pixel_values": enc["pixel_values"].to(met_dtype)})

    def fid_bare() -> None:
        with torch.inference_mode():
            for bt in batches:
                inception.net(bt.stacked.contiguous())

    bare = {"clipscore": clip_bare(scorer_l, std_px, prompts),
            "denscore": clip_bare(scorer_h, dense_px, dense_texts),
            "segment-align": clip_bare(scorer_l, std_px, seg_texts),
            "count": owl_bare, "fid": fid_bare}
    def nothing() -> None:
        pass

    # name → (untimed setup, timed work)
    jobs: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
        "generation": (nothing, bare_generation), "eval": (lambda: fresh(list(metrics)), evaluation)}
    for name in metrics:  # "compute:" right after the updates it computes over
        jobs[name] = (lambda name=name: fresh([name]), lambda name=name: metric_updates(name))
        jobs[f"compute:{name}"] = (nothing, lambda name=name: metric_compute(name))
        jobs[f"bare:{name}"] = (nothing, bare[name])
    for setup, fn in jobs.values():  # warm-up: kernels chosen, allocators grown, lazy imports done
        setup()
        fn()
    times: dict[str, float] = {}
    for _ in range(repeats):
        for name, (setup, fn) in jobs.items():
            times[name] = min(times.get(name, float("inf")), timed(fn, devices, setup))

    print(f"eval_throughput [{size}]: {n} images of {cfg['image']}x{cfg['image']}, batch {bs}, DDIM {steps} steps; "
          f"generation on {gen_dev} ({str(gen_dtype).replace('torch.', '')}), metrics on {met_dev} "
          f"({str(met_dtype).replace('torch.', '')}); fastest of {repeats}; models built in {build_s:.1f}s")
    print("  params: " + ", ".join(f"{k} {nparams(m)}" for k, m in (
        ("unet", pipe.unet), ("vae", pipe.vae), ("text encoder", pipe.text_encoder), ("clip", clip_l),
        ("denscore", clip_h), ("owlv2", owl), ("inception", inception.net))))
    gen, ev = times["generation"], times["eval"]
    print(f"{'bare generation':28} {gen:9.3f}s {n / gen:9.2f} img/s")
    print(f"{'eval (generation + metrics)':28} {ev:9.3f}s {n / ev:9.2f} img/s   eval ÷ bare generation "
          f"{ev / gen:.3f} (goal ≤ 1.10 on a GPU; no generate/score overlap yet)")
    print(f"{'metric':16} {'updates':>9} {'bare fwd':>9} {'÷ bare':>7} {'compute':>9} {'(all) ÷ generation':>19}")
    for name in metrics:
        t, tc, tb = times[name], times[f"compute:{name}"], times[f"bare:{name}"]
        print(f"{name:16} {t:8.3f}s {tb:8.3f}s {t / tb:7.3f} {tc:8.3f}s {(t + tc) / gen:19.3f}")
    total = sum(times[name] + times[f"compute:{name}"] for name in metrics)
    print(f"{'all metrics':16} {total:8.3f}s {'':>9} {'':>7} {'':>9} {total / gen:19.3f}")
    print("updates: every update of the run on the generated batches (text forwards included, caches cold); "
          "compute: compute() after them (FID: the 2048-d Fréchet distance)")


def _fid(metric: Any, mu: torch.Tensor, sigma: torch.Tensor, device: torch.device) -> Any:
    metric.set_reference(mu, sigma, {"source": "bench: N(0, I)"})
    return metric.to(device)


if __name__ == "__main__":
    main()
