"""``clip``: train a transformers ``CLIPModel`` contrastively on image-caption pairs.

Built for the miniature world (``data.format: mini`` with ``data.mini_captions: sentences+prompt``:
each image against each of its fact sentences and its whole prompt), but any pair dataset of the
``data`` section works. The model is fresh (architecture in the ``clip`` section, weights drawn from
``train.seed``) or continues from ``clip.init``. Loss: CLIP's symmetric in-batch cross-entropy with a
learned temperature (``CLIPModel(return_loss=True)``), plus ``clip.word_loss`` times the same loss on the
projected mean of each text's word states (:func:`word_vectors`). Images: ``data.resolution`` pixels, resized to
``clip.image_size`` (bicubic, antialiased) when they differ, CLIP-normalised — the preprocessing the
saved image processor applies at evaluation.

Tokenizer (``clip.tokenizer``): ``mini`` — the world's compact CLIP BPE (``longbench.mini.tokenizer``:
same token positions as SD's tokenizer, ~1,300 entries instead of 49,408); ``clip`` — the full CLIP
tokenizer; or a tokenizer directory.

The checkpoint is a transformers model directory (safetensors, tokenizer, ``CLIPImageProcessor``) plus
``manifest.json`` (format ``longalign-clip``): the learned metrics load it as a CLIP model
(``--metric-arg model=DIR``), ``denscore`` starts from it (``scorer.init``) and the ``base`` stage takes
its text tower as the text encoder of a pipeline. On save, the model is checked on ``clip.eval_items``
held-out items (seed ``clip.eval_seed``): image→prompt top-1 retrieval accuracy with the Denscore
prompt vector (mean of normalised sentence vectors) and with the truncated whole prompt (chance
1 / ``clip.eval_items``), and twin accuracy: how often a fact sentence scores its render above the render with
one of its facts broken, by the end-token vector (``twin_accuracy``) and by the word vector
(``twin_accuracy_words``); chance 0.5.
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

MANIFEST_FORMAT = "longalign-clip"
TOKENIZER_CHOICES = ("mini", "clip")
POSITION_INITS = ("normal", "sincos")
#: scale of the 2D sin-cos table (entries in [-1, 1]): rows of norm ~0.2 * sqrt(width / 2), about the size of a
#: fresh patch embedding's output, so position and content enter the first layer norm at comparable sizes
SINCOS_SCALE = 0.2


@dataclass
class ClipSection:
    #: CLIPModel directory to continue from; empty: a fresh model of the architecture below
    init: str = path_field()
    #: mini | clip | a tokenizer directory (fresh models only; a continued model keeps its own)
    tokenizer: str = "mini"
    image_size: int = 32
    patch_size: int = 4
    text_width: int = 128
    text_layers: int = 4
    text_heads: int = 4
    vision_width: int = 128
    vision_layers: int = 4
    vision_heads: int = 4
    projection_dim: int = 128
    #: initial vision position embeddings: ``normal`` (transformers' N(0, 0.02²): ~7x smaller than the patch
    #: embeddings, and a 4-layer tower then learns where an object is only slowly) or ``sincos`` (a fixed 2D
    #: sin-cos table over the patch grid, MAE-style, still trained); docs/mini.md
    position_init: str = "normal"
    #: weight of the word-state loss: the same contrastive loss on the projected mean of each text's word
    #: states (last layer, start/end/padding excluded). CLIP's own loss reads only the end token, so without it
    #: the word states a segment-merged prompt keeps are trained only through attention (docs/mini.md)
    word_loss: float = 0.0
    #: held-out miniature items checked at every save (0: no check); their seed (never a training seed)
    eval_items: int = 64
    eval_seed: int = 7

    def check(self) -> None:
        for key in ("image_size", "patch_size", "text_width", "text_layers", "text_heads", "vision_width",
                    "vision_layers", "vision_heads", "projection_dim"):
            check_range(getattr(self, key), f"clip.{key}", 1)
        require(self.image_size % self.patch_size == 0, f"clip.image_size={self.image_size} must be a multiple of "
                f"clip.patch_size={self.patch_size}")
        require(self.text_width % self.text_heads == 0, "clip.text_width must be a multiple of clip.text_heads")
        require(self.vision_width % self.vision_heads == 0, "clip.vision_width must be a multiple of "
                "clip.vision_heads")
        require_choice(self.position_init, "clip.position_init", POSITION_INITS)
        require(self.position_init != "sincos" or self.vision_width % 4 == 0, f"clip.vision_width={self.vision_width}: "
                "clip.position_init=sincos needs a multiple of 4 (sines and cosines of rows and of columns)")
        require(bool(self.tokenizer), "clip.tokenizer is required: mini, clip or a tokenizer directory")
        check_range(self.word_loss, "clip.word_loss", 0.0, why="0: CLIP's end-token loss only")
        check_range(self.eval_items, "clip.eval_items", 0, why="0: no check")
        check_mini_seed(self.eval_seed, "clip.eval_seed")


@dataclass
class ClipConfig(StageConfig):
    clip: ClipSection = field(default_factory=ClipSection)
    data: DataSection = field(default_factory=lambda: DataSection(format="mini", resolution=32,
                                                                  mini_captions="sentences+prompt"))
    optim: OptimSection = field(default_factory=lambda: OptimSection(learning_rate=5e-4, max_grad_norm=1.0,
                                                                     weight_decay=0.1, warmup_steps=200))
    train: TrainSection = field(default_factory=lambda: TrainSection(batch_size=64, max_steps=3500))

    resumable_changes: ClassVar[tuple[str, ...]] = (*StageConfig.resumable_changes, "data.num_workers")

    def check(self) -> None:
        super().check()
        self.clip.check()
        self.data.check()
        require(self.data.mini_seed != self.clip.eval_seed or self.data.format != "mini",
                f"clip.eval_seed={self.clip.eval_seed} equals data.mini_seed: the check would score training items")


def fresh_clip(section: ClipSection, tokenizer: Any) -> Any:
    """A randomly initialised ``CLIPModel`` of the configured architecture for ``tokenizer``."""
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig

    s = section
    text = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=s.text_width, intermediate_size=4 * s.text_width,
                          num_hidden_layers=s.text_layers, num_attention_heads=s.text_heads,
                          max_position_embeddings=int(tokenizer.model_max_length),
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, projection_dim=s.projection_dim)
    vision = CLIPVisionConfig(hidden_size=s.vision_width, intermediate_size=4 * s.vision_width,
                              num_hidden_layers=s.vision_layers, num_attention_heads=s.vision_heads,
                              image_size=s.image_size, patch_size=s.patch_size, projection_dim=s.projection_dim)
    cfg = CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=s.projection_dim)
    model = CLIPModel(cfg)
    if s.position_init == "sincos":
        import torch

        table = model.vision_model.embeddings.position_embedding.weight
        with torch.no_grad():
            table[0] = 0.0  # the class token's row: no place
            table[1:] = SINCOS_SCALE * sincos_2d(s.image_size // s.patch_size, s.vision_width)
    return model


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """(grid², dim) table of a row-major patch grid: half the channels encode the row, half the column, each as
    sines and cosines at ``dim // 4`` frequencies from 1 to 1/10000 (MAE's fixed 2D embedding, diffusers' code;
    its ``get_2d_sincos_pos_embed`` would put the column first and rescale positions to a 16-patch base)."""
    import torch
    from diffusers.models.embeddings import get_2d_sincos_pos_embed_from_grid

    pos = torch.arange(grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(pos, pos, indexing="ij")
    return get_2d_sincos_pos_embed_from_grid(dim, torch.stack([rows.flatten(), cols.flatten()])).float()


def word_vectors(model: Any, hidden: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
                 ) -> torch.Tensor:
    """Unit vectors of ``clip.word_loss``: the text projection of the mean of each row's word states.

    ``hidden`` is the text tower's last hidden state (after its final layer norm); word positions are the
    attended ones that hold neither the start nor the end token.
    """
    import torch.nn.functional as F

    cfg = model.config.text_config
    words = attention_mask.bool() & (input_ids != cfg.bos_token_id) & (input_ids != cfg.eos_token_id)
    w = words.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * w).sum(1) / w.sum(1).clamp(min=1.0)
    return F.normalize(model.text_projection(mean), dim=-1)


def image_processor_for(image_size: int) -> Any:
    """The standard CLIP image processor at ``image_size`` (resize shortest edge, centre crop, normalise)."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})


def load_tokenizer(spec: str, workdir: Path) -> Any:
    """``mini`` (built into ``workdir``), ``clip`` (the full CLIP BPE) or a tokenizer directory."""
    from transformers import CLIPTokenizer

    if spec == "mini":
        from longbench.mini.tokenizer import build_mini_tokenizer

        return CLIPTokenizer.from_pretrained(str(build_mini_tokenizer(workdir)))
    if spec == "clip":
        from longbench.text.tokenizer import load_clip_tokenizer

        return load_clip_tokenizer()
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise LongbenchError(f"clip.tokenizer={spec!r}: expected mini, clip or a tokenizer directory")
    try:
        return CLIPTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise LongbenchError(f"clip.tokenizer={spec!r}: cannot load a CLIP tokenizer ({str(e).splitlines()[0]})") \
            from None


class ClipStage(CaptionDataStage):
    name: ClassVar[str] = "clip"
    config_class: ClassVar[type] = ClipConfig

    def setup(self) -> None:
        import tempfile

        from longalign.data.captions import build_dataset

        cfg = self.cfg
        self._data = build_dataset(cfg.data)
        c = cfg.clip
        if c.init:
            from longbench.metrics.clip_models import load_clip_scorer

            scorer = load_clip_scorer(c.init, device="cpu", dtype="float32", what="clip.init")
            if scorer.kind != "transformers" or getattr(scorer.model.config, "model_type", "") != "clip":
                raise LongbenchError(f"clip.init={c.init!r}: expected a transformers CLIPModel directory")
            self.model, self.tokenizer = scorer.model, scorer.tokenizer
            self.model.requires_grad_(True)  # the scorer loader freezes what it loads
            self.image_processor = scorer.image_processor or image_processor_for(scorer.image_size)
            self.image_size = scorer.image_size
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="longalign-clip-tokenizer-")
            self.tokenizer = load_tokenizer(c.tokenizer, Path(self._tmp.name))
            self.model = fresh_clip(c, self.tokenizer)
            self.image_size = c.image_size
            self.image_processor = image_processor_for(c.image_size)
        self.mean = list(self.image_processor.image_mean)
        self.std = list(self.image_processor.image_std)
        self.model.to(self.accelerator.device).train()
        self.model_train = self.model
        self.eval_items = None
        if c.eval_items:
            from longalign.data.mini import eval_items

            self.eval_items = eval_items(c.eval_items, c.eval_seed, cfg.data.mini_layout)

    # -------------------------------------------------------------------------------------- loop
    def trainable_modules(self) -> list[nn.Module]:
        return [self.model]

    def set_prepared(self, modules: list[nn.Module]) -> None:
        super().set_prepared(modules)
        self.model_train = modules[0]

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images → the model's normalised input (what the saved image processor does)."""
        from torchvision.transforms.v2 import functional as tvf

        x = (images.float() + 1.0) / 2.0
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = tvf.resize(x, self.image_size, interpolation=tvf.InterpolationMode.BICUBIC, antialias=True)
            x = tvf.center_crop(x, [self.image_size, self.image_size])
        return tvf.normalize(x, self.mean, self.std)

    def tokens(self, texts: list[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(texts, padding="longest", truncation=True, max_length=int(self.tokenizer.model_max_length),
                             return_tensors="pt")
        return {"input_ids": enc.input_ids.to(self.accelerator.device),
                "attention_mask": enc.attention_mask.to(self.accelerator.device)}

    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        import torch
        import torch.nn.functional as F

        images = batch["pixel_values"]
        n = len(images)
        if "twin_pixel_values" in batch:  # hard negatives: scored against every text, the positive of none
            images = torch.cat([images, batch["twin_pixel_values"]])
        pixels = self.pixels(images).to(self.accelerator.device)
        tokens = self.tokens(list(batch["caption"]))
        out = self.model_train(pixel_values=pixels, **tokens)
        target = torch.arange(n, device=pixels.device)

        def contrastive(logits: torch.Tensor) -> torch.Tensor:
            """CLIP's symmetric loss over (texts, images) logits; the twins enlarge only the text→image softmax."""
            return (F.cross_entropy(logits, target) + F.cross_entropy(logits[:, :n].T, target)) / 2

        logits = out.logits_per_text  # (texts, images): text i's image is image i
        loss = contrastive(logits)
        stats: dict[str, float] = {}
        if self.cfg.clip.word_loss > 0:
            model = self.accelerator.unwrap_model(self.model_train)
            words = word_vectors(model, out.text_model_output.last_hidden_state, tokens["input_ids"],
                                 tokens["attention_mask"])
            word_loss = contrastive(model.logit_scale.exp() * words @ out.image_embeds.T)
            loss = loss + self.cfg.clip.word_loss * word_loss
            stats["word_loss"] = float(word_loss.detach())
        with torch.no_grad():
            stats["batch_accuracy"] = float((logits[:, :n].T.argmax(dim=1) == target).float().mean())
            if len(images) > n:
                stats["twin_accuracy"] = float((logits[target, target] > logits[target, target + n]).float().mean())
        return loss, stats

    # -------------------------------------------------------------------------------------- checkpoint
    @staticmethod
    def _features(out: Any) -> torch.Tensor:
        from longbench.metrics.clip_models import _features

        return _features(out)

    def evaluate(self, model: Any) -> dict[str, float]:
        """Top-1 image→prompt retrieval on the held-out items (module docstring)."""
        import torch

        from longalign.data.mini import render_scenes, renders, twin_scene
        from longbench.metrics.functional import denscore as F

        items = self.eval_items
        # every fact-stating sentence against its item's render and that render with one of its facts broken
        stating = [(i, s) for i, it in enumerate(items) for s in sorted({f.sentence for f in it.facts})]
        twins = [twin_scene(items[i], s, seed=k) for k, (i, s) in enumerate(stating)]
        first = [0]
        for it in items[:-1]:
            first.append(first[-1] + len(it.segments))

        def image_vectors(pixels: torch.Tensor) -> torch.Tensor:
            return F.l2_normalize(self._features(model.get_image_features(
                pixel_values=self.pixels(pixels).to(self.accelerator.device))).float())

        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                img = image_vectors(renders(items))
                twin = image_vectors(render_scenes(twins, [i for i, _ in stating]))
                sentences = [s for it in items for s in it.segments]
                owner = torch.as_tensor([i for i, it in enumerate(items) for _ in it.segments], device=img.device)
                tokens = self.tokens(sentences)
                text = model.text_model(**tokens)  # one pass: end-token and word vectors of every sentence
                seg = F.l2_normalize(model.text_projection(text.pooler_output).float())
                words = word_vectors(model, text.last_hidden_state, tokens["input_ids"], tokens["attention_mask"])
                rows = [first[i] + s for i, s in stating]
                stated, stated_words = seg[rows], words[rows].float()
                prompt_vec = F.prompt_vectors(seg, owner, len(items))
                whole = F.l2_normalize(self._features(model.get_text_features(
                    **self.tokens([it.prompt for it in items]))).float())
        finally:
            model.train(was_training)
        target = torch.arange(len(items), device=img.device)
        owner_of = torch.as_tensor([i for i, _ in stating], device=img.device)
        true_sim = (stated * img[owner_of]).sum(-1)
        return {"retrieval_top1_segments": float(((img @ prompt_vec.T).argmax(1) == target).float().mean()),
                "retrieval_top1_prompt": float(((img @ whole.T).argmax(1) == target).float().mean()),
                "chance": 1.0 / len(items), "n": len(items),
                "twin_accuracy": float((true_sim > (stated * twin).sum(-1)).float().mean()),
                "twin_accuracy_words": float(((stated_words * img[owner_of]).sum(-1)
                                              > (stated_words * twin).sum(-1)).float().mean()),
                "twin_n": len(stating)}

    def save_checkpoint(self, target: Path, step: int) -> None:
        import longbench
        from longalign.config import config_to_dict
        from longbench.fileio import atomic_dir
        from longbench.mini.tokenizer import write_vocab_files

        model = self.accelerator.unwrap_model(self.model_train)
        check = self.evaluate(model) if self.eval_items else None
        if check is not None:
            logger.info("clip step %d: held-out retrieval %s", step, check)
        with atomic_dir(target) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            self.tokenizer.save_pretrained(str(tmp))
            write_vocab_files(self.tokenizer, tmp)  # loadable by the slow CLIPTokenizer of transformers 4 too
            self.image_processor.save_pretrained(str(tmp))
            manifest = {"format": MANIFEST_FORMAT, "format_version": 1, "stage": self.name, "step": step,
                        "init": self.cfg.clip.init or None, "data": self.describe_data(),
                        "parameters": sum(p.numel() for p in model.parameters()), "eval": check,
                        "config": config_to_dict(self.cfg), "longbench_version": longbench.__version__}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
