"""Model adapters: ``generate(requests) -> images``.

A spec is ``kind:arg`` (``diffusers:DIR``, ``images:DIR``, ``synth:oracle`` ...). ``kind`` is looked up in
the model registry; the adapter class receives ``arg`` and the ``--model-arg`` key/values, and declares
which keys it accepts so a typo is an error rather than a silently ignored option.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.errors import LongbenchError
from longbench.registry import MODELS

if TYPE_CHECKING:
    from PIL import Image

    from longbench.suites.base import Item


@dataclass(frozen=True)
class Request:
    """One image to make: the suite item (prompt and annotations) and its seed."""

    item: Item
    seed: int

    @property
    def item_id(self) -> str:
        return self.item.id

    @property
    def prompt(self) -> str:
        return self.item.prompt

    def content_hash(self) -> str:
        """Hash of what a model may read from the item (prompt, annotations), for the image cache key."""
        from longbench.suites.base import canonical_json

        blob = canonical_json({k: v for k, v in self.item.to_dict().items() if k != "id"})
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def request_seed(global_seed: int, suite_name: str, item_id: str) -> int:
    """Per-item seed from (global seed, suite, item id): independent of order, batch and --limit."""
    digest = hashlib.sha256(f"{global_seed}\x00{suite_name}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class Model(ABC):
    """Base class of model adapters."""

    kind: ClassVar[str] = ""
    #: accepted --model-arg keys → converter (e.g. int, float, str)
    arg_types: ClassVar[dict[str, Any]] = {}
    #: whether generated images should be cached on disk (False for adapters that read files)
    cache_images: ClassVar[bool] = True

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        self.arg = arg
        self.args = self.parse_args(args or {})

    @classmethod
    def parse_args(cls, raw: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in raw.items():
            if k not in cls.arg_types:
                known = ", ".join(sorted(cls.arg_types)) or "none"
                raise LongbenchError(f"model {cls.kind!r} does not accept --model-arg {k!r} (accepted: {known})")
            try:
                out[k] = cls.arg_types[k](v) if isinstance(v, str) else v
            except (TypeError, ValueError) as e:
                raise LongbenchError(f"--model-arg {k}={v!r}: {e}") from e
        return out

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.arg}"

    def identity(self) -> dict[str, Any]:
        """Everything that determines the images (goes into the cache key and the results)."""
        return {"spec": self.spec, "args": self.args}

    def identity_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def prepare(self, requests: Sequence[Request]) -> None:
        """Called once with every request before generation (validate inputs early)."""

    def image_path(self, request: Request) -> str | None:
        """Where the image of ``request`` lives when the adapter reads files (uncached adapters)."""
        return None

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        """Return one RGB image per request, in order."""


def parse_spec(spec: str) -> tuple[str, str]:
    kind, sep, arg = spec.partition(":")
    if not sep:
        # A bare "org/name" or directory is shorthand for diffusers.
        if "/" in spec or spec.startswith("."):
            return "diffusers", spec
        raise LongbenchError(f"model spec {spec!r} has no kind: use KIND:ARG (kinds: {', '.join(MODELS.names())})")
    if kind not in MODELS:
        raise MODELS.unknown(kind)
    return kind, arg


def build_model(spec: str, args: dict[str, Any] | None = None) -> Model:
    kind, arg = parse_spec(spec)
    cls = MODELS.get(kind)
    return cls(arg, args)


def to_rgb(image: Any, where: str = "image") -> Image.Image:
    """Convert PIL / numpy HWC (uint8 or float in [0,1]) / torch CHW to an RGB PIL image.

    Alpha is dropped, grayscale and palette images are expanded to RGB.
    """
    import numpy as np
    from PIL import Image

    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    try:
        import torch

        if isinstance(image, torch.Tensor):
            image = image.detach().float().cpu().numpy()
            if image.ndim == 3 and image.shape[0] in (1, 3, 4):
                image = image.transpose(1, 2, 0)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
            arr = arr.transpose(1, 2, 0)  # CHW → HWC
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise LongbenchError(f"{where}: array of shape {tuple(arr.shape)} is not an image (expected HWC or CHW)")
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8) * 255
        elif np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.uint8:
            if arr.size and (arr.min() < 0 or arr.max() > 255):
                raise LongbenchError(f"{where}: integer image values must lie in 0..255")
            arr = arr.astype(np.uint8)
        if arr.dtype != np.uint8:
            if not np.isfinite(arr).all():
                raise LongbenchError(f"{where}: contains NaN or inf values")
            arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        return Image.fromarray(arr).convert("RGB")
    raise LongbenchError(f"{where}: expected a PIL image, numpy array or tensor, got {type(image).__name__}")


@contextlib.contextmanager
def image_file(path: str | os.PathLike, where: str | None = None) -> Iterator[Image.Image]:
    """Open an image file lazily (PIL's ``Image.open``) with longbench's guards and errors; every image
    file longbench reads is opened here (``open_image`` for the usual complete RGB read).

    Raises:
        LongbenchError: naming the file (``where`` when given): missing or unreadable, not an image, or
            more than PIL's ``Image.MAX_IMAGE_PIXELS`` pixels (its decompression-bomb guard: a small file
            can claim a 30000×30000 image and exhaust memory when decoded).
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    label = where or str(path)
    try:
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that: refuse both the same way.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                yield im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise LongbenchError(f"{label}: image too large to decode safely ({' '.join(str(e).split())})") from None
    except FileNotFoundError:
        raise LongbenchError(f"{label}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise LongbenchError(f"{label}: not a readable image ({type(e).__name__}: {e})") from None


def open_image(path: str | os.PathLike, where: str | None = None) -> Image.Image:
    """Read an image file completely (``image_file``) and convert it with ``to_rgb``."""
    with image_file(path, where) as im:
        im.load()
        return to_rgb(im, where or str(path))
