"""``diffusers:<hf-id|dir>`` — any diffusers ``DiffusionPipeline``, loaded offline.

Long prompts: by default the pipeline's own handling (CLIP pipelines truncate at 77 tokens, which is
exactly the behaviour the benchmark measures). ``--model-arg long_prompt=segment`` switches to the
LongAlign segment-level encoding (``longbench.longsd.encoding.segment_prompt_embeds``) for CLIP-text-encoder
pipelines; strategies are looked up in the registry ``LONG_PROMPT_STRATEGIES`` (plugins: entry-point group
``longbench.long_prompt_strategies``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.images import to_rgb
from longbench.models.base import Model, Request
from longbench.models.options import DiffusersOptions
from longbench.registry import LONG_PROMPT_STRATEGIES

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

#: the options a long-prompt strategy receives when they are given
STRATEGY_OPTIONS = ("token_length", "splitter", "negative_prompt")


def truncate_prompts(pipe: Any, prompts: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """The ``truncate`` long-prompt strategy: the prompt text as it is (the pipeline's own encoding)."""
    kw: dict[str, Any] = {"prompt": prompts}
    if options.get("negative_prompt") is not None:
        kw["negative_prompt"] = [options["negative_prompt"]] * len(prompts)
    return kw


def dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """``from_pretrained`` dtype keyword: ``dtype`` on diffusers that renamed it, else ``torch_dtype``."""
    from longbench.weights import diffusers_dtype_kwarg

    return diffusers_dtype_kwarg(dtype)


@contextlib.contextmanager
def _quiet_truncation_warnings() -> Iterator[None]:
    """Pipelines log every prompt they truncate at 77 tokens; on a long-prompt benchmark that is the
    expected, measured behaviour of the default strategy, so silence it for the call."""
    lg = logging.getLogger("diffusers.pipelines")
    level = lg.level
    lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        lg.setLevel(level)


class DiffusersModel(Model):
    kind = "diffusers"
    Options = DiffusersOptions

    def __init__(self, arg: str, args: dict[str, Any] | None = None, pipeline: Any = None):
        super().__init__(arg, args)
        if not arg:
            raise LongbenchError("diffusers: needs a Hugging Face id or a directory, e.g. diffusers:./my-pipeline")
        if "long_prompt" in self.args and self.options.long_prompt not in LONG_PROMPT_STRATEGIES:
            raise LONG_PROMPT_STRATEGIES.unknown(self.options.long_prompt)
        if self.options.steps is not None and self.options.steps < 1:
            raise LongbenchError(f"--model-arg steps={self.options.steps}: must be >= 1")
        if "device" in self.args:
            from longbench.devices import check_device

            check_device(self.options.device, "--model-arg device")
        self._pipe = pipeline
        self._fingerprint: str | None = None

    # The pipeline is loaded on first use so that building the model (spec validation) stays cheap.
    @property
    def pipe(self) -> Any:
        if self._pipe is None:
            self._pipe = self.load_pipeline()
        return self._pipe

    def load_pipeline(self) -> Any:
        from longbench.devices import torch_dtype
        from longbench.weights import pipeline_strict, resolve

        path = resolve(self.arg, what="diffusers pipeline")
        try:  # strict: a component checkpoint with missing or extra tensors is an error, not random weights
            pipe = pipeline_strict(path, what=f"diffusers:{self.arg}", dtype=torch_dtype(self.options.dtype),
                                   local_files_only=True)
        except (OSError, ValueError) as e:
            raise LongbenchError(f"diffusers:{self.arg}: cannot load the pipeline from {path}: {e}") from None
        self.configure(pipe)
        return pipe

    def configure(self, pipe: Any) -> None:
        import diffusers

        if self.options.scheduler is not None:
            cls = getattr(diffusers, self.options.scheduler, None)
            if cls is None or not hasattr(cls, "from_config"):
                raise LongbenchError(f"--model-arg scheduler={self.options.scheduler!r}: not a diffusers scheduler class")
            pipe.scheduler = cls.from_config(pipe.scheduler.config)
        # Benchmarks score what the model draws: the SD safety checker (which blanks images) is off
        # unless asked for.
        if getattr(pipe, "safety_checker", None) is not None and not getattr(self.options, "safety_checker", False):
            pipe.safety_checker = None
        pipe.to(self.options.device)
        pipe.set_progress_bar_config(disable=True)

    def identity(self) -> dict[str, Any]:
        from longbench.weights import dir_fingerprint, resolve

        if self._fingerprint is None:
            try:
                self._fingerprint = dir_fingerprint(resolve(self.arg, what="diffusers pipeline"))
            except LongbenchError:
                self._fingerprint = "unresolved"
        args = {k: v for k, v in self.args.items() if k != "device"}
        args.setdefault("long_prompt", "truncate")
        return {"spec": self.spec, "args": args, "weights_fingerprint": self._fingerprint}

    def call_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        for arg, name in (("steps", "num_inference_steps"), ("guidance", "guidance_scale"),
                          ("height", "height"), ("width", "width")):
            if getattr(self.options, arg) is not None:  # not set: the pipeline's (or checkpoint's) default
                kw[name] = getattr(self.options, arg)
        return kw

    def prompt_kwargs(self, prompts: list[str]) -> dict[str, Any]:
        """Pipeline kwargs carrying the prompts, per the long-prompt strategy."""
        strategy = LONG_PROMPT_STRATEGIES.get(self.options.long_prompt)
        return strategy(self.pipe, prompts, {k: self.args[k] for k in STRATEGY_OPTIONS if k in self.args})

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        import torch

        pipe = self.pipe
        device = self.options.device
        generators = [torch.Generator(device=device).manual_seed(r.seed) for r in requests]
        with torch.inference_mode(), _quiet_truncation_warnings():
            out = pipe(**self.prompt_kwargs([r.prompt for r in requests]), generator=generators,
                       output_type="pil", **self.call_kwargs())
        return [to_rgb(im, f"diffusers image for {r.item_id}") for im, r in zip(out.images, requests)]
