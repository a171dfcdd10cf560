"""Images: the one conversion rule (:func:`to_rgb`), guarded file reads (:func:`image_file`, :func:`open_image`)
and one image batch, converted once (:class:`ImageBatch` and the uint8 tensor helpers every metric uses).

A batch of generated or cached images is checked and converted to 8-bit RGB once (:func:`to_rgb`), laid out as uint8 ``(3, H, W)`` tensors on the device where the
metrics run, and handed to every metric as is: each metric then resizes, crops and normalises the whole
batch with torch ops on that device instead of converting, decoding or moving images again.

Same-size images are held as one ``(B, 3, H, W)`` tensor (channels-last in memory when built from decoded
images: the layout PIL and numpy give, and the one torch's uint8 antialiased resize is fastest on); a batch
of mixed sizes is a list of ``(3, H, W)`` tensors, and :meth:`ImageBatch.groups` stacks each size once.
An ``ImageBatch`` is a sequence of ``(3, H, W)`` uint8 tensors, so code that takes images one at a time
(``to_rgb`` accepts such tensors) works on it unchanged.

torch, numpy and PIL are imported where they are used, not with this module: converting or opening a PIL
image (the viewer's thumbnails, the synthetic detector) does not import torch.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch
    from PIL import Image

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
    torch = sys.modules.get("torch")  # a tensor implies torch is imported: don't import it for an array
    if torch is not None and isinstance(image, torch.Tensor):
        image = _tensor_to_numpy(image)
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


# ---------------------------------------------------------------------- batches

#: ``where`` of conversion errors: a label (``"clipscore image"`` → ``"clipscore image 3"``) or index → label
Where = str | Callable[[int], str]


def _is_rgb_uint8(t: Any) -> bool:
    """A (3, H, W) uint8 tensor: already converted, taken as is."""
    torch = sys.modules.get("torch")  # no tensor can exist before torch is imported: don't import it here
    return torch is not None and isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.ndim == 3 \
        and t.shape[0] == 3


def _label(where: Where, i: int) -> str:
    return where(i) if callable(where) else f"{where} {i}"


class ImageBatch(Sequence["torch.Tensor"]):
    """RGB uint8 images on one device: a ``(B, 3, H, W)`` tensor when they share a size, else a list of
    ``(3, H, W)`` tensors.

    Build one with :meth:`from_images` (PIL images, arrays, tensors: converted and checked once) or
    :func:`as_image_batch`; the constructor takes tensors that are already uint8 RGB.

    Args:
        data: a uint8 ``(B, 3, H, W)`` tensor, or a sequence of uint8 ``(3, H, W)`` tensors on one device.
    """

    def __init__(self, data: torch.Tensor | Sequence[torch.Tensor]):
        import torch

        if isinstance(data, torch.Tensor):
            if data.dtype != torch.uint8 or data.ndim != 4 or data.shape[1] != 3:
                raise LongbenchError(f"an image batch is a uint8 (B, 3, H, W) tensor, got {data.dtype} "
                                     f"{tuple(data.shape)}")
            self._stacked: torch.Tensor | None = data
            self._items: list[torch.Tensor] | None = None
        else:
            items = list(data)
            for i, t in enumerate(items):
                if not _is_rgb_uint8(t):
                    what = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
                    raise LongbenchError(f"image batch entry {i}: expected a uint8 (3, H, W) tensor, got {what} "
                                         "(convert with ImageBatch.from_images)")
            if len({t.device for t in items}) > 1:
                raise LongbenchError("image batch entries lie on different devices")
            self._stacked = None
            self._items = items
        self._groups: list[tuple[list[int], torch.Tensor]] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_images(cls, images: Sequence[Any], device: str | torch.device | None = None,
                    where: Where = "image") -> ImageBatch:
        """Convert ``images`` once: PIL images, numpy arrays and tensors go through ``to_rgb`` (the one
        conversion rule; errors name ``where`` and the index), uint8 ``(3, H, W)`` tensors are taken as
        they are. Same-size images are stacked into one tensor, then everything is moved to ``device``
        (default: where the tensors are, else the CPU).

        Raises:
            LongbenchError: an image that ``to_rgb`` refuses.
        """
        if isinstance(images, ImageBatch):
            return images.to(device) if device is not None else images
        import numpy as np
        import torch

        arrays: list[Any] = []  # HWC numpy views of converted images, or CHW uint8 tensors given as such
        for i, img in enumerate(images):
            arrays.append(img if _is_rgb_uint8(img) else np.asarray(to_rgb(img, where=_label(where, i))))
        given = {a.device for a in arrays if isinstance(a, torch.Tensor)}
        target = torch.device(device) if device is not None else (next(iter(given)) if len(given) == 1 else
                                                                    torch.device("cpu"))
        sizes = {tuple(a.shape[1:]) if isinstance(a, torch.Tensor) else a.shape[:2] for a in arrays}
        if arrays and not given and len(sizes) == 1:
            # one copy into a (B, H, W, 3) block, seen as (B, 3, H, W) channels-last, then one transfer
            return cls(torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).to(target))
        tensors = [a.to(target) if isinstance(a, torch.Tensor)
                   else torch.from_numpy(np.array(a)).permute(2, 0, 1).to(target) for a in arrays]
        if tensors and len(sizes) == 1:
            return cls(torch.stack(tensors))
        return cls(tensors)

    # ------------------------------------------------------------------ sequence
    def __len__(self) -> int:
        return self._stacked.shape[0] if self._stacked is not None else len(self._items or ())

    @overload
    def __getitem__(self, index: int) -> torch.Tensor: ...

    @overload
    def __getitem__(self, index: slice) -> ImageBatch: ...

    def __getitem__(self, index: int | slice) -> torch.Tensor | ImageBatch:
        if isinstance(index, slice):
            if self._stacked is not None:
                return ImageBatch(self._stacked[index])
            return ImageBatch((self._items or [])[index])
        if self._stacked is not None:
            return self._stacked[index]
        return (self._items or [])[index]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self._stacked.unbind(0) if self._stacked is not None else (self._items or []))

    def __repr__(self) -> str:
        sizes = sorted({tuple(t.shape[-2:]) for _, t in self.groups()})
        return f"ImageBatch(n={len(self)}, sizes={sizes}, device={self.device})"

    # ------------------------------------------------------------------ views
    @property
    def device(self) -> torch.device:
        if self._stacked is not None:
            return self._stacked.device
        import torch

        return self._items[0].device if self._items else torch.device("cpu")

    @property
    def stacked(self) -> torch.Tensor | None:
        """The ``(B, 3, H, W)`` tensor when every image has the same size, else None."""
        return self._stacked

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """``(height, width)`` of every image."""
        if self._stacked is not None:
            return [tuple(self._stacked.shape[-2:])] * len(self)  # type: ignore[list-item]
        return [(int(t.shape[-2]), int(t.shape[-1])) for t in self._items or []]

    def groups(self) -> list[tuple[list[int], torch.Tensor]]:
        """Same-size images as ``(indices, (b, 3, H, W) tensor)`` pairs, stacked once and kept."""
        if self._groups is None:
            if self._stacked is not None:
                self._groups = [(list(range(len(self))), self._stacked)] if len(self) else []
            else:
                self._groups = group_by_size(self._items or [])
        return self._groups

    def to(self, device: str | torch.device | None) -> ImageBatch:
        """The batch on ``device``: itself when it is already there, else one uint8 copy."""
        if device is None:
            return self
        if self._stacked is not None:
            moved = self._stacked.to(device)
            return self if moved is self._stacked else ImageBatch(moved)
        items = [t.to(device) for t in self._items or []]
        return self if all(a is b for a, b in zip(items, self._items or [])) else ImageBatch(items)

    def select(self, indices: Sequence[int]) -> ImageBatch:
        """The images at ``indices``, in that order."""
        if self._stacked is not None:
            import torch

            return ImageBatch(self._stacked[torch.as_tensor(list(indices), dtype=torch.long,
                                                            device=self._stacked.device)])
        return ImageBatch([(self._items or [])[i] for i in indices])

    def floats(self) -> list[tuple[list[int], torch.Tensor]]:
        """Same-size groups as float32 tensors in [0, 1] (``x / 255``), for float protocols."""
        return [(idx, g.float().div_(255.0)) for idx, g in self.groups()]

    def pil(self, index: int) -> Image.Image:
        """Image ``index`` as an RGB PIL image (for code that needs PIL, e.g. a VLM processor)."""
        from PIL import Image

        return Image.fromarray(self[index].permute(1, 2, 0).cpu().numpy(), "RGB")

    def pil_images(self) -> list[Image.Image]:
        return [self.pil(i) for i in range(len(self))]


def as_image_batch(images: Sequence[Any], device: str | torch.device | None = None,
                   where: Where = "image") -> ImageBatch:
    """``images`` as an :class:`ImageBatch` on ``device``: a batch is moved (or returned as is), anything else
    is converted once with :meth:`ImageBatch.from_images`."""
    if isinstance(images, ImageBatch):
        return images.to(device)
    return ImageBatch.from_images(images, device=device, where=where)


# ---------------------------------------------------------------------- list helpers
def to_uint8_tensors(images: Sequence[Any], where: str = "image") -> list[torch.Tensor]:
    """RGB uint8 (3,H,W) tensors from PIL images, numpy arrays or tensors (float in [0,1] or uint8).

    Raises:
        LongbenchError: NaN/inf values, or an object that is not an image.
    """
    if isinstance(images, ImageBatch):
        return list(images)
    import numpy as np
    import torch

    out = []
    for i, img in enumerate(images):
        if _is_rgb_uint8(img):
            out.append(img)
            continue
        rgb = to_rgb(img, where=f"{where} {i}")
        out.append(torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1))
    return out


def group_by_size(tensors: Sequence[torch.Tensor]) -> list[tuple[list[int], torch.Tensor]]:
    """Stack (3,H,W) tensors of equal size into (B,3,H,W) batches: ``[(indices, batch), ...]``.

    Tensors that are HWC-contiguous views (as :func:`to_uint8_tensors` makes) stack into a channels-last
    batch without reordering memory.
    """
    if isinstance(tensors, ImageBatch):
        return tensors.groups()
    import torch

    groups: dict[tuple[int, int], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.shape[1], t.shape[2]), []).append(i)
    return [(idx, torch.stack([tensors[i].permute(1, 2, 0) for i in idx]).permute(0, 3, 1, 2))
            for idx in groups.values()]


def to_float_batches(images: Sequence[Any], where: str = "image") -> list[tuple[list[int], torch.Tensor]]:
    """Group images by size into float (B,3,H,W) tensors in [0,1]: ``[(indices, batch), ...]``."""
    return as_image_batch(images, where=where).floats()
