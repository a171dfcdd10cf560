"""``vae``: fit a diffusers ``AutoencoderKL`` to (near) identity on the training images.

The miniature world needs a VAE whose decodings the exact reader can read: a random one decodes noise,
and SD's VAE downsamples ×8, which leaves 4×4 latents at 32 px. This stage trains a small VAE (×2 with
the default two blocks: 16×16 latents at 32 px) from scratch (architecture in the ``vae`` section,
weights drawn from ``train.seed``) or continues ``vae.init``. Loss: reconstruction of a posterior sample
(``vae.loss``: ``l1`` or ``l2``, on [-1, 1] pixels) plus ``vae.kl_weight`` times the KL to the unit
Gaussian (small: it only keeps the latent scale bounded).

On save the checkpoint (a diffusers ``AutoencoderKL`` directory plus ``manifest.json``, format
``longalign-vae``) gets

* ``scaling_factor`` = 1 / standard deviation of posterior samples over ``vae.scaling_items`` training
  images, as SD does, so diffusion training sees unit-variance latents;
* a check on ``vae.eval_items`` held-out items (seed ``vae.eval_seed``): the exact reader's scores on the
  reconstructions (posterior mode, quantised to uint8) — ``fact_recall`` is 1.0 for a perfect VAE — and
  the fraction of pixels whose nearest palette colour is the original's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.checks import check_range, require, require_choice
from longalign.config import StageConfig
from longalign.sections import DataSection, OptimSection, TrainSection, check_mini_seed, path_field
from longalign.stages.base import CaptionDataStage
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = "longalign-vae"


@dataclass
class VaeSection:
    #: AutoencoderKL directory to continue from; empty: a fresh VAE of the architecture below
    init: str = path_field()
    #: channels per block; the image is downsampled 2^(blocks − 1) times
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64])
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_num_groups: int = 16
    loss: str = "l1"
    kl_weight: float = 1e-6
    #: training images whose latent standard deviation sets scaling_factor at every save
    scaling_items: int = 256
    #: held-out miniature items read back from their reconstructions at every save (0: no check)
    eval_items: int = 64
    eval_seed: int = 7

    def check(self) -> None:
        require(bool(self.block_out_channels), "vae.block_out_channels needs at least one block")
        for c in self.block_out_channels:
            check_range(c, "vae.block_out_channels", 1)
            require(c % self.norm_num_groups == 0, f"vae.block_out_channels: {c} is not a multiple of "
                    f"vae.norm_num_groups={self.norm_num_groups}")
        check_range(self.layers_per_block, "vae.layers_per_block", 1)
        check_range(self.latent_channels, "vae.latent_channels", 1)
        check_range(self.norm_num_groups, "vae.norm_num_groups", 1)
        require_choice(self.loss, "vae.loss", ("l1", "l2"))
        check_range(self.kl_weight, "vae.kl_weight", 0)
        check_range(self.scaling_items, "vae.scaling_items", 1)
        check_range(self.eval_items, "vae.eval_items", 0, why="0: no check")
        check_mini_seed(self.eval_seed, "vae.eval_seed")


@dataclass
class VaeConfig(StageConfig):
    vae: VaeSection = field(default_factory=VaeSection)
    data: DataSection = field(default_factory=lambda: DataSection(format="mini", resolution=32))
    optim: OptimSection = field(default_factory=lambda: OptimSection(learning_rate=1e-3, max_grad_norm=1.0,
                                                                     weight_decay=0.0, warmup_steps=100))
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=16, max_steps=6000))

    resumable_changes: ClassVar[tuple[str, ...]] = (*StageConfig.resumable_changes, "data.num_workers")

    def check(self) -> None:
        super().check()
        self.vae.check()
        self.data.check()
        require(self.data.mini_seed != self.vae.eval_seed or self.data.format != "mini",
                f"vae.eval_seed={self.vae.eval_seed} equals data.mini_seed: the check would score training items")


def fresh_vae(section: VaeSection, resolution: int) -> Any:
    from diffusers import AutoencoderKL

    n = len(section.block_out_channels)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(section.block_out_channels),
                         layers_per_block=section.layers_per_block, latent_channels=section.latent_channels,
                         norm_num_groups=section.norm_num_groups, sample_size=resolution)


def palette_pixel_accuracy(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of pixels of uint8 images ``a`` and ``b`` (N, 3, H, W) whose nearest palette colours agree."""
    import torch

    from longbench.mini.world import PALETTE

    pal = torch.tensor(list(PALETTE.values()), dtype=torch.float32)

    def nearest(x: torch.Tensor) -> torch.Tensor:
        flat = x.permute(0, 2, 3, 1).reshape(-1, 3).float()
        return torch.cdist(flat, pal).argmin(dim=1)

    return float((nearest(a) == nearest(b)).float().mean())


class VaeStage(CaptionDataStage):
    name: ClassVar[str] = "vae"
    config_class: ClassVar[type] = VaeConfig
    manual_grad_sync: ClassVar[bool] = True  # encode/decode are called on the unwrapped model

    def setup(self) -> None:
        from longalign.data.captions import build_dataset

        cfg = self.cfg
        self._data = build_dataset(cfg.data)
        v = cfg.vae
        if v.init:
            from diffusers import AutoencoderKL

            from longbench.weights import from_pretrained_strict, resolve

            try:  # strictly: a partial checkpoint would continue from random tensors
                self.vae = from_pretrained_strict(AutoencoderKL, resolve(v.init, what="vae.init"), what="vae.init",
                                                  local_files_only=True)
            except (OSError, ValueError) as e:
                raise LongbenchError(f"vae.init={v.init!r}: cannot load an AutoencoderKL ({str(e).splitlines()[0]})") \
                    from None
        else:
            self.vae = fresh_vae(v, cfg.data.resolution)
        self.vae.to(self.accelerator.device).train()
        self.vae_train = self.vae
        self.eval_items = None
        if v.eval_items:
            from longalign.data.mini import eval_items

            self.eval_items = eval_items(v.eval_items, v.eval_seed, cfg.data.mini_layout)

    def trainable_modules(self) -> list[nn.Module]:
        return [self.vae]

    def set_prepared(self, modules: list[nn.Module]) -> None:
        super().set_prepared(modules)
        self.vae_train = modules[0]

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        import torch.nn.functional as F

        v = self.cfg.vae
        x = batch["pixel_values"].to(self.accelerator.device)
        model = self.accelerator.unwrap_model(self.vae_train)  # the posterior is needed: encode and decode apart
        posterior = model.encode(x).latent_dist
        recon = model.decode(posterior.sample(generator=generator)).sample
        rec = F.l1_loss(recon, x) if v.loss == "l1" else F.mse_loss(recon, x)
        kl = posterior.kl().mean() / x[0].numel()
        loss = rec + v.kl_weight * kl
        return loss, {"reconstruction": float(rec.detach()), "kl": float(kl.detach())}

    # -------------------------------------------------------------------------------------- checkpoint
    def scaling_factor(self, model: Any) -> float:
        """1 / std of posterior samples over the first ``vae.scaling_items`` training images."""
        import torch

        n = min(self.cfg.vae.scaling_items, len(self._data))
        g = torch.Generator().manual_seed(self.cfg.train.seed)
        samples = []
        with torch.no_grad():
            for start in range(0, n, 64):
                x = torch.stack([self._data[k]["pixel_values"] for k in range(start, min(n, start + 64))])
                samples.append(model.encode(x.to(self.accelerator.device)).latent_dist.sample(generator=g).float())
        return float(1.0 / torch.cat(samples).std().clamp_min(1e-6))

    def evaluate(self, model: Any) -> dict[str, float]:
        import torch

        from longalign.data.mini import reader_scores, renders, to_uint8

        x = renders(self.eval_items).to(self.accelerator.device)
        with torch.no_grad():
            recon = model.decode(model.encode(x).latent_dist.mode()).sample
        out, ref = to_uint8(recon), to_uint8(x)
        scores = reader_scores(list(out), self.eval_items)
        return {"fact_recall": scores["fact_recall"], "count_acc": scores["count_acc"],
                "binding_acc": scores["binding_acc"], "position_acc": scores["position_acc"],
                "palette_pixel_accuracy": palette_pixel_accuracy(out, ref), "n": len(self.eval_items)}

    def save_checkpoint(self, target: Path, step: int) -> None:
        import longbench
        from longalign.config import config_to_dict
        from longbench.fileio import atomic_dir

        model = self.accelerator.unwrap_model(self.vae_train)
        was_training = model.training
        model.eval()
        try:
            scale = self.scaling_factor(model)
            check = self.evaluate(model) if self.eval_items else None
        finally:
            model.train(was_training)
        if check is not None:
            logger.info("vae step %d: reconstructions read back %s", step, check)
        model.register_to_config(scaling_factor=scale)
        with atomic_dir(target) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            manifest = {"format": MANIFEST_FORMAT, "format_version": 1, "stage": self.name, "step": step,
                        "init": self.cfg.vae.init or None, "data": self.describe_data(), "scaling_factor": scale,
                        "parameters": sum(p.numel() for p in model.parameters()), "eval": check,
                        "config": config_to_dict(self.cfg), "longbench_version": longbench.__version__}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
