"""What the diffusion stages share: their config sections (``model``, ``lora``, ``data``, ``optim``,
``train``), loading the base pipeline and a parent checkpoint, the fresh LoRA, the segment encoder, the
dataset, and writing longSD checkpoints."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.config import StageConfig
from longalign.sections import DataSection, LoraSection, ModelSection, OptimSection, TrainSection
from longalign.stages.base import CaptionDataStage
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

LORA_ADAPTER = "longalign"
#: sampler settings written into a checkpoint's manifest (what ``longsd:`` uses unless told otherwise)
STANDARD_SAMPLING: Mapping[str, Any] = {"scheduler": "UniPCMultistepScheduler", "steps": 25, "guidance": 7.5}
LCM_SAMPLING: Mapping[str, Any] = {"scheduler": "LCMScheduler", "steps": 4, "guidance": 1.0}


@dataclass
class DiffusionStageConfig(StageConfig):
    """The sections every diffusion stage has; a stage adds its own section in a subclass."""

    model: ModelSection = field(default_factory=ModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)

    resumable_changes: ClassVar[tuple[str, ...]] = (*StageConfig.resumable_changes, "data.num_workers")

    def resolve(self) -> None:
        self.lora.resolve()

    def check(self) -> None:
        super().check()
        self.model.check()
        self.lora.check()
        self.data.check()


def _load(cls: Any, path: Path, subfolder: str | None, what: str, *, unexpected_ok: bool = False, **kw: Any) -> Any:
    """``cls.from_pretrained`` offline; a network strictly (``unexpected_ok``: from a larger model's checkpoint)."""
    from longbench.weights import from_pretrained_strict

    if subfolder:
        kw["subfolder"] = subfolder
    try:
        if hasattr(cls, "state_dict"):  # a network: strictly, so a partial checkpoint never trains on random tensors
            return from_pretrained_strict(cls, path, what=what, unexpected_ok=unexpected_ok, local_files_only=True,
                                          **kw)
        return cls.from_pretrained(str(path), local_files_only=True, **kw)
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        where = f"{path}/{subfolder}" if subfolder else str(path)
        raise LongbenchError(f"{what}: cannot load {cls.__name__} from {where} ({first})") from None


class DiffusionStage(CaptionDataStage):
    """Base of align / lcm / reward / reward-lcm."""

    #: sampler settings written into the manifest
    inference_defaults: ClassVar[Mapping[str, Any]] = STANDARD_SAMPLING
    #: whether this stage trains the T5 adapter (align, when configured)
    trains_adapter: ClassVar[bool] = False
    #: whether images are needed (reward stages only read captions)
    needs_images: ClassVar[bool] = True

    # -------------------------------------------------------------------------------------- setup
    def setup(self) -> None:
        from longbench.devices import MIXED_PRECISION_DTYPES, torch_dtype
        from longbench.longsd.checkpoint import base_probe, check_base, read_manifest
        from longbench.longsd.lora import fuse_checkpoint_lora
        from longbench.mini.zoo import checkpoint_base, resolve_weights
        from longbench.weights import resolve

        m = self.cfg.model
        self._data = self.build_dataset()  # data errors first: they are the cheapest to find
        self.parent = read_manifest(m.init_from) if m.init_from else None
        if self.parent is not None:
            self._check_parent_encoding(self.parent)
        self.base_spec = m.base or (self.parent["base"]["spec"] if self.parent else "")
        # a shipped zoo checkpoint names its base mini:base: the base of the zoo it sits in
        in_zoo = checkpoint_base(self.base_spec, self.parent["_dir"]) if self.parent and not m.base else None
        self.base_path = Path(in_zoo) if in_zoo else resolve(resolve_weights(self.base_spec), what="base pipeline")
        self.weight_dtype = torch_dtype(MIXED_PRECISION_DTYPES[self.cfg.train.mixed_precision],
                                        "train.mixed_precision")
        self.load_components()
        self.probe = base_probe(self.unet, self.text_encoder)
        if self.parent is not None:
            check_base(self.parent, self.probe, self.base_spec)
            fuse_checkpoint_lora(self.unet, self.parent["_dir"])
        self.setup_t5()
        self.add_lora()
        from longbench.longsd.encoding import SegmentEncoder

        self.encoder = SegmentEncoder(self.tokenizer, self.text_encoder, m.token_length, m.splitter, merge=m.merge,
                                      t5_tokenizer=self.t5_tokenizer, t5_encoder=self.t5_encoder,
                                      adapter=self.adapter)
        self.setup_stage()

    def _check_parent_encoding(self, parent: dict[str, Any]) -> None:
        m = self.cfg.model
        enc = parent["encoder"]
        # a manifest without "merge" predates the option: LongAlign's merge
        for key, ours in (("token_length", m.token_length), ("splitter", m.splitter), ("merge", m.merge)):
            theirs = enc.get(key, "longalign" if key == "merge" else None)
            if theirs != ours:
                raise LongbenchError(f"model.{key}={ours!r} differs from the parent checkpoint {parent['_dir']} "
                                     f"({theirs!r}); a stage continues with its parent's encoding")
        if bool(enc.get("t5")) != bool(m.t5):
            raise LongbenchError(f"model.t5={m.t5!r}, but the parent checkpoint {parent['_dir']} was trained "
                                 f"{'with' if enc.get('t5') else 'without'} the T5 branch")

    def load_components(self) -> None:
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        from longbench.models.diffusers_model import dtype_kwarg

        p = self.base_path
        dt = self.weight_dtype
        self.tokenizer = _load(CLIPTokenizer, p, "tokenizer", "base tokenizer")
        self.text_encoder = _load(CLIPTextModel, p, "text_encoder", "base text encoder", dtype=dt)
        self.vae = _load(AutoencoderKL, p, "vae", "base VAE", **dtype_kwarg(dt))
        self.unet = _load(UNet2DConditionModel, p, "unet", "base UNet", **dtype_kwarg(dt))
        self.noise_scheduler = _load(DDPMScheduler, p, "scheduler", "base scheduler")
        self.prediction_type = self.noise_scheduler.config.prediction_type
        from longalign.diffusion import PREDICTION_TYPES

        if self.prediction_type not in PREDICTION_TYPES:
            raise LongbenchError(f"base {self.base_spec!r}: prediction_type {self.prediction_type!r} is not supported")
        self.alphas_cumprod = self.noise_scheduler.alphas_cumprod.float().to(self.accelerator.device)
        self.num_train_timesteps = int(self.noise_scheduler.config.num_train_timesteps)
        self.cfg.check_schedule(self.num_train_timesteps)
        device = self.accelerator.device
        for module in (self.text_encoder, self.vae, self.unet):
            module.requires_grad_(False)
            module.eval()
            module.to(device=device)

    def setup_t5(self) -> None:
        from longbench.longsd.checkpoint import ADAPTER_DIR
        from longbench.longsd.t5_adapter import T5Adapter

        m = self.cfg.model
        self.t5_tokenizer = self.t5_encoder = self.adapter = None
        if not m.t5:
            return
        from transformers import AutoTokenizer, T5EncoderModel

        from longbench.weights import resolve

        t5_path = resolve(m.t5, what="T5 encoder")
        self.t5_tokenizer = _load(AutoTokenizer, t5_path, None, "T5 tokenizer")
        self.t5_encoder = _load(T5EncoderModel, t5_path, None, "T5 encoder", dtype=self.weight_dtype)
        self.t5_encoder.requires_grad_(False).eval().to(device=self.accelerator.device)
        if self.parent is not None:
            adapter_path = Path(self.parent["_dir"]) / ADAPTER_DIR
            if not adapter_path.is_dir():
                raise LongbenchError(f"parent checkpoint {self.parent['_dir']} has no {ADAPTER_DIR}/")
            self.adapter = _load(T5Adapter, adapter_path, None, "parent T5 adapter")
        elif m.t5_adapter:
            self.adapter = _load(T5Adapter, resolve(m.t5_adapter, what="T5 adapter"), None, "T5 adapter")
        else:
            self.adapter = T5Adapter(in_dim=int(self.t5_encoder.config.d_model), int_dim=m.adapter_int_dim,
                                     out_dim=int(self.unet.config.cross_attention_dim), dropout=m.adapter_dropout)
        if self.adapter.config.out_dim != self.unet.config.cross_attention_dim:
            raise LongbenchError(f"T5 adapter outputs {self.adapter.config.out_dim} features but the UNet attends "
                                 f"to {self.unet.config.cross_attention_dim}")
        trains = self.trains_adapter and getattr(getattr(self.cfg, "align", None), "train_adapter", False)
        self.adapter.requires_grad_(trains)
        self.adapter.train(trains)
        self.adapter.to(device=self.accelerator.device)
        if not trains:
            self.adapter.to(dtype=self.weight_dtype)

    def add_lora(self) -> None:
        from diffusers.training_utils import cast_training_params

        from longalign.lora_recipes import add_lora

        add_lora(self.unet, self.cfg.lora, LORA_ADAPTER)
        cast_training_params(self.unet)  # trained weights stay in float32 under mixed precision
        if self.cfg.train.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.unet.train()

    def setup_stage(self) -> None:
        """Stage-specific setup after the models are loaded."""

    # -------------------------------------------------------------------------------------- data
    def build_dataset(self) -> Any:
        from longalign.data.captions import build_dataset

        return build_dataset(self.cfg.data, load_images=self.needs_images)

    # -------------------------------------------------------------------------------------- modules
    def trainable_modules(self) -> list[nn.Module]:
        mods = [self.unet]
        if self.adapter is not None and any(p.requires_grad for p in self.adapter.parameters()):
            mods.append(self.adapter)
        return mods

    def set_prepared(self, modules: list[nn.Module]) -> None:
        super().set_prepared(modules)
        self.unet_train = modules[0]
        if len(modules) > 1:
            self.encoder.adapter = modules[1]  # forward through the wrapper so DDP syncs its gradients

    def unwrapped_unet(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.unet_train)

    # -------------------------------------------------------------------------------------- helpers
    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditional, unconditional) contexts in the UNet's dtype."""
        cond = self.encoder(prompts)
        uncond = self.encoder.unconditional(len(prompts))
        return cond.to(self.weight_dtype), uncond.to(self.weight_dtype)

    def latents_of(self, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        with torch.no_grad():
            dist = self.vae.encode(pixels.to(device=self.accelerator.device, dtype=self.weight_dtype)).latent_dist
            latents = dist.sample(generator=generator)
        shift = getattr(self.vae.config, "shift_factor", None) or 0.0
        return (latents - shift) * self.vae.config.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents → images in [0, 1] (differentiable)."""
        shift = getattr(self.vae.config, "shift_factor", None) or 0.0
        images = self.vae.decode((latents / self.vae.config.scaling_factor + shift).to(self.weight_dtype)).sample
        return (images.float() * 0.5 + 0.5).clamp(0.0, 1.0)

    def randn(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        import torch

        return torch.randn(shape, generator=generator).to(device=self.accelerator.device, dtype=self.weight_dtype)

    def latent_shape(self, batch: int) -> tuple[int, int, int, int]:
        res = self.cfg.data.resolution
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        return (batch, int(self.unet.config.in_channels), res // factor, res // factor)

    # -------------------------------------------------------------------------------------- checkpoints
    def encoder_description(self) -> dict[str, Any]:
        m = self.cfg.model
        return {**self.encoder.describe(), "t5": m.t5 or None, "clip": "base text_encoder"}

    def save_checkpoint(self, target: Path, step: int) -> None:
        from longalign.config import config_to_dict
        from longbench.longsd.checkpoint import build_manifest, write_checkpoint
        from longbench.longsd.lora import lora_rank_summary, lora_state_dict, read_lora, stack_loras

        unet = self.unwrapped_unet()
        lora = lora_state_dict(unet, LORA_ADAPTER)
        if self.parent is not None:
            lora = stack_loras(read_lora(self.parent["_dir"]), lora)
        adapter = self.accelerator.unwrap_model(self.encoder.adapter) if self.encoder.adapter is not None else None
        manifest = build_manifest(
            stage=self.name, step=step, base_spec=self.base_spec, base_path=str(self.base_path), probe=self.probe,
            encoder=self.encoder_description(), inference=dict(self.inference_defaults),
            config=config_to_dict(self.cfg), parent=self.parent, lora=lora_rank_summary(lora))
        manifest["data"] = self.describe_data()
        write_checkpoint(target, manifest, lora, adapter)
