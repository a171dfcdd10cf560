"""``longsd:<dir>`` — a longSD checkpoint on its base diffusers pipeline.

``<dir>`` is detected by its files (:func:`longbench.longsd.checkpoint.open_checkpoint`):

* a longSD checkpoint of ``longbench train`` (``manifest.json``), or a training run directory (its
  ``final/`` checkpoint). The manifest names the base pipeline (override with ``--model-arg base=DIR``),
  the segment encoding (token_length, splitter, merge — LongAlign's, or the naive concatenation of the paper's
  ablation —, optional T5 branch) and the sampler defaults of its stage
  (UniPC, 25 steps, guidance 7.5; LCM, 4 steps, no guidance for the LCM stages);
* a directory of the LongAlign authors' release (``s28750_lora_vis.pt``, ``s28750_adapter/``,
  ``sd15-reward-3750.pt``; :mod:`longbench.longsd.release`): SD-1.5 base, T5-large branch, 240 tokens,
  ``longalign`` splitter, UniPC 25 steps guidance 7.5, as the authors' ``sample.py``; ``align=FILE`` and
  ``merge=FILE|none`` pick the files when the directory holds several.

The LoRA (UNet only) is loaded with diffusers ``load_lora_adapter`` (and fused unless ``fuse=false``);
prompts are always encoded by segments.

Generation is the ``diffusers:`` adapter's (this class only changes how the pipeline is loaded and how
prompts become embeddings).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError
from longbench.models.diffusers_model import DiffusersModel
from longbench.models.options import LongSDOptions

logger = logging.getLogger(__name__)


class LongSDModel(DiffusersModel):
    kind = "longsd"
    Options = LongSDOptions

    def __init__(self, arg: str, args: dict[str, Any] | None = None, pipeline: Any = None):
        from longbench.longsd.checkpoint import open_checkpoint

        if not arg:
            raise LongbenchError("longsd: needs a checkpoint directory, e.g. longsd:runs/train/reward/final")
        super().__init__(arg, args, pipeline)
        self.manifest = open_checkpoint(self.checkpoint_path(), align=self.args.get("align"),
                                        merge=self.args.get("merge"))
        if self.manifest["stage"] == "denscore":
            raise LongbenchError(f"{self.spec} is a Denscore model, not an image generator")
        self.checkpoint_dir = Path(self.manifest["_dir"])
        self._encoder: Any = None

    # -------------------------------------------------------------------------------------- loading
    def checkpoint_path(self) -> str:
        """The directory the spec names (``longsd:DIR``: DIR itself)."""
        return self.arg

    @property
    def segment_merge(self) -> str:
        """The checkpoint's segment merge, ``longalign`` or ``naive`` (``longalign`` when its manifest predates
        the option); not the ``merge`` model-arg, which picks a file of the authors' release."""
        from longbench.longsd.encoding import check_merge

        return check_merge(self.manifest["encoder"].get("merge", "longalign"),
                           f"{self.checkpoint_dir}/manifest.json encoder.merge")

    @property
    def base_spec(self) -> str:
        return self.options.base or self.manifest["base"]["spec"]

    def base_path(self) -> str:
        """Where the base pipeline is: a shipped zoo checkpoint's ``mini:base`` is the base of the zoo the
        checkpoint sits in (``longbench train mini-ship``); any other spec is resolved as weights."""
        from longbench.mini import zoo
        from longbench.weights import resolve

        spec = self.base_spec
        return zoo.checkpoint_base(spec, self.checkpoint_dir) or str(resolve(spec, what="longsd base pipeline"))

    def load_pipeline(self) -> Any:
        import diffusers

        from longbench.devices import torch_dtype
        from longbench.longsd import release
        from longbench.longsd.checkpoint import base_probe, check_base, own_lora_name
        from longbench.weights import check_lora_loaded, pipeline_strict

        path = self.base_path()
        try:  # strict: a partial component checkpoint is an error, not random weights
            pipe = pipeline_strict(path, what=f"{self.spec} base", dtype=torch_dtype(self.options.dtype),
                                   local_files_only=True)
        except (OSError, ValueError) as e:
            raise LongbenchError(f"{self.spec}: cannot load the base pipeline from {path}: {e}") from None
        if getattr(pipe, "text_encoder", None) is None or getattr(pipe, "unet", None) is None:
            raise LongbenchError(f"{self.spec}: base {self.base_spec!r} is not a UNet + CLIP text encoder "
                                 "pipeline")
        check_base(self.manifest, base_probe(pipe.unet, pipe.text_encoder), self.base_spec)
        if self.manifest.get("format") == release.FORMAT:
            lora = release.release_lora(pipe.unet, self.manifest)  # the authors' tensor lists → peft keys
            weights = f"{self.checkpoint_dir} (release)"
        else:
            from longbench.longsd.lora import read_lora

            lora = read_lora(self.checkpoint_dir)  # a shipped delta comes back stacked onto its parent
            weights = str(self.checkpoint_dir / own_lora_name(self.manifest))
        pipe.unet.load_lora_adapter({f"unet.{k}": v for k, v in lora.items()}, prefix="unet", adapter_name="longsd")
        check_lora_loaded(pipe.unet, set(lora), "longsd", what=f"{self.spec} LoRA", weights=weights)
        if self.options.fuse:
            pipe.unet.fuse_lora(adapter_names=["longsd"])
        sampler = self.manifest.get("inference") or {}
        if self.options.scheduler is None and sampler.get("scheduler"):
            pipe.scheduler = getattr(diffusers, sampler["scheduler"]).from_config(pipe.scheduler.config)
        self.configure(pipe)
        return pipe

    def encoder(self) -> Any:
        """The segment encoder of the checkpoint (T5 branch included when it was trained with one)."""
        if self._encoder is None:
            from longbench.longsd.encoding import SegmentEncoder

            pipe = self.pipe
            enc = self.manifest["encoder"]
            t5_kwargs = self._load_t5(pipe) if enc.get("t5") else {}
            self._encoder = SegmentEncoder(pipe.tokenizer, pipe.text_encoder, int(enc["token_length"]),
                                           enc["splitter"], merge=self.segment_merge, **t5_kwargs)
        return self._encoder

    def _load_t5(self, pipe: Any) -> dict[str, Any]:
        from transformers import AutoTokenizer, T5EncoderModel

        from longbench.longsd.t5_adapter import T5Adapter
        from longbench.weights import from_pretrained_strict, resolve

        spec = self.options.t5 or self.manifest["encoder"]["t5"]
        path = resolve(spec, what="longsd T5 encoder")
        try:  # strict, like every learned component (T5EncoderModel ignores a full T5's decoder by design)
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            encoder = from_pretrained_strict(T5EncoderModel, path, what=f"longsd:{self.arg} T5 encoder",
                                             local_files_only=True, dtype=pipe.text_encoder.dtype)
            adapter = from_pretrained_strict(T5Adapter, self.manifest["_adapter_dir"],
                                             what=f"longsd:{self.arg} T5 adapter")
        except (OSError, ValueError) as e:
            raise LongbenchError(f"longsd:{self.arg}: cannot load the T5 branch ({e})") from None
        device = pipe.text_encoder.device
        encoder.to(device).eval()
        adapter.to(device=device, dtype=pipe.text_encoder.dtype).eval()
        return {"t5_tokenizer": tokenizer, "t5_encoder": encoder, "adapter": adapter}

    # -------------------------------------------------------------------------------------- generation
    def identity(self) -> dict[str, Any]:
        from longbench.weights import dir_fingerprint

        ident = super().identity()
        ident["args"].pop("long_prompt", None)  # prompts are always segment-encoded here
        ident["checkpoint_fingerprint"] = dir_fingerprint(self.checkpoint_dir)
        ident["base"] = self.base_spec
        ident["encoder"] = {k: self.manifest["encoder"].get(k) for k in ("token_length", "splitter", "t5")}
        if self.segment_merge != "longalign":  # only then, so earlier checkpoints keep their identities (cache keys)
            ident["encoder"]["merge"] = self.segment_merge
        ident["stage"] = self.manifest["stage"]
        if "release" in self.manifest:
            ident["release"] = self.manifest["release"]
        return ident

    def call_kwargs(self) -> dict[str, Any]:
        sampler = self.manifest.get("inference") or {}
        kw: dict[str, Any] = {}
        if "steps" in sampler:
            kw["num_inference_steps"] = int(sampler["steps"])
        if "guidance" in sampler:
            kw["guidance_scale"] = float(sampler["guidance"])
        kw.update(super().call_kwargs())  # --model-arg steps/guidance/height/width win
        return kw

    def prompt_kwargs(self, prompts: list[str]) -> dict[str, Any]:
        encoder = self.encoder()
        dtype = self.pipe.unet.dtype
        cond = encoder(list(prompts))
        if self.options.negative_prompt is not None:
            negative = encoder([self.options.negative_prompt] * len(prompts))
        else:
            negative = encoder.unconditional(len(prompts))
        return {"prompt_embeds": cond.to(dtype), "negative_prompt_embeds": negative.to(dtype)}
