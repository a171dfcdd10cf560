"""One image batch, converted once: :class:`ImageBatch` and the uint8 tensor helpers every metric uses.

A batch of generated or cached images is checked and converted to 8-bit RGB once (:func:`~longbench.models.
base.to_rgb`, the one conversion rule), laid out as uint8 ``(3, H, W)`` tensors on the device where the
metrics run, and handed to every metric as is: each metric then resizes, crops and normalises the whole
batch with torch ops on that device instead of converting, decoding or moving images again.

Same-size images are held as one ``(B, 3, H, W)`` tensor (channels-last in memory when built from decoded
images: the layout PIL and numpy give, and the one torch's uint8 antialiased resize is fastest on); a batch
of mixed sizes is a list of ``(3, H, W)`` tensors, and :meth:`ImageBatch.groups` stacks each size once.
An ``ImageBatch`` is a sequence of ``(3, H, W)`` uint8 tensors, so code that takes images one at a time
(``to_rgb`` accepts such tensors) works on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

import torch

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from PIL import Image

#: ``where`` of conversion errors: a label (``"clipscore image"`` → ``"clipscore image 3"``) or index → label
Where = str | Callable[[int], str]


def _is_rgb_uint8(t: Any) -> bool:
    """A (3, H, W) uint8 tensor: already converted, taken as is."""
    return isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.ndim == 3 and t.shape[0] == 3


def _label(where: Where, i: int) -> str:
    return where(i) if callable(where) else f"{where} {i}"


class ImageBatch(Sequence[torch.Tensor]):
    """RGB uint8 images on one device: a ``(B, 3, H, W)`` tensor when they share a size, else a list of
    ``(3, H, W)`` tensors.

    Build one with :meth:`from_images` (PIL images, arrays, tensors: converted and checked once) or
    :func:`as_image_batch`; the constructor takes tensors that are already uint8 RGB.

    Args:
        data: a uint8 ``(B, 3, H, W)`` tensor, or a sequence of uint8 ``(3, H, W)`` tensors on one device.
    """

    def __init__(self, data: torch.Tensor | Sequence[torch.Tensor]):
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

        from longbench.models.base import to_rgb

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

    from longbench.models.base import to_rgb

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
    groups: dict[tuple[int, int], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.shape[1], t.shape[2]), []).append(i)
    return [(idx, torch.stack([tensors[i].permute(1, 2, 0) for i in idx]).permute(0, 3, 1, 2))
            for idx in groups.values()]


def to_float_batches(images: Sequence[Any], where: str = "image") -> list[tuple[list[int], torch.Tensor]]:
    """Group images by size into float (B,3,H,W) tensors in [0,1]: ``[(indices, batch), ...]``."""
    return as_image_batch(images, where=where).floats()
