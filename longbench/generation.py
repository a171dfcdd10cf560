"""Where a run's images come from: the image cache as a wrapper around any model, and sharded generation.

:class:`CachedModel` puts any model adapter behind the on-disk cache (``longbench.cache``): asked for the
images of some requests, it reads those already cached and generates only the others, in one call, then
writes them on a background thread. It is the one generation path of a run; :func:`generate_shard` uses it
to let each process of an ``accelerate launch`` fill its share of the cache before the main process scores
everything. Adapters that read files (``cache_images = False``, e.g. ``images:``) pass through uncached.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.models.base import to_rgb

if TYPE_CHECKING:
    from PIL import Image

    from longbench.cache import BackgroundWriter, ImageCache
    from longbench.models.base import Model, Request


def batches(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``seq`` of at most ``size`` elements."""
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def distributed_state() -> Any:
    """accelerate's ``PartialState`` when launched with more than one process, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    # Without CUDA, accelerate joins the processes only when asked for CPU (gloo) explicitly.
    state = PartialState(cpu=not torch.cuda.is_available())
    return state if state.num_processes > 1 else None


class CachedModel:
    """A model behind the image cache (``cache`` None: uncached, every image comes from the model).

    Counts what it generated (``generated``) and took from the cache (``cached``), and the seconds spent in
    the model (``generate_s``).

    Args:
        model: any model adapter.
        cache: the cache of this model's images (keyed by its identity hash), or None.
        writer: the background writer of new images (flushed by its owner).
    """

    def __init__(self, model: Model, cache: ImageCache | None, writer: BackgroundWriter):
        self.model = model
        self.cache = cache
        self.writer = writer
        self.generated = 0
        self.cached = 0
        self.generate_s = 0.0

    def image_path(self, request: Request) -> str | None:
        """Where the image of ``request`` lives on disk (the cache, or the adapter's own file)."""
        return str(self.cache.path(request)) if self.cache is not None else self.model.image_path(request)

    def images(self, requests: Sequence[Request]) -> list[Image.Image]:
        """One image per request: cached ones read back, the others generated together and cached."""
        images: list[Any] = [None] * len(requests)
        if self.cache is not None:
            for i, r in enumerate(requests):
                images[i] = self.cache.load(r)
        todo = [i for i, im in enumerate(images) if im is None]
        self.cached += len(requests) - len(todo)
        if todo:
            for i, im in zip(todo, self._generate([requests[i] for i in todo])):
                images[i] = im
        return images

    def ensure(self, requests: Sequence[Request], batch_size: int) -> None:
        """Generate, ``batch_size`` at a time, the images of ``requests`` the cache does not hold yet (none are
        read back)."""
        if self.cache is None:
            raise LongbenchError(f"model {self.model.spec}: its images are not cached; nothing to generate ahead")
        missing = [r for r in requests if not self.cache.path(r).is_file()]
        for batch in batches(missing, batch_size):
            self._generate(batch)

    def _generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        t0 = time.perf_counter()
        new = self.model.generate(list(requests))
        self.generate_s += time.perf_counter() - t0
        if len(new) != len(requests):
            raise LongbenchError(f"model {self.model.spec} returned {len(new)} images for {len(requests)} prompts")
        # Any adapter's output (plugins included) becomes exact 8-bit RGB here, once: metrics see the same
        # image on the first run as when it is read back from the cache, and bad output is refused.
        new = [to_rgb(im, f"model {self.model.spec}, item {r.item_id}") for r, im in zip(requests, new)]
        if self.cache is not None:
            for r, im in zip(requests, new):
                self.writer.submit(im, self.cache.path(r))
        self.generated += len(requests)
        return list(new)


def generate_shard(source: CachedModel, requests: Sequence[Request], batch_size: int, state: Any) -> None:
    """In a multi-process launch, each process fills its share of the cache and then waits for the others.

    The share is every ``num_processes``-th request of the *full* list from the process index (not of the
    missing ones: processes look at the cache at different moments), of which it makes what is still
    missing. An uncached adapter (``images:``) makes nothing ahead: the main process reads its files.
    """
    if source.cache is not None:
        source.ensure(requests[state.process_index::state.num_processes], batch_size)
        source.writer.flush()  # every image on disk before the others may read it
    state.wait_for_everyone()
