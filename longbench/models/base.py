"""Model adapters: ``generate(requests) -> images``.

A spec is ``kind:arg`` (``diffusers:DIR``, ``images:DIR``, ``synth:oracle`` ...). ``kind`` is looked up in
the model registry; the adapter class receives ``arg`` and the ``--model-arg`` key/values, and declares
its options once as a dataclass (``Options``, :mod:`longbench.models.options` for the built-ins), so a typo
or a badly typed value is a one-line error rather than a silently ignored option.
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
from longbench.options import NoOptions, build_options
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
    #: the dataclass of the adapter's ``--model-arg`` options, named by its registry entry too (module
    #: docstring); None: free-form, every key is passed on as given (``python:``)
    Options: ClassVar[type | None] = NoOptions
    #: whether generated images should be cached on disk (False for adapters that read files)
    cache_images: ClassVar[bool] = True

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        self.arg = arg
        given = dict(args or {})
        #: every option, the unset ones at their declared defaults (None for a free-form adapter)
        self.options: Any = None
        #: the options given, converted: with the spec, what identifies the images (cache key, results)
        self.args: dict[str, Any] = given
        if self.Options is not None:
            self.options = build_options(self.Options, given, f"model {self.kind!r}")
            self.args = {k: getattr(self.options, k) for k in given}

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


#: Float images must lie in [0, 1]; values this far outside are taken as float rounding (and clipped),
#: anything further is refused rather than clipped (a [0, 255] float image would otherwise turn white).
FLOAT_RANGE_TOLERANCE = 1e-3
# converted to RGB by PIL: exactly, except CMYK (PIL's formula R = 255 - min(255, C + K)..., no colour profile)
_OPAQUE_MODES = ("1", "L", "P", "RGB", "RGBX", "YCbCr", "CMYK")
_ALPHA_MODES = {"RGBA": "A", "LA": "A", "PA": "A", "RGBa": "a", "La": "a"}
_CHANNELS = (1, 2, 3, 4)  # gray, gray + alpha, RGB, RGBA


def to_rgb(image: Any, where: str = "image") -> Image.Image:
    """Convert an image to 8-bit RGB exactly, or refuse it with a LongbenchError naming ``where``.

    Every image longbench scores passes here (files through ``open_image``, adapters' outputs, cache reads):

    * PIL images: RGB as is; 1-bit, grayscale, palette, RGBX and YCbCr expanded to RGB, CMYK converted with
      PIL's formula (the inverse of its RGB → CMYK; an embedded colour profile is not applied); 16-bit grayscale
      (``I;16*``, and mode ``I`` read from a PNG, which is how older Pillow opens 16-bit PNGs) scaled
      ``round(v·255/65535)``; an EXIF orientation is applied (the image as viewers show it). Alpha is
      dropped only when every pixel is opaque; transparent pixels, float (``F``), 32-bit integer, Lab / HSV
      images and animations (several frames) are refused: their RGB would be a guess.
    * numpy arrays and torch tensors (HW, HWC or CHW with 1-4 channels: gray, gray + alpha, RGB, RGBA; the
      alpha must be opaque; an array is HWC unless its last axis cannot hold channels, a tensor is CHW
      when its first axis can): ``uint8``
      as is; ``bool`` → 0/255; ``uint16`` is 16-bit (0..65535, scaled as above); other integers must lie
      in 0..255; floats must be finite and lie in [0, 1] — up to ``FLOAT_RANGE_TOLERANCE`` outside is
      float rounding and clipped, more is refused (never clipped) — then ``round(255·x)``.
    """
    import numpy as np
    from PIL import Image

    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, where)
    try:
        import torch

        if isinstance(image, torch.Tensor):
            image = _tensor_to_numpy(image)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image, where)
    raise LongbenchError(f"{where}: expected a PIL image, numpy array or tensor, got {type(image).__name__}")


def _scale16(arr: Any) -> Any:
    """16-bit values (0..65535) → 8-bit, rounded: ``round(v·255/65535)``."""
    import numpy as np

    return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _pil_to_rgb(im: Image.Image, where: str) -> Image.Image:
    import numpy as np
    from PIL import Image, ImageOps

    if getattr(im, "n_frames", 1) > 1:
        raise LongbenchError(f"{where}: an animated image with {im.n_frames} frames; give one still image")
    if im.getexif().get(0x0112, 1) != 1:  # EXIF orientation: score the image as it is displayed
        im = ImageOps.exif_transpose(im)
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I;16") or (mode == "I" and im.format == "PNG"):
        return Image.fromarray(_scale16(np.asarray(im)), "L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        lo, _ = im.getchannel(_ALPHA_MODES[mode]).getextrema()
        if lo < 255:
            n = int((np.asarray(im.getchannel(_ALPHA_MODES[mode])) < 255).sum())
            raise LongbenchError(f"{where}: {n} transparent pixel(s) (mode {mode}); flatten the image onto the "
                                 "background you mean (longbench does not guess one)")
        return im.convert("RGB")
    if mode in _OPAQUE_MODES:
        return im.convert("RGB")
    hint = {"F": "a float image has no agreed range",
            "I": "a 32-bit integer image has no agreed range"}.get(mode, "no exact conversion to RGB")
    raise LongbenchError(f"{where}: image mode {mode} is not supported ({hint}); save it as 8-bit RGB")


def _tensor_to_numpy(t: Any) -> Any:
    """A tensor as a numpy array with its dtype kept (half floats widened), CHW → HWC."""
    import numpy as np
    import torch

    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    if t.dtype == getattr(torch, "uint16", None):  # numpy conversion of torch's unsigned types is recent
        arr = t.to(torch.int32).numpy().astype(np.uint16)
    else:
        arr = t.numpy()
    if arr.ndim == 3 and arr.shape[0] in _CHANNELS:
        arr = arr.transpose(1, 2, 0)
    return arr


def _array_to_rgb(arr: Any, where: str) -> Image.Image:
    import numpy as np
    from PIL import Image

    if arr.ndim == 3 and arr.shape[0] in _CHANNELS and arr.shape[2] not in _CHANNELS:
        arr = arr.transpose(1, 2, 0)  # CHW → HWC
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in _CHANNELS):
        raise LongbenchError(f"{where}: array of shape {tuple(arr.shape)} is not an image (expected HW, HWC or CHW "
                             "with 1-4 channels)")
    if arr.size == 0:
        raise LongbenchError(f"{where}: empty image of shape {tuple(arr.shape)}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = _scale16(arr)
    elif np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.uint8:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise LongbenchError(f"{where}: integer image values must lie in 0..255 (got {lo}..{hi}; uint16 "
                                 "arrays are read as 16-bit, 0..65535)")
        arr = arr.astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise LongbenchError(f"{where}: contains NaN or inf values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -FLOAT_RANGE_TOLERANCE or hi > 1.0 + FLOAT_RANGE_TOLERANCE:
            raise LongbenchError(f"{where}: float image values must lie in [0, 1] (got {lo:.4g}..{hi:.4g}); "
                                 "scale it first (e.g. divide 0..255 values by 255)")
        arr = (np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise LongbenchError(f"{where}: array of dtype {arr.dtype} is not an image")
    if arr.ndim == 3 and arr.shape[2] in (2, 4):  # the last channel is alpha
        transparent = int((arr[:, :, -1] < 255).sum())
        if transparent:
            raise LongbenchError(f"{where}: {transparent} transparent pixel(s) (alpha channel); flatten the image "
                                 "onto the background you mean (longbench does not guess one)")
        arr = arr[:, :, :-1]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(arr)).convert("RGB")


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
