"""``base``: train a whole UNet from scratch into a base pipeline for the ``align`` stage.

LongAlign fine-tunes a pretrained generator; the miniature world has none, so this stage makes one. It
assembles a Stable Diffusion pipeline from a trained text encoder (``components.text_encoder``: a
CLIPModel or CLIPTextModel directory with its tokenizer, e.g. a ``clip`` stage checkpoint), a fitted VAE
(``components.vae``: e.g. a ``vae`` stage checkpoint) and a fresh UNet of the size in the ``unet``
section (weights drawn from ``train.seed``; cross-attention width = the text encoder's), and trains every
UNet weight (no LoRA) with the ``align`` objective (``base`` section: ε-MSE at uniform timesteps,
caption dropout). Or it continues the UNet of a pipeline it wrote before (``components.init_from``). With
``base.train_text_encoder`` the text tower trains with the UNet (GLIDE-style) and the pipeline saves it.

Captions are encoded exactly as ``align`` encodes them (``encoding`` section: the segment encoder with
``token_length`` rows), so the base and its ``align`` children read the same kind of context. For the
miniature world train it on short complete captions (``data.mini_captions: short``): every fact inside
77 tokens, so the base learns to draw scenes and ``align`` then only has to teach long prompts.

The checkpoint is a complete diffusers ``StableDiffusionPipeline`` directory (DDIM scheduler with the
training noise schedule) plus ``manifest.json`` (format ``longalign-base``): ``align`` takes it as
``model.base``, and ``StableDiffusionPipeline.from_pretrained`` loads it. On save, images are generated
for ``base.eval_items`` held-out items (seed ``base.eval_seed``) from their short captions
(``base.eval_steps`` DDIM steps, guidance ``base.eval_guidance``) and read back by the exact reader.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.checks import check_range, require, require_choice
from longalign.config import StageConfig
from longalign.sections import (
    DataSection,
    OptimSection,
    TrainSection,
    check_mini_seed,
    check_splitter,
    path_field,
)
from longalign.stages.align import DenoiseSection, denoising_step
from longalign.stages.base import Stage
from longalign.stages.common import DiffusionStage, _load
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = "longalign-base"
BETA_SCHEDULES = ("scaled_linear", "linear", "squaredcos_cap_v2")
TIMESTEP_SPACINGS = ("leading", "trailing", "linspace")


@dataclass
class ComponentsSection:
    #: CLIPModel / CLIPTextModel directory with its tokenizer (the frozen text encoder)
    text_encoder: str = path_field()
    #: AutoencoderKL directory (frozen)
    vae: str = path_field()
    #: a pipeline written by this stage: continue its UNet (and take its text encoder and VAE)
    init_from: str = path_field()

    def check(self) -> None:
        if self.init_from:
            require(not (self.text_encoder or self.vae), "components.init_from takes the text encoder and VAE of "
                    "that pipeline: leave components.text_encoder and components.vae empty")
        else:
            require(bool(self.text_encoder and self.vae), "components.text_encoder and components.vae are required "
                    "(directories of a CLIP text tower and an AutoencoderKL), unless components.init_from is set")


@dataclass
class UnetSection:
    #: channels per resolution level; cross-attention in every level but the lowest
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    layers_per_block: int = 1
    #: passed as diffusers' ``attention_head_dim``, which UNet2DConditionModel uses as the *number of heads* per
    #: transformer block (its legacy naming): 8 gives heads of 4 channels at the 32-channel level
    attention_head_dim: int = 8
    norm_num_groups: int = 32

    def check(self) -> None:
        require(len(self.block_out_channels) >= 2, "unet.block_out_channels needs at least two levels")
        for c in self.block_out_channels:
            check_range(c, "unet.block_out_channels", 1)
            require(c % self.norm_num_groups == 0, f"unet.block_out_channels: {c} is not a multiple of "
                    f"unet.norm_num_groups={self.norm_num_groups}")
        check_range(self.layers_per_block, "unet.layers_per_block", 1)
        check_range(self.attention_head_dim, "unet.attention_head_dim", 1)
        check_range(self.norm_num_groups, "unet.norm_num_groups", 1)


@dataclass
class NoiseSection:
    """The noise schedule (SD-1.5's by default), written into the pipeline's scheduler."""

    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    prediction_type: str = "epsilon"
    #: rescale the betas so that the last timestep is pure noise (Lin et al. 2024, "Common Diffusion Noise
    #: Schedules and Sample Steps are Flawed"): on 16² latents the SD schedule leaves the layout readable at
    #: t = T−1 in training but not at sampling time. Needs v_prediction (ε says nothing about x0 there).
    rescale_betas_zero_snr: bool = False
    #: how samplers space their timesteps ("trailing" starts at T−1, where a zero-SNR schedule is pure noise)
    timestep_spacing: str = "leading"

    def check(self) -> None:
        check_range(self.num_train_timesteps, "noise.num_train_timesteps", 2)
        check_range(self.beta_start, "noise.beta_start", 0, 1, lo_open=True, hi_open=True)
        check_range(self.beta_end, "noise.beta_end", 0, 1, lo_open=True, hi_open=True)
        require_choice(self.beta_schedule, "noise.beta_schedule", BETA_SCHEDULES)
        require_choice(self.prediction_type, "noise.prediction_type", ("epsilon", "v_prediction"))
        require_choice(self.timestep_spacing, "noise.timestep_spacing", TIMESTEP_SPACINGS)
        require(not self.rescale_betas_zero_snr or self.prediction_type == "v_prediction",
                "noise.rescale_betas_zero_snr=true needs noise.prediction_type=v_prediction (at zero SNR an "
                "ε-prediction carries no information about the image)")


@dataclass
class EncodingSection:
    token_length: int = 77
    splitter: str = "longalign"
    #: ``naive`` keeps every segment whole, end token included (for a one-sentence caption at 77 positions:
    #: Stable Diffusion's own encoding); ``longalign`` drops end tokens for the padding embedding
    merge: str = "longalign"

    def check(self) -> None:
        from longbench.longsd.encoding import check_merge, check_token_length

        check_token_length(self.token_length, 77, "encoding.token_length")
        check_splitter(self.splitter, "encoding.splitter")
        check_merge(self.merge, "encoding.merge")


@dataclass
class BaseSection(DenoiseSection):
    key: ClassVar[str] = "base"
    #: held-out miniature items generated and read back at every save (0: no check)
    eval_items: int = 32
    eval_seed: int = 7
    eval_steps: int = 10
    eval_guidance: float = 3.0
    #: train the text encoder with the UNet (GLIDE-style) instead of freezing it; the pipeline saves the
    #: trained tower, which ``align`` and the reward stages then keep frozen
    train_text_encoder: bool = False

    def check(self) -> None:
        super().check()
        check_range(self.eval_items, "base.eval_items", 0, why="0: no check")
        check_mini_seed(self.eval_seed, "base.eval_seed")
        check_range(self.eval_steps, "base.eval_steps", 1)
        check_range(self.eval_guidance, "base.eval_guidance", 0)


@dataclass
class BaseConfig(StageConfig):
    components: ComponentsSection = field(default_factory=ComponentsSection)
    unet: UnetSection = field(default_factory=UnetSection)
    noise: NoiseSection = field(default_factory=NoiseSection)
    encoding: EncodingSection = field(default_factory=EncodingSection)
    base: BaseSection = field(default_factory=BaseSection)
    data: DataSection = field(default_factory=lambda: DataSection(format="mini", resolution=32,
                                                                  mini_captions="short"))
    optim: OptimSection = field(default_factory=lambda: OptimSection(learning_rate=3e-4, max_grad_norm=1.0,
                                                                     weight_decay=0.0, warmup_steps=500))
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=8, max_steps=26000))

    resumable_changes: ClassVar[tuple[str, ...]] = (*StageConfig.resumable_changes, "data.num_workers")

    def check(self) -> None:
        super().check()
        for section in (self.components, self.unet, self.noise, self.encoding, self.base, self.data):
            section.check()

    def check_schedule(self, num_train_timesteps: int) -> None:
        check_range(self.base.eval_steps, "base.eval_steps", 1, num_train_timesteps)


def unet_blocks(n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Down and up block types: cross-attention at every level but the lowest-resolution one."""
    down = ("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",)
    up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1)
    return down, up


class BaseUnetStage(DiffusionStage):
    name: ClassVar[str] = "base"
    config_class: ClassVar[type] = BaseConfig

    def setup(self) -> None:
        import torch
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        from longalign.diffusion import PREDICTION_TYPES
        from longbench.devices import MIXED_PRECISION_DTYPES, torch_dtype
        from longbench.longsd.encoding import SegmentEncoder
        from longbench.weights import resolve

        cfg = self.cfg
        c = cfg.components
        self._data = self.build_dataset()
        self.weight_dtype = torch_dtype(MIXED_PRECISION_DTYPES[cfg.train.mixed_precision], "train.mixed_precision")
        if c.init_from:
            root = resolve(c.init_from, what="components.init_from")
            self.tokenizer = _load(CLIPTokenizer, root, "tokenizer", "base tokenizer")
            self.text_encoder = _load(CLIPTextModel, root, "text_encoder", "base text encoder")
            self.vae = _load(AutoencoderKL, root, "vae", "base VAE")
            self.unet = _load(UNet2DConditionModel, root, "unet", "base UNet")
        else:
            text_dir = resolve(c.text_encoder, what="components.text_encoder")
            self.tokenizer = _load(CLIPTokenizer, text_dir, None, "components.text_encoder tokenizer")
            # a CLIPModel directory (a clip stage checkpoint) holds the vision tower too
            self.text_encoder = _load(CLIPTextModel, text_dir, None, "components.text_encoder", unexpected_ok=True)
            self.vae = _load(AutoencoderKL, resolve(c.vae, what="components.vae"), None, "components.vae")
            self.unet = self.fresh_unet()
        if self.unet.config.cross_attention_dim != self.text_encoder.config.hidden_size:
            raise LongbenchError(f"the UNet attends to {self.unet.config.cross_attention_dim} features but the text "
                                 f"encoder gives {self.text_encoder.config.hidden_size}")
        n = cfg.noise
        self.noise_scheduler = DDPMScheduler(num_train_timesteps=n.num_train_timesteps, beta_start=n.beta_start,
                                             beta_end=n.beta_end, beta_schedule=n.beta_schedule,
                                             prediction_type=n.prediction_type, clip_sample=False,
                                             rescale_betas_zero_snr=n.rescale_betas_zero_snr,
                                             timestep_spacing=n.timestep_spacing)
        self.prediction_type = n.prediction_type
        assert self.prediction_type in PREDICTION_TYPES
        self.num_train_timesteps = n.num_train_timesteps
        self.alphas_cumprod = self.noise_scheduler.alphas_cumprod.float().to(self.accelerator.device)
        cfg.check_schedule(self.num_train_timesteps)
        device = self.accelerator.device
        frozen = (self.vae,) if cfg.base.train_text_encoder else (self.text_encoder, self.vae)
        for module in frozen:
            module.requires_grad_(False).eval().to(device=device, dtype=self.weight_dtype)
        if cfg.base.train_text_encoder:
            self.text_encoder.requires_grad_(True).to(device=device).train()
        self.unet.requires_grad_(True)
        self.unet.to(device=device).train()
        if cfg.train.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.parent = None
        self.t5_tokenizer = self.t5_encoder = self.adapter = None
        self.encoder = SegmentEncoder(self.tokenizer, self.text_encoder, cfg.encoding.token_length,
                                      cfg.encoding.splitter, merge=cfg.encoding.merge,
                                      text_grad=cfg.base.train_text_encoder)
        self.eval_items = None
        if cfg.base.eval_items:
            from longalign.data.mini import eval_items

            self.eval_items = eval_items(cfg.base.eval_items, cfg.base.eval_seed, cfg.data.mini_layout)
        torch.manual_seed(cfg.train.seed)  # nothing else draws from the global generator before training

    def fresh_unet(self) -> Any:
        from diffusers import UNet2DConditionModel

        u = self.cfg.unet
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        down, up = unet_blocks(len(u.block_out_channels))
        return UNet2DConditionModel(
            sample_size=self.cfg.data.resolution // factor, in_channels=int(self.vae.config.latent_channels),
            out_channels=int(self.vae.config.latent_channels), layers_per_block=u.layers_per_block,
            block_out_channels=tuple(u.block_out_channels), down_block_types=down, up_block_types=up,
            cross_attention_dim=int(self.text_encoder.config.hidden_size), attention_head_dim=u.attention_head_dim,
            norm_num_groups=u.norm_num_groups)

    def trainable_modules(self) -> list[nn.Module]:
        return [self.unet, self.text_encoder] if self.cfg.base.train_text_encoder else [self.unet]

    def set_prepared(self, modules: list[nn.Module]) -> None:
        Stage.set_prepared(self, modules)  # not DiffusionStage's: its second module is a T5 adapter
        self.unet_train = modules[0]
        if len(modules) > 1:
            self.encoder.text_encoder = modules[1]  # forward through the wrapper so DDP syncs its gradients

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        return denoising_step(self, self.cfg.base, batch, generator)

    # -------------------------------------------------------------------------------------- checkpoint
    def pipeline(self, unet: Any) -> Any:
        from diffusers import DDIMScheduler, StableDiffusionPipeline

        scheduler = DDIMScheduler.from_config(self.noise_scheduler.config, set_alpha_to_one=False, steps_offset=1)
        return StableDiffusionPipeline(unet=unet, vae=self.vae, text_encoder=self.text_encoder,
                                       tokenizer=self.tokenizer, scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)

    def evaluate(self, pipe: Any) -> dict[str, float]:
        """Generate the held-out items from their short captions and read them back."""
        import torch

        from longalign.data.mini import reader_scores, to_uint8
        from longbench.mini.captions import short_caption
        from longbench.mini.views import item_scene

        b = self.cfg.base
        items = self.eval_items
        captions = [short_caption(item_scene(it)) for it in items]
        res = self.cfg.data.resolution
        with torch.no_grad():
            images = pipe(prompt_embeds=self.encoder(captions), negative_prompt_embeds=self.encoder.unconditional(
                len(captions)), num_inference_steps=b.eval_steps, guidance_scale=b.eval_guidance, height=res, width=res,
                output_type="pt", generator=torch.Generator().manual_seed(b.eval_seed)).images
        scores = reader_scores(list(to_uint8(images * 2.0 - 1.0)), items)
        return {"fact_recall": scores["fact_recall"], "count_acc": scores["count_acc"],
                "binding_acc": scores["binding_acc"], "position_acc": scores["position_acc"], "n": len(items),
                "captions": "short", "steps": b.eval_steps, "guidance": b.eval_guidance}

    def save_checkpoint(self, target: Path, step: int) -> None:
        import longbench
        from longalign.config import config_to_dict
        from longbench.fileio import atomic_dir
        from longbench.mini.tokenizer import write_vocab_files

        unet = self.unwrapped_unet()
        pipe = self.pipeline(unet)
        pipe.set_progress_bar_config(disable=True)
        trained = self.trainable_modules()  # the unwrapped modules
        for module in trained:
            module.eval()
        try:
            check = self.evaluate(pipe) if self.eval_items else None
        finally:
            for module in trained:
                module.train()
        if check is not None:
            logger.info("base step %d: generated images read back %s", step, check)
        with atomic_dir(target) as tmp:
            pipe.save_pretrained(str(tmp), safe_serialization=True)
            write_vocab_files(self.tokenizer, tmp / "tokenizer")  # for the slow CLIPTokenizer of transformers 4
            manifest = {"format": MANIFEST_FORMAT, "format_version": 1, "stage": self.name, "step": step,
                        "components": {"text_encoder": self.cfg.components.text_encoder or None,
                                       "vae": self.cfg.components.vae or None,
                                       "init_from": self.cfg.components.init_from or None},
                        "encoder": self.encoder.describe(), "data": self.describe_data(),
                        "unet_parameters": sum(p.numel() for p in unet.parameters()), "eval": check,
                        "config": config_to_dict(self.cfg), "longbench_version": longbench.__version__}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
