"""``comat``: CoMat (arXiv 2404.03653) — concept matching, attribute concentration and fidelity preservation,
on the reward stage's rollout, for prompts of any length (docs/training.md states the method and every
difference from the reference code).

Per batch (defaults are the reference's):

1. **Rollout** (``longalign.rollout``): a 50-step DDPM sampling with guidance 7.5 from noise; K = 5 steps
   ``50 // 5`` apart from a random start carry gradient, with gradients flowing through the UNet's input into
   earlier steps (``reward.sampler: ddpm``, ``reward.grad_steps: 5``, ``reward.detach_input: false``).
   Prompts are segment-encoded (``model.token_length``), so nothing beyond 77 tokens is cut.
2. **Concept matching**: the final latents are decoded and scored by the ``reward`` section's reward — by
   default the captioner (``reward.kind: caption``, ``longalign.rewards.caption``); loss = −reward.
3. **Attribute concentration** (``comat`` section): at ``comat.attention_steps`` of the gradient steps, drawn at
   random, the cross-attention probabilities of the mid and up blocks are recorded (``longalign.comat.attention``);
   each entity's tokens (``longalign.comat.entities``) are pulled onto the entity's mask
   (``longalign.comat.masks``: exact scene masks on the synthetic worlds, else Grounding DINO + SAM on the
   generated image) by TokenCompose's token and pixel losses (``longalign.comat.losses``), weighted 1e-3 and
   5e-5.
4. **Fidelity preservation** (``discriminator`` section): a discriminator built from the pretrained UNet
   (``longalign.comat.discriminator``) scores the final latents; the generator's loss (weight 1) asks it to call
   them real. After the generator's step, the discriminator takes its own step (AdamW, lr 2e-5, β1 0, gradient
   clip 1) on the same latents (generated) against latents the base model generated beforehand for the same
   prompts (real).

The discriminator's weights and its optimizer are part of the resumable state; the checkpoint holds the
generator's LoRA only (a longSD checkpoint, like every stage's).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.checks import check_range, require, require_choice
from longalign.sections import LoraSection, OptimSection, TrainSection, path_field
from longalign.stages.common import DiffusionStageConfig
from longalign.stages.reward import RewardSection, RewardStage
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

MASKS = ("auto", "scene", "grounded-sam")
#: nouns of background "stuff" a detector cannot box, left out of the parsed entities (this project's list)
SKIP_ENTITIES = ("background", "scene", "picture", "image", "sky", "ground", "floor", "wall", "grass", "water",
                 "sea", "ocean", "air", "light", "sunlight", "shadow", "room", "street", "field", "space", "area",
                 "surface", "texture", "atmosphere", "day", "night", "morning", "evening")
#: the layers the reference adapts with LoRA (in the generator and the discriminator): the attention projections
ATTENTION_LORA = ("to_q", "to_k", "to_v", "to_out.0")
REAL_LATENTS_FORMAT = "longalign-comat-real-latents"


@dataclass
class ComatSection:
    """Attribute concentration."""

    #: gradient steps whose cross-attention is concentrated, drawn at random among the rollout's gradient steps
    attention_steps: int = 2
    token_loss_weight: float = 1e-3
    pixel_loss_weight: float = 5e-5
    #: UNet places whose cross-attention layers are concentrated (down, mid, up; the reference: mid and up)
    attention_places: list[str] = field(default_factory=lambda: ["mid", "up"])
    #: auto (scene on synth/mini data, else grounded-sam) | scene (exact, rendered) | grounded-sam
    masks: str = "auto"
    #: Grounding DINO (grounded-sam masks)
    grounding_model: str = path_field("IDEA-Research/grounding-dino-tiny")
    grounding_processor: str = path_field()
    #: SAM (grounded-sam masks)
    sam_model: str = path_field("facebook/sam-vit-base")
    sam_processor: str = path_field()
    #: a Grounding DINO box belongs to the entity it was queried for above this score
    box_threshold: float = 0.3
    #: nouns left out of the entities parsed from captions (background stuff)
    skip_entities: list[str] = field(default_factory=lambda: list(SKIP_ENTITIES))

    @property
    def enabled(self) -> bool:
        return self.attention_steps > 0 and (self.token_loss_weight > 0 or self.pixel_loss_weight > 0)

    def check(self) -> None:
        from longalign.comat.attention import PLACES

        check_range(self.attention_steps, "comat.attention_steps", 0, why="0: no attribute concentration")
        check_range(self.token_loss_weight, "comat.token_loss_weight", 0)
        check_range(self.pixel_loss_weight, "comat.pixel_loss_weight", 0)
        require(bool(self.attention_places) and all(p in PLACES for p in self.attention_places),
                f"comat.attention_places={self.attention_places}: expected some of {', '.join(PLACES)}")
        require_choice(self.masks, "comat.masks", MASKS)
        check_range(self.box_threshold, "comat.box_threshold", 0, 1)


@dataclass
class DiscriminatorSection:
    """Fidelity preservation."""

    #: weight of the generator's adversarial loss (0: no discriminator)
    loss_weight: float = 1.0
    #: encoder (down and mid blocks of the UNet + a 1×1 convolution) | unet (the reference: the whole UNet + a
    #: per-pixel Linear(4, 1))
    trunk: str = "encoder"
    #: rank of the discriminator's LoRA on the attention projections of its UNet copy
    lora_rank: int = 128
    learning_rate: float = 2e-5
    adam_beta1: float = 0.0
    adam_beta2: float = 0.999
    weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    #: the timestep the discriminator reads latents at; -1: the rollout's last timestep (the reference's)
    timestep: int = -1
    #: safetensors file caching the base model's latents for the training prompts (written when missing);
    #: empty: generated in memory when the run starts
    real_latents: str = path_field()

    def check(self) -> None:
        from longalign.comat.discriminator import TRUNKS

        check_range(self.loss_weight, "discriminator.loss_weight", 0, why="0: no discriminator")
        require_choice(self.trunk, "discriminator.trunk", TRUNKS)
        check_range(self.lora_rank, "discriminator.lora_rank", 1)
        check_range(self.learning_rate, "discriminator.learning_rate", 0, lo_open=True)
        check_range(self.adam_beta1, "discriminator.adam_beta1", 0, 1, hi_open=True)
        check_range(self.adam_beta2, "discriminator.adam_beta2", 0, 1, hi_open=True)
        check_range(self.weight_decay, "discriminator.weight_decay", 0)
        check_range(self.adam_epsilon, "discriminator.adam_epsilon", 0, lo_open=True)
        check_range(self.max_grad_norm, "discriminator.max_grad_norm", 0, why="0: no clipping")
        check_range(self.timestep, "discriminator.timestep", -1, why="-1: the rollout's last timestep")


def _comat_reward() -> RewardSection:
    return RewardSection(kind="caption", sampler="ddpm", grad_steps=5, detach_input=False)


@dataclass
class ComatConfig(DiffusionStageConfig):
    lora: LoraSection = field(default_factory=lambda: LoraSection(rank=128, target_modules=list(ATTENTION_LORA)))
    optim: OptimSection = field(default_factory=lambda: OptimSection(learning_rate=5e-5, max_grad_norm=0.1,
                                                                     lr_scheduler="constant", warmup_steps=0))
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=4, max_steps=2000))
    reward: RewardSection = field(default_factory=_comat_reward)
    comat: ComatSection = field(default_factory=ComatSection)
    discriminator: DiscriminatorSection = field(default_factory=DiscriminatorSection)

    def resolve(self) -> None:
        super().resolve()
        self.reward.resolve()

    def check(self) -> None:
        super().check()
        self.reward.check()
        self.comat.check()
        self.discriminator.check()

    def check_schedule(self, num_train_timesteps: int) -> None:
        T = num_train_timesteps
        check_range(self.reward.rollout_steps, "reward.rollout_steps", 1, T, why=f"the base scheduler has {T} "
                    "training timesteps")
        check_range(self.discriminator.timestep, "discriminator.timestep", -1, T - 1,
                    why=f"-1: the rollout's last timestep; the base scheduler has {T} training timesteps")


class ComatStage(RewardStage):
    name: ClassVar[str] = "comat"
    config_class: ClassVar[type] = ComatConfig

    # -------------------------------------------------------------------------------------- setup
    def setup_stage(self) -> None:
        super().setup_stage()  # the reward
        self.recorder: Any = None
        self.grounded: Any = None
        self.discriminator: Any = None
        self._recorded: dict[int, Any] = {}
        self._attention_steps: list[int] = []
        self._entities: dict[int, Any] = {}
        c = self.cfg.comat
        self.masks_mode = ""
        if c.enabled:
            world = self._world_prompt(0)
            self.masks_mode = ("scene" if world is not None else "grounded-sam") if c.masks == "auto" else c.masks
            if self.masks_mode == "scene" and world is None:
                raise LongbenchError("comat.masks=scene: exact masks need a synthetic world's data (data.format="
                                     "synth or mini); use comat.masks=grounded-sam")
        if self.cfg.discriminator.loss_weight > 0:
            self.setup_discriminator()  # before any processor is replaced, from the pretrained weights
        if c.enabled:
            from longalign.comat.attention import CrossAttentionRecorder

            self.recorder = CrossAttentionRecorder(self.unet, c.attention_places)
            if self.masks_mode == "grounded-sam":
                from longalign.comat.masks import GroundedSam

                self.grounded = GroundedSam.load(c.grounding_model, c.grounding_processor, c.sam_model,
                                                 c.sam_processor, box_threshold=c.box_threshold,
                                                 device=str(self.accelerator.device))

    def _world_prompt(self, index: int) -> Any:
        from longalign.comat.entities import world_prompt

        return world_prompt(self._data, index)

    def setup_discriminator(self) -> None:
        import torch
        from diffusers import UNet2DConditionModel
        from diffusers.training_utils import cast_training_params

        from longalign.comat.discriminator import Discriminator
        from longalign.lora_recipes import add_lora
        from longalign.stages.common import _load
        from longbench.longsd.lora import fuse_checkpoint_lora
        from longbench.models.diffusers_model import dtype_kwarg

        d = self.cfg.discriminator
        pretrained = _load(UNet2DConditionModel, self.base_path, "unet", "discriminator UNet",
                           **dtype_kwarg(self.weight_dtype))
        if self.parent is not None:
            fuse_checkpoint_lora(pretrained, self.parent["_dir"])
        self.discriminator = Discriminator(pretrained, d.trunk)
        del pretrained
        lora = SimpleNamespace(recipe="default", rank=d.lora_rank, alpha=0.0, dropout=0.0, dropout_on="input",
                               target_modules=list(ATTENTION_LORA))
        add_lora(self.discriminator.unet, lora, "discriminator")
        cast_training_params(self.discriminator)  # trained weights in float32 under mixed precision
        self.discriminator.to(self.accelerator.device)
        params = list(self.discriminator_parameters().values())
        optimizer = torch.optim.AdamW(params, lr=d.learning_rate, betas=(d.adam_beta1, d.adam_beta2),
                                      weight_decay=d.weight_decay, eps=d.adam_epsilon)
        # prepared, so its state is saved and restored with the run's and fp16 gradients are unscaled
        self.d_optimizer = self.accelerator.prepare(optimizer)
        self.real = self.real_latents()

    def discriminator_parameters(self) -> dict[str, torch.nn.Parameter]:
        return {n: p for n, p in self.discriminator.named_parameters() if p.requires_grad}

    def state_parameters(self) -> dict[str, torch.nn.Parameter]:
        out = dict(self.trainable_named_parameters())
        if self.discriminator is not None:
            out.update({f"discriminator.{n}": p for n, p in self.discriminator_parameters().items()})
        return out

    # -------------------------------------------------------------------------------------- real latents
    def _real_fingerprint(self, prompts: list[str]) -> str:
        r = self.cfg.reward
        what = {"prompts": hashlib.sha256("\x00".join(prompts).encode()).hexdigest(), "probe": self.probe,
                "parent": self.parent["_dir"] if self.parent else None, "sampler": r.sampler,
                "steps": r.rollout_steps, "guidance": r.guidance_scale, "resolution": self.cfg.data.resolution,
                "encoder": self.encoder.describe(), "seed": self.cfg.train.seed, "dtype": str(self.weight_dtype)}
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def real_latents(self) -> torch.Tensor:
        """(N, C, h, w) float32 latents of the base model (with the parent) for every training element: read from
        ``discriminator.real_latents`` when it exists, else sampled (and written there when it is set)."""
        from safetensors import safe_open
        from safetensors.torch import load, save

        from longbench.fileio import atomic_write_bytes

        d = self.cfg.discriminator
        prompts = [self._data[k]["caption"] for k in range(len(self._data))]
        fingerprint = self._real_fingerprint(prompts)
        path = Path(d.real_latents).expanduser() if d.real_latents else None
        if path is None or not path.exists():
            latents = self.generate_real(prompts)
            if path is not None and self.accelerator.is_main_process:
                atomic_write_bytes(path, save({"latents": latents.contiguous()},
                                              metadata={"format": REAL_LATENTS_FORMAT, "fingerprint": fingerprint}))
            self.accelerator.wait_for_everyone()
            return latents
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != REAL_LATENTS_FORMAT or meta.get("fingerprint") != fingerprint:
            raise LongbenchError(f"discriminator.real_latents={d.real_latents}: made for other prompts, models or "
                                 "sampler settings; delete it or choose another file")
        latents = load(path.read_bytes())["latents"]
        want = (len(prompts), *self.latent_shape(1)[1:])
        if tuple(latents.shape) != want:
            raise LongbenchError(f"discriminator.real_latents={d.real_latents}: latents of shape "
                                 f"{tuple(latents.shape)}, expected {want}")
        return latents.float()

    def generate_real(self, prompts: list[str]) -> torch.Tensor:
        """Sample every prompt with the model as it starts (no gradient) with the rollout's sampler and guidance,
        in chunks of ``train.batch_size`` prompts, each seeded by its first index (so the latents do not depend
        on the number of processes); the processes share the chunks and gather the result."""
        import torch

        from longalign.rollout import RolloutPlan, run_rollout, sampler_timesteps
        from longalign.trainer import mix_seed

        r = self.cfg.reward
        acc = self.accelerator
        ts, prev = sampler_timesteps(r.sampler, r.rollout_steps, self.noise_scheduler.config)
        plan = RolloutPlan(r.sampler, ts, prev, [])
        bsz = self.cfg.train.batch_size
        unet = self.unet  # before accelerate prepares it

        def call(x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
            with acc.autocast():
                return unet(x, t, ctx).sample

        starts = list(range(0, len(prompts), bsz))
        per_process = -(-len(starts) // acc.num_processes)
        mine = torch.zeros(per_process, *self.latent_shape(bsz))  # padded: every process gathers as many
        logger.info("comat: sampling %d real latents for the discriminator", len(prompts))
        for j, start in enumerate(starts[acc.process_index::acc.num_processes]):
            chunk = prompts[start:start + bsz]
            generator = torch.Generator().manual_seed(mix_seed(self.cfg.train.seed, "real-latents", start))
            with torch.no_grad():
                cond, uncond = self.encode(chunk)
                noise = self.randn(self.latent_shape(len(chunk)), generator).float()
                result = run_rollout(plan, lambda i, grad: call, cond, uncond, noise,
                                     guidance_scale=r.guidance_scale, alphas_cumprod=self.alphas_cumprod,
                                     prediction_type=self.prediction_type, weight_dtype=self.weight_dtype,
                                     generator=generator, detach_input=True, clip_sample=self.clip_sample())
            mine[j, :len(chunk)] = result.sample.float().cpu()
        if acc.num_processes > 1:
            gathered = acc.gather(mine.to(acc.device)).cpu()  # process r's chunks at rows r·per_process + j
            mine = torch.stack([gathered[(k % acc.num_processes) * per_process + k // acc.num_processes]
                                for k in range(len(starts))])
        return mine.reshape(-1, *mine.shape[2:])[:len(prompts)]

    # -------------------------------------------------------------------------------------- rollout
    def plan(self, generator: torch.Generator) -> Any:
        """The rollout's plan, then the gradient steps whose attention is recorded (drawn without replacement)."""
        import torch

        plan = super().plan(generator)
        self._recorded = {}
        self._attention_steps = []
        if self.recorder is not None:
            order = torch.randperm(len(plan.grad_steps), generator=generator).tolist()
            k = min(self.cfg.comat.attention_steps, len(order))
            self._attention_steps = sorted(plan.grad_steps[j] for j in order[:k])
        return plan

    def step_call(self, index: int, grad: bool) -> Callable[..., torch.Tensor]:
        if index not in self._attention_steps:
            return self.unet_call(grad)
        # the sink goes to the first run only: a checkpointed call runs again during the backward pass
        state = {"sink": self._recorded.setdefault(index, {})}
        return self.unet_call(grad, around=lambda: self.recorder.explicit(state.pop("sink", None)))

    # -------------------------------------------------------------------------------------- training
    def entities_of(self, index: int, prompt: str) -> tuple[Any, list[list[int]], Any]:
        """(entities, their context rows, world prompt or None) of training element ``index``; cached."""
        if index not in self._entities:
            from longalign.comat.entities import entity_rows, parsed_entities

            world = self._world_prompt(index)
            entities = world.entities if world is not None else parsed_entities(prompt, self.cfg.comat.skip_entities)
            if len(self._entities) > 4096:
                self._entities.clear()
            self._entities[index] = (entities, entity_rows(self.encoder, prompt, entities), world)
        return self._entities[index]

    def attention_loss(self, prompts: list[str], indices: list[int], images: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(token loss, pixel loss, mean entities per image) of the recorded steps."""
        from longalign.comat.losses import attention_losses
        from longalign.comat.masks import scene_masks

        info = [self.entities_of(k, p) for k, p in zip(indices, prompts)]
        if self.masks_mode == "scene":
            masks = [scene_masks(world) if ents else None for ents, _, world in info]
        else:
            found = self.grounded.masks(images, [[e.name for e in ents] for ents, _, _ in info])
            masks = [m if ents else None for m, (ents, _, _) in zip(found, info)]
        token, pixel = attention_losses(list(self._recorded.values()), [rows for _, rows, _ in info], masks,
                                        len(prompts))
        return token, pixel, sum(len(ents) for ents, _, _ in info) / len(prompts)

    def d_timestep(self, plan: Any) -> int:
        t = self.cfg.discriminator.timestep
        return plan.timesteps[-1] if t < 0 else t

    def d_logits(self, latents: torch.Tensor, t: int, frozen: bool) -> torch.Tensor:
        """Discriminator logits; ``frozen``: its trained weights enter as constants (the generator's loss)."""
        import torch
        from torch.func import functional_call

        n = latents.shape[0]
        context = self.encoder.unconditional(n).to(self.weight_dtype)
        timesteps = torch.full((n,), t, device=latents.device, dtype=torch.long)
        with self.accelerator.autocast():
            if frozen:
                params = {k: p.detach() for k, p in self.discriminator_parameters().items()}
                return functional_call(self.discriminator, params, (latents, timesteps, context), strict=False)
            return self.discriminator(latents, timesteps, context)

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        from longalign.comat.discriminator import generator_loss

        prompts = list(batch["caption"])
        indices = [int(i) for i in batch["index"]]
        result = self.sample(prompts, generator)
        images = self.decode(result.latents)
        out = self.reward(images, prompts, accelerator=self.accelerator, generator=generator)
        loss = self.reward.loss(out)
        logs: dict[str, Any] = {**self.reward.log_values(out), "grad_steps": float(len(result.plan.grad_steps))}
        c = self.cfg.comat
        if self._recorded:
            token, pixel, n_entities = self.attention_loss(prompts, indices, images.detach())
            loss = loss + c.token_loss_weight * token + c.pixel_loss_weight * pixel
            logs.update(token_loss=float(token.detach()), pixel_loss=float(pixel.detach()), entities=n_entities)
        self._recorded = {}
        if self.discriminator is not None:
            t = self.d_timestep(result.plan)
            g_loss = generator_loss(self.d_logits(result.sample, t, frozen=True))
            loss = loss + self.cfg.discriminator.loss_weight * g_loss
            logs["g_loss"] = float(g_loss.detach())
            self._fake = (result.sample.detach(), t, indices)
        return loss, logs

    def after_step(self) -> dict[str, float]:
        """The discriminator's step on this micro-step's generated latents and the real ones of its prompts."""
        if self.discriminator is None:
            return {}
        import torch

        from longalign.comat.discriminator import discriminator_loss
        from longalign.trainer import average_gradients

        fake, t, indices = self._fake
        real = self.real[torch.tensor(indices)].to(device=fake.device, dtype=fake.dtype)
        logits = self.d_logits(torch.cat([fake, real]), t, frozen=False)
        loss = discriminator_loss(logits[len(indices):], logits[:len(indices)])
        acc = self.accelerator
        acc.backward(loss)
        params = list(self.discriminator_parameters().values())
        if acc.sync_gradients:
            if acc.num_processes > 1:
                average_gradients(params, acc)
            if self.cfg.discriminator.max_grad_norm > 0:
                acc.clip_grad_norm_(params, self.cfg.discriminator.max_grad_norm)
        self.d_optimizer.step()
        self.d_optimizer.zero_grad(set_to_none=True)
        return {"d_loss": float(loss.detach())}

