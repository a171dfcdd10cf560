"""The ``--model-arg`` options of the built-in model adapters, declared once each (see :mod:`longbench.options`).

Each adapter class names its dataclass (``Options``) and so does its registry entry (``Entry.options``), so
``longbench models list`` shows name, type, default and help without importing the adapter (this module
imports no torch). An option left at ``None`` is not passed on: the pipeline, checkpoint or strategy decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from longbench.devices import Dtype
from longbench.options import option
from longbench.synth.world import BASE_SIZE


@dataclass
class SegmentPromptOptions:
    """Options of the ``segment`` long-prompt strategy (LongAlign segment encoding)."""

    token_length: int = option(240, "context tokens of the segment encoding (segment strategy)")
    splitter: str = option("longalign", "sentence splitter of the segment encoding: longalign or default")
    negative_prompt: str | None = option(None, "negative prompt (not set: the pipeline's unconditional input)")


@dataclass
class PipelineOptions:
    """A diffusers pipeline and how it samples."""

    device: str = option("cpu", "torch device of the pipeline")
    dtype: Dtype = option("float32", "weights dtype")
    steps: int | None = option(None, "inference steps (not set: the pipeline's or checkpoint's default)")
    guidance: float | None = option(None, "guidance scale (not set: the pipeline's or checkpoint's default)")
    scheduler: str | None = option(None, "diffusers scheduler class, e.g. DDIMScheduler (not set: as saved)")
    height: int | None = option(None, "image height in pixels (not set: the pipeline's)")
    width: int | None = option(None, "image width in pixels (not set: the pipeline's)")
    negative_prompt: str | None = option(None, "negative prompt (not set: none)")


@dataclass
class DiffusersOptions(SegmentPromptOptions, PipelineOptions):
    long_prompt: str = option("truncate", "long-prompt strategy: truncate (the pipeline's own), segment, or a plugin "
                                          "of longbench.long_prompt_strategies")
    safety_checker: bool = option(False, "keep the pipeline's safety checker (it blanks images)")


@dataclass
class LongSDOptions(PipelineOptions):
    base: str | None = option(None, "base pipeline, HF id or directory (not set: the checkpoint's)")
    t5: str | None = option(None, "T5 encoder of a T5-branch checkpoint (not set: the checkpoint's)")
    fuse: bool = option(True, "fuse the LoRA into the UNet")
    align: str = option("", "release directory: the align LoRA file when there are several")
    merge: str = option("", "release directory: the LoRA file merged on top when there are several, or none")


@dataclass
class CommandOptions:
    timeout: float = option(600.0, "seconds one command may run")


@dataclass
class SynthModelOptions:
    size: int = option(BASE_SIZE, "image side in pixels")


@dataclass
class MiniModelOptions(PipelineOptions):
    """``mini:`` models: the scene models (oracle, clip<N>, corrupt-K) read ``scale`` only and ignore the rest
    (one ``--model-arg`` list serves every ``--model`` of a run); the trained generators read them all."""

    scale: int = option(1, "pixel scale of the 32x32 images (1: 32 px)")
    zoo: str | None = option(None, "trained generators: zoo directory, e.g. the --out of mini-reproduce (not set: "
                                   "the shipped weights)")
    fuse: bool = option(True, "trained generators: fuse the LoRA into the UNet")
