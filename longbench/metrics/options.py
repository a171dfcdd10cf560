"""The ``--metric-arg`` options of the built-in metrics, declared once each (see :mod:`longbench.options`).

Each metric class names its dataclass (``Options``) and so does its registry entry (``Entry.options``), so
``longbench metrics list`` shows name, type, default and help without importing the metric (this module
imports no torch). :func:`~longbench.metrics.base.build_metric` turns the ``METRIC.KEY=VALUE`` strings into
an instance; the metric's ``from_context`` builds the metric from it. An option left at ``None`` means
"decided at run time" (``device``: the run's ``--device``).
"""

from __future__ import annotations

from dataclasses import dataclass

from longbench.devices import Dtype
from longbench.judges.base import JudgeOptions
from longbench.options import option

CLIP_L14 = "openai/clip-vit-large-patch14"
DENSCORE_MODEL = "luping-liu/Denscore"
DENSCORE_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
BLIP_CAPTIONER = "Salesforce/blip-image-captioning-large"
OWLV2_MODEL = "google/owlv2-base-patch16-ensemble"
VQA_JUDGE = "Salesforce/blip-vqa-base"
RUN_DEVICE = "the run's --device when not set"


@dataclass
class FrechetOptions:
    """Options of ``fid`` and ``fid-clip``."""

    ref: str | None = option(None, "reference statistics .npz (mu, sigma); not set: the suite's reference images")
    ref_model: str | None = option(None, "model spec whose images of every suite item are the reference set, e.g. "
                                         "mini:oracle (a scene world's exact renderer); instead of reference images")
    by_bucket: bool = option(True, "keep statistics per prompt-length bucket")
    batch_size: int = option(32, "images per network forward")


@dataclass
class FIDOptions(FrechetOptions):
    weights: str | None = option(None, "Inception weights file or folder; not set: the torch hub cache")
    resize: str = option("tf1-bilinear", "tf1-bilinear (torch-fidelity) or bilinear-antialias (torchmetrics)")
    channels_last: bool = option(False, "Inception in channels-last memory (faster on CPUs; features move at float "
                                        "rounding: part of the feature protocol)")


@dataclass
class CLIPFIDOptions(FrechetOptions):
    model: str = option("ViT-B-32", "open_clip architecture, local-dir:DIR, hf-hub:ORG/REPO, or mini:clip (the "
                                    "zoo's transformers CLIP image tower)")
    pretrained: str | None = option(None, "checkpoint file or open_clip tag of a built-in architecture "
                                          "(not set: openai)")
    normalize: bool = option(False, "L2-normalise the embeddings first")
    zoo: str | None = option(None, "zoo directory of a mini:clip model (not set: the shipped weights)")


@dataclass
class LoadOptions:
    """Where and how a metric loads its model."""

    device: str | None = option(None, f"torch device ({RUN_DEVICE})")
    dtype: Dtype = option("float32", "model dtype")


@dataclass
class ClipModelOptions(LoadOptions):
    """A CLIP-style scoring model."""

    model: str = option(CLIP_L14, "HF id, directory, open_clip:ARCH:PATH or mini:clip / mini:denscore")
    processor: str | None = option(None, "processor spec (not set: the model's own)")
    tokenizer_fallback: bool = option(False, "use the bundled CLIP tokenizer when the processor is not available "
                                             "offline")
    trust_remote_code: bool = option(False, "passed to transformers")
    zoo: str | None = option(None, "zoo directory of mini:clip / mini:denscore models (not set: the shipped "
                                   "weights)")


@dataclass
class ClipScoreOptions(ClipModelOptions):
    pass


@dataclass
class DenscoreOptions(ClipModelOptions):
    model: str = option(DENSCORE_MODEL, "HF id, directory, open_clip:ARCH:PATH or mini:denscore / mini:clip")
    processor: str | None = option(None, f"processor spec (not set: the model's own; {DENSCORE_PROCESSOR} for "
                                         "the default model)")
    splitter: str = option("longalign", "sentence splitter: longalign (parity with the released metric) or "
                                        "default")


@dataclass
class SegmentAlignOptions(ClipModelOptions):
    others: int = option(16, "other items each image is compared with (coverage)")
    use_suite_segments: bool = option(True, "use an item's segments when it has them")


@dataclass
class CaptionMatchOptions(LoadOptions):
    model: str = option(BLIP_CAPTIONER, "BLIP captioner: HF id or directory")
    processor: str | None = option(None, "processor spec (not set: the model's own)")
    prefix: str = option("a photography of", "caption prefix")
    label_smoothing: float = option(0.0, "epsilon of the cross-entropy (0: log-likelihood; 0.1: the reference's "
                                         "loss)")
    use_suite_segments: bool = option(True, "use an item's segments when it has them")
    max_tokens: int = option(2048, "padded text tokens per decoder forward (memory bound; scores unchanged)")


@dataclass
class CountOptions:
    detector: str = option("owlv2", "detector kind (longbench.detectors: owlv2, grounding-dino, synth, plugins)")
    model: str | None = option(None, "detector weights, HF id or directory (not set: the detector's default)")
    processor: str | None = option(None, "detector processor (not set: the model's)")
    score_threshold: float | None = option(None, "box score threshold (not set: the detector's default)")
    nms_iou: float = option(0.5, "non-maximum suppression IoU")
    query_template: str = option("{}", "format string turning an entity name into the query")
    synth_image_size: int | None = option(None, "working size of the synth detector (not set: the image's)")
    device: str | None = option(None, f"torch device ({RUN_DEVICE})")
    dtype: Dtype = option("float32", "detector model dtype")
    trust_remote_code: bool = option(False, "passed to transformers")


@dataclass
class VQAOptions(JudgeOptions):
    """The judge's options (:class:`~longbench.judges.base.JudgeOptions`) and the metric's own."""

    device: str | None = option(None, f"torch device of a model judge ({RUN_DEVICE})")
    judge: str | None = option(None, f"synth, python:MODULE:FN or transformers:ID|DIR (not set: {VQA_JUDGE}; "
                                     f"synthetic suites set synth in their metric_args)")
    questions: str = option("auto", "auto (the item's own, else from its facts), suite or facts")
    match: str = option("normalized", "what counts as yes: normalized (first word) or exact")
    pic_num: int = option(1, "tiles per image (1..4; DPG-Bench's 2x2 grid)")
    resolution: int | None = option(None, "tile side in pixels (not set: from the image)")
    dpg: str = option("auto", "DPG-Bench columns: auto (on for suites imported from DPG-Bench), true or false")
    dpg_compat: bool = option(False, "reproduce the DPG-Bench reference's first-row skip and image drop")
