"""``denscore``: fine-tune a CLIP-style model into a segment-level preference model.

Data: preference pairs (``longalign.data.preferences``: JSONL of ``{caption, image_0, image_1, label}``, label = index
of the preferred image, 0.5 for a tie). Scores follow the metric (``longbench.metrics.denscore``): image
and segment features are L2-normalised, the prompt vector is the mean of its segment vectors, and images
go through the metric's and the reward's preprocessing (``reward_preprocess``: crop
``denscore.crop_fraction`` of each side — centred, or at random with ``denscore.random_crop`` — bilinear
antialiased resize to the model's image size, CLIP normalisation), so the model is trained on the inputs
it is scored with.

Loss (Pick-a-Pic style cross-entropy between the two images of a pair, target ``[1 − label, label]``,
logits ``logit_scale · score``), at two levels:

* segment level — every segment of the caption takes the pair's label as a weak label (or, with
  ``pairs.mini_segment_labels``, its exact label from the miniature world: a tie where it states nothing
  that differs); the loss is the mean over a prompt's segments, then over the batch;
* prompt level — the same on the Denscore prompt vector ``c``.

With ``denscore.relevant_weight`` r > 0, a share r of both levels is taken on the text-relevant vectors
instead: ``s⊥ = s − (s·V)V`` per segment and their mean ``c⊥ = c − (c·V)V`` per prompt (V: the unit mean of
the batch's prompt vectors, held fixed in the step), the score the Denscore column reports.

``loss = w · segment + (1 − w) · prompt`` with ``w = denscore.segment_weight``. The output directory is a
transformers model directory (weights in safetensors, tokenizer and image processor) that the Denscore
metric loads directly, plus ``manifest.json``.
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
    OptimSection,
    TrainSection,
    check_mini_layout,
    check_mini_seed,
    check_splitter,
    path_field,
)
from longalign.stages.base import Stage
from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = "longalign-denscore"


@dataclass
class ScorerSection:
    #: CLIP-style model to start from (id, directory) and its processor (default: the model's own)
    init: str = path_field()
    processor: str = path_field()

    def check(self) -> None:
        require(bool(self.init), "scorer.init is required: the CLIP-style model to fine-tune (id or directory)")


@dataclass
class PairsSection:
    #: jsonl (the file below) or mini (correct vs corrupt-K renders of the miniature world, longalign.data.mini)
    format: str = "jsonl"
    #: JSONL of {caption, image_0, image_1, label: 0 | 1 | 0.5} (longalign.data.preferences)
    path: str = path_field()
    image_root: str = path_field()
    limit: int = 0
    num_workers: int = 0
    #: mini: training items, their seed, and the numbers of broken facts of the rejected images
    mini_size: int = 2048
    mini_seed: int = 1
    mini_corrupt: list[int] = field(default_factory=lambda: [1, 2, 4])
    #: mini: prefer the render with K-1 facts broken over the one with K (adjacent rungs), not the correct one
    mini_ladder: bool = False
    #: mini: the scenes' layout, free (mini-v0) or homes (mini-v1)
    mini_layout: str = "free"
    #: mini: label each segment exactly — the pair's label where the sentence states a fact that differs
    #: between the two images, a tie elsewhere — instead of the pair's label for every segment
    mini_segment_labels: bool = False

    def check(self) -> None:
        require_choice(self.format, "pairs.format", ("jsonl", "mini"))
        if self.format == "mini":
            check_range(self.mini_size, "pairs.mini_size", 1)
            check_mini_seed(self.mini_seed, "pairs.mini_seed")
            check_mini_layout(self.mini_layout, "pairs.mini_layout")
            require(bool(self.mini_corrupt) and all(k >= 1 for k in self.mini_corrupt),
                    f"pairs.mini_corrupt={self.mini_corrupt!r}: give numbers of broken facts, each ≥ 1")
        else:
            require(bool(self.path), "pairs.path is required: a JSONL of {caption, image_0, image_1, label}")
            require(not self.mini_segment_labels, "pairs.mini_segment_labels needs pairs.format: mini (JSONL pairs "
                                                  "carry one label per pair)")
        check_range(self.limit, "pairs.limit", 0, why="0: all pairs")
        check_range(self.num_workers, "pairs.num_workers", 0)


@dataclass
class DenscoreSection:
    splitter: str = "longalign"
    #: loss = w · segment-level loss + (1 − w) · prompt-level loss
    segment_weight: float = 0.5
    #: share r of each level's loss taken on the text-relevant scores — x·s⊥ per segment, x·c⊥ per prompt (the
    #: Denscore column; s⊥ = s − (s·V)V, V the batch's unit mean prompt vector) — the rest on the original x·s, x·c
    relevant_weight: float = 0.0
    #: image preprocessing of the Denscore metric and the reward: crop this fraction of each side, resize
    #: to the model's image size (bilinear, antialiased), CLIP normalisation
    crop_fraction: float = 504 / 512
    #: place the crop at random (augmentation, as the reward does in training) instead of centred (the metric)
    random_crop: bool = False
    train_text: bool = True
    train_vision: bool = True
    train_logit_scale: bool = False

    def check(self) -> None:
        check_splitter(self.splitter, "denscore.splitter")
        check_range(self.segment_weight, "denscore.segment_weight", 0, 1)
        check_range(self.relevant_weight, "denscore.relevant_weight", 0, 1)
        check_range(self.crop_fraction, "denscore.crop_fraction", 0, 1, lo_open=True)
        require(self.train_text or self.train_vision or self.train_logit_scale,
                "denscore: nothing to train (train_text, train_vision and train_logit_scale are all false)")


@dataclass
class DenscoreConfig(StageConfig):
    scorer: ScorerSection = field(default_factory=ScorerSection)
    pairs: PairsSection = field(default_factory=PairsSection)
    denscore: DenscoreSection = field(default_factory=DenscoreSection)
    optim: OptimSection = field(default_factory=lambda: OptimSection(learning_rate=3e-6, max_grad_norm=1.0,
                                                                     warmup_steps=500))
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=8))

    resumable_changes: ClassVar[tuple[str, ...]] = (*StageConfig.resumable_changes, "pairs.num_workers")

    def check(self) -> None:
        super().check()
        self.scorer.check()
        self.pairs.check()
        self.denscore.check()
        require(not self.pairs.mini_segment_labels or self.denscore.splitter == "longalign",
                f"pairs.mini_segment_labels labels the prompt's sentences: it needs denscore.splitter: longalign "
                f"(got {self.denscore.splitter!r})")


def pair_cross_entropy(s0: torch.Tensor, s1: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Per-row cross-entropy of softmax([s0, s1]) against the target [1 − label, label]."""
    import torch

    logp = torch.log_softmax(torch.stack([s0, s1], dim=-1), dim=-1)
    target = torch.stack([1.0 - label, label], dim=-1)
    return -(target * logp).sum(dim=-1)


class DenscoreStage(Stage):
    name: ClassVar[str] = "denscore"
    config_class: ClassVar[type] = DenscoreConfig

    def setup(self) -> None:
        from longalign.data.preferences import PreferenceDataset, load_preference_pairs
        from longbench.metrics.clip_models import load_clip_scorer

        cfg = self.cfg
        if cfg.pairs.format == "mini":
            from longalign.data.mini import MiniPreferenceDataset

            self._data: Any = MiniPreferenceDataset(cfg.pairs.mini_size, cfg.pairs.mini_seed, cfg.pairs.mini_corrupt,
                                                    limit=cfg.pairs.limit, ladder=cfg.pairs.mini_ladder,
                                                    layout=cfg.pairs.mini_layout,
                                                    segment_labels=cfg.pairs.mini_segment_labels)
        else:
            self._data = PreferenceDataset(load_preference_pairs(cfg.pairs))
        self.scorer = load_clip_scorer(cfg.scorer.init, cfg.scorer.processor or None,
                                       device=str(self.accelerator.device), dtype="float32",
                                       what="denscore initial model")
        if self.scorer.kind != "transformers":
            raise LongbenchError(f"scorer.init={cfg.scorer.init!r}: denscore training supports transformers CLIP "
                                 "models (CLIPModel-style directories or ids)")
        model = self.scorer.model
        d = cfg.denscore
        model.requires_grad_(False)
        for name, p in model.named_parameters():
            if name.startswith(("text_model.", "text_projection.")):
                p.requires_grad_(d.train_text)
            elif name.startswith(("vision_model.", "visual_projection.")):
                p.requires_grad_(d.train_vision)
        if hasattr(model, "logit_scale"):
            model.logit_scale.requires_grad_(d.train_logit_scale)
        model.train()
        self.model = model
        self.model_train = model

    def dataset(self) -> Any:
        return self._data

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        from longalign.data.preferences import collate_preferences

        return collate_preferences(examples)

    def num_workers(self) -> int:
        return self.cfg.pairs.num_workers

    def trainable_modules(self) -> list[nn.Module]:
        return [self.model]

    def set_prepared(self, modules: list[nn.Module]) -> None:
        super().set_prepared(modules)
        self.model_train = modules[0]

    def describe_data(self) -> dict[str, Any]:
        describe = getattr(self._data, "describe", None)
        return describe() if describe is not None else {"n": len(self._data)}

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        import torch

        from longbench.images import to_float_batches
        from longbench.metrics.denscore import split_prompts
        from longbench.metrics.functional import denscore as F

        d = self.cfg.denscore
        device = self.accelerator.device
        captions = list(batch["caption"])
        bsz = len(captions)
        label = batch["label"].to(device=device, dtype=torch.float32)
        segments, owners = split_prompts(captions, self.scorer, d.splitter)
        tokens = {k: v.to(device) for k, v in self.scorer.tokenize(segments).items()}
        s = self.scorer
        pixels = torch.empty(2 * bsz, 3, s.image_size, s.image_size)
        for idx, group in to_float_batches(list(batch["image_0"]) + list(batch["image_1"]), where="denscore pair image"):
            pixels[idx] = F.reward_preprocess(group, image_size=s.image_size, mean=s.image_mean, std=s.image_std,
                                              fraction=d.crop_fraction, random_crop=d.random_crop, generator=generator)
        pixels = pixels.to(device)
        out = self.model_train(pixel_values=pixels, return_loss=False, **tokens)
        seg = F.l2_normalize(out.text_embeds.float())
        img = F.l2_normalize(out.image_embeds.float())
        x0, x1 = img[:bsz], img[bsz:]
        owner = torch.as_tensor(owners, device=device)
        scale = self.accelerator.unwrap_model(self.model_train).logit_scale.exp().float()

        seg_label = label[owner]
        if "segment_labels" in batch:
            flat = [v for row in batch["segment_labels"] for v in row]
            if len(flat) != len(segments):
                raise LongbenchError(f"denscore: the pairs label {len(flat)} segments but the {d.splitter} splitter "
                                     f"cut their captions into {len(segments)}")
            seg_label = torch.tensor(flat, device=device, dtype=torch.float32)
        counts = torch.bincount(owner, minlength=bsz).float()
        c = F.prompt_vectors(seg, owner, bsz)
        direction = F.mean_direction(c.detach()).to(c) if d.relevant_weight else None

        def level_losses(t: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """Segment-level (per prompt) and prompt-level pair losses of segment vectors ``t`` and prompt vectors
            ``p`` (the originals, or their text-relevant parts)."""
            ce = pair_cross_entropy(scale * (t * x0[owner]).sum(-1), scale * (t * x1[owner]).sum(-1), seg_label)
            per_prompt = torch.zeros(bsz, device=device).index_add(0, owner, ce) / counts
            return per_prompt.mean(), pair_cross_entropy(scale * (p * x0).sum(-1), scale * (p * x1).sum(-1),
                                                         label).mean()

        seg_loss, prompt_loss = level_losses(seg, c)
        if direction is not None:  # c⊥ is the mean of the segments' s⊥ = s − (s·V)V (the projection is linear)
            rel_seg, rel_prompt = level_losses(F.text_relevant(seg, direction), F.text_relevant(c, direction))
            r = d.relevant_weight
            seg_loss, prompt_loss = (1 - r) * seg_loss + r * rel_seg, (1 - r) * prompt_loss + r * rel_prompt
        p0, p1 = (c * x0).sum(-1), (c * x1).sum(-1)
        loss = d.segment_weight * seg_loss + (1.0 - d.segment_weight) * prompt_loss
        decided = label != 0.5
        correct = ((p1 > p0).float() == label)[decided].float()
        return loss, {"segment_loss": float(seg_loss.detach()), "prompt_loss": float(prompt_loss.detach()),
                      "accuracy": float(correct.mean()) if decided.any() else float("nan")}

    def save_checkpoint(self, target: Path, step: int) -> None:
        import longbench
        from longalign.config import config_to_dict
        from longbench.fileio import atomic_dir

        model = self.accelerator.unwrap_model(self.model_train)
        with atomic_dir(target) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            self.scorer.tokenizer.save_pretrained(str(tmp))
            if self.scorer.image_processor is not None:
                self.scorer.image_processor.save_pretrained(str(tmp))
            manifest = {"format": MANIFEST_FORMAT, "format_version": 1, "stage": self.name, "step": step,
                        "init": self.cfg.scorer.init, "processor": self.cfg.scorer.processor or self.cfg.scorer.init,
                        "splitter": self.cfg.denscore.splitter, "data": self.describe_data(),
                        "config": config_to_dict(self.cfg), "longbench_version": longbench.__version__}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
