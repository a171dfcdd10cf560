"""Feature extractors behind ``fid`` and ``fid-clip``, loaded offline, each describing its protocol.

* :class:`InceptionFeatures` — the pytorch-fid / torch-fidelity Inception-v3 (TF-ported weights
  ``weights-inception-2015-12-05-6726825d.pth``), 2048-d pool features, through torchmetrics'
  ``NoTrainInceptionV3`` (a thin eval-only wrapper of torch-fidelity's ``FeatureExtractorInceptionV3``).
  Default resize: torch-fidelity's TF1-compatible bilinear resize to 299 without antialias, on uint8 input.
* :class:`OpenClipFeatures` — an open_clip image tower (``encode_image``), with open_clip's own evaluation
  transform (resize, centre crop, normalise) applied to each uint8 RGB image.
* :class:`ClipScorerFeatures` — the image tower of a transformers CLIP loaded by
  :func:`~longbench.metrics.clip_models.load_clip_scorer` (the miniature zoo's ``mini:clip``), with the model's
  own image processor (resize shortest side, centre crop, normalise; :meth:`ClipScorer.standard_pixels`).

Both take a list of uint8 (3, H, W) tensors and return float64 (B, d) features.
"""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from longbench.errors import LongbenchError, MissingWeightsError

logger = logging.getLogger(__name__)

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                         + INCEPTION_WEIGHTS_FILE)
INCEPTION_SIZE = 299
#: resize option → whether torchmetrics' NoTrainInceptionV3 antialiases
INCEPTION_RESIZES = {
    "tf1-bilinear": False,  # torch-fidelity / pytorch-fid (TF1 graph) compatible, the default
    "bilinear-antialias": True,  # torchmetrics FrechetInceptionDistance's default
}
DEFAULT_OPEN_CLIP_TAG = "openai"
OPEN_CLIP_WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------------- Inception
def hub_inception_path() -> Path:
    """Where torch-fidelity and torchmetrics keep the Inception weights (``torch.hub.get_dir()/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def resolve_inception_weights(weights: str | Path | None = None) -> Path:
    """The Inception weights file: ``weights`` (a file, or a directory holding it) or the torch hub cache.

    Raises:
        MissingWeightsError: the file is not there (nothing is downloaded).
    """
    how = (f"download {INCEPTION_WEIGHTS_URL} on a machine with network and put it in {hub_inception_path().parent}, "
           "or pass weights=PATH")
    if weights is not None and str(weights) != "":
        p = Path(weights).expanduser()
        if p.is_dir():
            p = p / INCEPTION_WEIGHTS_FILE
        if p.is_file():
            return p
        raise MissingWeightsError(f"FID Inception weights not found at {p}; {how}")
    p = hub_inception_path()
    if p.is_file():
        return p
    raise MissingWeightsError(f"FID Inception weights {INCEPTION_WEIGHTS_FILE} not found in the torch hub cache "
                              f"{p.parent}; {how}")


def build_inception(state_dict: dict[str, torch.Tensor], *, antialias: bool = False,
                    weights: str | Path = "state dict") -> nn.Module:
    """torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's network) with ``state_dict`` loaded strictly.

    torch-fidelity's constructor only reads weights from a file, and without ``weights_only``; it is handed
    an in-memory copy of a state dict that was already loaded with ``weights_only=True`` (plain tensors),
    so nothing from the user's file is unpickled unsafely. The constructor's own ``load_state_dict`` call is
    routed through :func:`longbench.weights.checked_load`, so a partial file is a one-line error
    naming ``weights`` and the missing/unexpected keys.

    Raises:
        LongbenchError: the state dict does not fill the network exactly.
    """
    from torchmetrics.image.fid import NoTrainInceptionV3

    from longbench.weights import checked_load

    class _StrictInception(NoTrainInceptionV3):
        def load_state_dict(self, sd: Any, strict: bool = True, assign: bool = False) -> Any:
            parent = super().load_state_dict
            return checked_load(lambda: parent(sd, strict=False, assign=assign), what="fid Inception weights",
                                weights=weights)

    buf = io.BytesIO()
    torch.save({k: v for k, v in state_dict.items()}, buf)
    buf.seek(0)
    return _StrictInception(name="inception-v3-compat", features_list=["2048"],
                            feature_extractor_weights_path=buf, antialias=antialias)


class InceptionFeatures(nn.Module):
    """2048-d Inception-v3 pool features of uint8 RGB images (the FID network).

    Args:
        weights: the weights file (or a directory holding it); default: the torch hub cache.
        resize: ``"tf1-bilinear"`` (default, torch-fidelity / pytorch-fid compatible) or
            ``"bilinear-antialias"`` (torchmetrics' default).
        channels_last: network and input in channels-last memory (on a CPU ~1.5x faster in our measurement;
            other convolution kernels, so features differ at float rounding and the protocol records it).
    """

    feature_dim = 2048

    def __init__(self, weights: str | Path | None = None, resize: str = "tf1-bilinear", channels_last: bool = False):
        super().__init__()
        if resize not in INCEPTION_RESIZES:
            raise LongbenchError(f"fid: unknown resize {resize!r} (choose from {', '.join(INCEPTION_RESIZES)})")
        from longbench.weights import file_sha256

        path = resolve_inception_weights(weights)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as e:  # corrupt or foreign
            raise LongbenchError(f"fid: cannot read Inception weights {path} ({type(e).__name__}: {e})") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise LongbenchError(f"fid: {path} is not a state dict of tensors")
        try:  # strict: missing, unexpected or mismatched keys are a LongbenchError naming them
            self.net = build_inception(state, antialias=INCEPTION_RESIZES[resize], weights=path)
        except RuntimeError as e:  # anything else torch refuses
            first = str(e).splitlines()[0]
            raise LongbenchError(f"fid: {path} does not hold FID Inception weights ({first})") from None
        del state
        self.resize = resize
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.weights_path = path
        self.weights_sha256 = file_sha256(path)

    @torch.inference_mode()
    def forward(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Features (B, 2048) float64 of uint8 (3, H, W) images (an ``ImageBatch`` or a list), batched by size
        and moved to the network's device as uint8; the network resizes them there (torch, batched)."""
        device = next(self.net.parameters()).device
        out = torch.empty(len(images), self.feature_dim, dtype=torch.float64, device=device)
        for idx, batch in _same_size_batches(images):
            batch = batch.to(device).contiguous(memory_format=self.memory_format)
            out[idx] = self.net(batch).to(torch.float64)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "network": "inception-v3-compat (torch-fidelity FeatureExtractorInceptionV3 via torchmetrics "
                       "NoTrainInceptionV3), pool3 features",
            "feature_dim": self.feature_dim,
            "weights_file": INCEPTION_WEIGHTS_FILE if self.weights_path.name == INCEPTION_WEIGHTS_FILE
            else self.weights_path.name,
            "weights_sha256": self.weights_sha256,
            "input": "RGB uint8 (float images: clip to [0,1], round(x*255))",
            "resize": self.resize,
            "resize_antialias": INCEPTION_RESIZES[self.resize],
            "image_size": INCEPTION_SIZE,
            "network_dtype": "float32",
            "torch_fidelity": _version("torch-fidelity"),
            # recorded only when on: the default protocol (and the reference caches keyed by it) stay as they were
            **({"memory_format": "channels_last"} if self.memory_format == torch.channels_last else {}),
        }


def inception_weights_status() -> list[dict[str, Any]]:
    """For ``longbench doctor``."""
    p = hub_inception_path()
    return [{"spec": INCEPTION_WEIGHTS_FILE, "available": p.is_file(), "where": str(p)}]


# ---------------------------------------------------------------------- open_clip
def resolve_open_clip(model: str, pretrained: str | None) -> dict[str, Any]:
    """Where an open_clip model's config and weights are, offline.

    ``model`` is a built-in architecture (``ViT-B-32``), ``local-dir:DIR`` or a directory with
    ``open_clip_config.json`` (config + weights in the directory), or ``hf-hub:ORG/REPO`` (taken from the
    Hugging Face cache). ``pretrained`` (built-in architectures only) is a checkpoint file or an open_clip tag
    (``openai``, ``laion2b_s34b_b79k``...) whose file must already be in the Hugging Face or open_clip cache;
    default ``openai``.

    Returns:
        ``{"kind": "dir", "dir": Path}`` or ``{"kind": "arch", "arch", "checkpoint": Path, "tag_cfg": dict|None}``.

    Raises:
        MissingWeightsError: weights not available offline. LongbenchError: unknown architecture or tag.
    """
    import open_clip

    from longbench.weights import resolve

    local = Path(model.removeprefix("local-dir:")).expanduser()
    is_dir = model.startswith("local-dir:") or (local.is_dir() and (local / "open_clip_config.json").is_file())
    if (is_dir or model.startswith("hf-hub:")) and pretrained:
        raise LongbenchError(f"fid-clip: model {model!r} carries its own weights; pretrained= is only for built-in "
                             "architectures")
    if model.startswith("hf-hub:"):
        return {"kind": "dir", "dir": resolve(model.removeprefix("hf-hub:"), what="fid-clip open_clip model")}
    if is_dir:
        if not (local / "open_clip_config.json").is_file():
            raise MissingWeightsError(f"fid-clip model {model!r}: no open_clip_config.json in {local}")
        return {"kind": "dir", "dir": local}
    arch = model.replace("/", "-")
    if arch not in open_clip.list_models():
        raise LongbenchError(f"fid-clip: unknown open_clip model {model!r} (a built-in architecture such as "
                             "ViT-B-32, local-dir:DIR or hf-hub:ORG/REPO)")
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if not pretrained:
        if DEFAULT_OPEN_CLIP_TAG not in tags:
            raise LongbenchError(f"fid-clip: model {arch!r} needs pretrained=PATH or an open_clip tag "
                                 f"(tags: {', '.join(tags) or 'none'})")
        pretrained = DEFAULT_OPEN_CLIP_TAG
    p = Path(pretrained).expanduser()
    if p.is_file():
        return {"kind": "arch", "arch": arch, "checkpoint": p, "tag_cfg": None, "pretrained": str(p)}
    cfg = open_clip.get_pretrained_cfg(arch, pretrained)
    if not cfg:
        raise LongbenchError(f"fid-clip: pretrained {pretrained!r} is neither a file nor an open_clip tag of {arch} "
                             f"(tags: {', '.join(open_clip.list_pretrained_tags_by_model(arch)) or 'none'})")
    looked = []
    hub = cfg.get("hf_hub") or ""
    if hub:
        repo, filename = hub.rstrip("/"), None
        if not hub.endswith("/"):
            repo, filename = hub.rsplit("/", 1)
        for name in ([filename] if filename else list(OPEN_CLIP_WEIGHT_NAMES)):
            try:
                return {"kind": "arch", "arch": arch, "checkpoint": resolve(repo, filename=name), "tag_cfg": cfg,
                        "pretrained": pretrained}
            except MissingWeightsError:
                looked.append(f"HF cache {repo}/{name}")
    url = cfg.get("url") or ""
    if url:
        cached = Path("~/.cache/clip").expanduser() / url.rsplit("/", 1)[-1]
        if cached.is_file():
            return {"kind": "arch", "arch": arch, "checkpoint": cached, "tag_cfg": cfg, "pretrained": pretrained}
        looked.append(str(cached))
    raise MissingWeightsError(
        f"fid-clip weights open_clip {arch}/{pretrained} not found offline (looked in {'; '.join(looked)}); on a "
        f"machine with network run `python -c \"import open_clip; open_clip.create_model('{arch}', "
        f"pretrained='{pretrained}')\"` and copy the cache here, or pass pretrained=PATH")


class OpenClipFeatures(nn.Module):
    """open_clip image-tower features (``encode_image``) of uint8 RGB images, float64 (B, d).

    Args:
        model: see :func:`resolve_open_clip`.
        pretrained: checkpoint file or tag for built-in architectures (default ``openai``).
        normalize: L2-normalise the embeddings (default: raw embeddings, as clean-fid's CLIP features).
    """

    def __init__(self, model: str = "ViT-B-32", pretrained: str | None = None, normalize: bool = False):
        super().__init__()
        import open_clip
        from open_clip.transform import PreprocessCfg, image_transform_v2

        from longbench.metrics.clip_models import open_clip_strict
        from longbench.weights import file_sha256

        where = resolve_open_clip(model, pretrained)
        identity: dict[str, Any] = {"model": model}
        # strict: a checkpoint with missing or extra tensors is an error naming them, never random weights
        if where["kind"] == "dir":
            net = open_clip_strict(f"local-dir:{where['dir']}", dir_checkpoint(where["dir"]), what="fid-clip model")
            identity["weights_sha256"] = _dir_sha256(where["dir"])
        else:
            tag_cfg = where["tag_cfg"] or {}
            net = open_clip_strict(
                where["arch"], where["checkpoint"], what="fid-clip model",
                force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                force_preprocess_cfg={k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode")
                                      if k in tag_cfg})
            identity.update(pretrained=where["pretrained"], weights_file=where["checkpoint"].name,
                            weights_sha256=file_sha256(where["checkpoint"]))
        self.net = net.eval().requires_grad_(False)
        cfg = open_clip.get_model_preprocess_cfg(self.net)
        self.preprocess_cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
        self.transform = image_transform_v2(PreprocessCfg(**cfg), is_train=False)
        self.normalize = bool(normalize)
        self.identity = identity
        size = cfg.get("size", 224)
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        with torch.no_grad():
            self.feature_dim = int(self.net.encode_image(torch.zeros(1, 3, *size)).shape[-1])

    @torch.inference_mode()
    def forward(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        from PIL import Image

        device = next(self.net.parameters()).device
        pixels = torch.stack([self.transform(Image.fromarray(img.permute(1, 2, 0).cpu().numpy()))
                              for img in images])
        feats = self.net.encode_image(pixels.to(device), normalize=self.normalize)
        return feats.to(torch.float64)

    def describe(self) -> dict[str, Any]:
        return {
            "network": "open_clip image tower (encode_image)",
            **self.identity,
            "feature_dim": self.feature_dim,
            "features": "L2-normalised embeddings" if self.normalize else "unnormalised embeddings",
            "input": "RGB uint8 (float images: clip to [0,1], round(x*255)) → PIL",
            "preprocess": {"transform": "open_clip image_transform_v2 (eval)", **self.preprocess_cfg},
            "network_dtype": "float32",
            "open_clip": _version("open_clip_torch"),
        }


class ClipScorerFeatures(nn.Module):
    """Image-tower features (``get_image_features``) of a transformers CLIP model, float64 (B, d).

    Args:
        model: a ``mini:`` zoo spec (``mini:clip``) or anything :func:`~longbench.metrics.clip_models.
            load_clip_scorer` loads as a transformers model.
        normalize: L2-normalise the embeddings (default: raw embeddings).
        zoo: the zoo directory of a ``mini:`` spec (default: the shipped weights).
    """

    def __init__(self, model: str, normalize: bool = False, zoo: str | None = None):
        super().__init__()
        from longbench.metrics.clip_models import load_clip_scorer

        self.scorer = load_clip_scorer(model, device="cpu", what="fid-clip model", zoo=zoo)
        if self.scorer.kind != "transformers":
            raise LongbenchError(f"fid-clip: {model!r} is not a transformers CLIP model")
        self.normalize = bool(normalize)
        with torch.no_grad():
            side = self.scorer.image_size
            self.feature_dim = int(self.scorer.image_features(torch.zeros(1, 3, side, side)).shape[-1])

    @torch.inference_mode()
    def forward(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        feats = self.scorer.image_features(self.scorer.standard_pixels(images)).float()
        if self.normalize:
            feats = feats / feats.norm(dim=-1, keepdim=True)
        return feats.to(torch.float64)

    def describe(self) -> dict[str, Any]:
        return {
            "network": "transformers CLIP image tower (get_image_features)",
            **self.scorer.describe(),
            "feature_dim": self.feature_dim,
            "features": "L2-normalised embeddings" if self.normalize else "unnormalised embeddings",
            "input": "RGB uint8 (float images: clip to [0,1], round(x*255))",
            "preprocess": "the model's image processor: resize shortest side (antialiased), centre crop, normalise",
            "network_dtype": "float32",
        }


def open_clip_weights_status(model: str, pretrained: str | None) -> list[dict[str, Any]]:
    """For ``longbench doctor``."""
    spec = f"open_clip {model} / {pretrained or DEFAULT_OPEN_CLIP_TAG}"
    try:
        where = resolve_open_clip(model, pretrained)
    except MissingWeightsError:
        return [{"spec": spec, "available": False, "where": "not in the HF cache or ~/.cache/clip"}]
    except LongbenchError as e:
        return [{"spec": spec, "available": False, "where": str(e)}]
    return [{"spec": spec, "available": True, "where": str(where.get("checkpoint", where.get("dir")))}]


# ---------------------------------------------------------------------- helpers
#: weight files of an open_clip model directory, in the order open_clip itself prefers them
DIR_WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                    "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth", "model.safetensors",
                    "pytorch_model.bin", "pytorch_model.pth", "model.pth")


def dir_checkpoint(directory: Path) -> Path:
    """The weights file of an open_clip model directory.

    Raises:
        MissingWeightsError: none of the known weight file names is there.
    """
    for name in DIR_WEIGHT_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise MissingWeightsError(f"fid-clip model {directory}: no weights file ({', '.join(DIR_WEIGHT_NAMES[:3])}, ...)")


def _dir_sha256(directory: Path) -> str:
    """Content hash of an open_clip model directory: its config and weight files."""
    import hashlib

    from longbench.weights import file_sha256

    h = hashlib.sha256()
    for p in sorted(directory.iterdir()):
        if p.is_file() and (p.name == "open_clip_config.json" or p.suffix in (".safetensors", ".bin", ".pth", ".pt")):
            h.update(f"{p.name}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


def _same_size_batches(images: Sequence[torch.Tensor]) -> list[tuple[list[int], torch.Tensor]]:
    """Group uint8 (3, H, W) images by size into (B, 3, H, W) stacks: ``[(indices, batch), ...]``."""
    from longbench.images import group_by_size

    return group_by_size(images)
