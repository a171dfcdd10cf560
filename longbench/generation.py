"""Where a run's images come from: the image cache as a wrapper around any model, and sharded generation.

:class:`CachedModel` puts any model adapter behind the on-disk cache (``longbench.cache``): asked for the
images of some requests, it reads those already cached and generates only the others, in one call, then
writes them on a background thread. It is the one generation path of a run; :func:`generate_shard` uses it
to let each process of an ``accelerate launch`` fill its share of the cache before the main process scores
everything. Adapters that read files (``cache_images = False``, e.g. ``images:``) pass through uncached.

:class:`ImageBatches` hands the runner each batch once, as an :class:`~longbench.images.ImageBatch` on the
metric device, and scores it on one worker thread while the next batch is generated or read from the cache
and decoded: a model is only ever called from the runner's thread, never concurrently with itself.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.images import to_rgb

if TYPE_CHECKING:
    from PIL import Image
    from typing_extensions import Self

    from longbench.cache import BackgroundWriter, ImageCache
    from longbench.images import ImageBatch
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

    def image_batch(self, requests: Sequence[Request], device: str | None = None) -> ImageBatch:
        """:meth:`images` converted once into an :class:`~longbench.images.ImageBatch` on ``device``."""
        from longbench.images import ImageBatch

        images = self.images(requests)
        return ImageBatch.from_images(images, device=device,
                                      where=lambda i: f"model {self.model.spec}, item {requests[i].item_id}")

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


class ImageBatches:
    """The images of ``requests``, ``batch_size`` at a time and in order, each converted once into an ImageBatch
    on ``device`` and handed to ``score(batch, images)``, which runs on one scoring thread while the next batch
    is made.

    The batches are made (generated, or read from the cache and decoded) in the caller's thread: a model is
    called from the thread that built it, one call at a time, and a signal (SIGTERM, Ctrl-C) interrupts it
    there, so its own clean-up runs (a ``cmd:`` model kills its process group). With ``prefetch`` = k > 0
    ``score`` runs on one worker thread, batches in order, and the making runs at most k batches ahead of the
    batch being scored; with 0 ``score`` runs in the caller's thread right after each batch is made (no
    overlap). The batches, their order, the model calls and the ``score`` calls are the same either way.

    An error making a batch is raised as it was raised, once the batch being scored is done; an error in
    ``score`` is raised in the caller's thread as it was raised, and no further batch is scored or made after
    it. ``wait_s``: the seconds the scorer spent waiting for images (the stream's wall time not spent in
    ``score``). Use as a context manager: leaving it drops what was not scored yet and waits for the batch
    being scored.
    """

    def __init__(self, source: CachedModel, requests: Sequence[Request], batch_size: int, device: str | None,
                 prefetch: int = 1):
        if prefetch < 0:
            raise LongbenchError(f"prefetch must be >= 0, got {prefetch}")
        self.source = source
        self.chunks = list(batches(requests, batch_size))
        self.device = device
        self.prefetch = prefetch
        self.wait_s = 0.0
        self._busy_s = 0.0  # seconds inside score (written by the scoring thread only)
        self._stop = threading.Event()  # set on the first failure or on close: score nothing further
        self._pool = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="longbench-score")
                      if prefetch > 0 else None)

    def _score(self, score: Callable[[Sequence[Request], ImageBatch], None], chunk: Sequence[Request],
               images: ImageBatch) -> None:
        if self._stop.is_set():
            return  # an earlier batch failed or the caller left: never scored
        t0 = time.perf_counter()
        try:
            score(chunk, images)
        except BaseException:
            self._stop.set()
            raise
        finally:
            self._busy_s += time.perf_counter() - t0

    def run(self, score: Callable[[Sequence[Request], ImageBatch], None],
            made: Callable[[Sequence[Request]], None] | None = None) -> None:
        """Make every batch and score it (see the class); ``made(batch)`` runs in the caller's thread after each
        batch is made (progress)."""
        t_start = time.perf_counter()
        try:
            pending: deque[Future] = deque()
            for chunk in self.chunks:
                # at most `prefetch` batches made ahead of the one being scored: wait for the older ones
                while pending and (len(pending) > self.prefetch or pending[0].done()):
                    pending.popleft().result()  # re-raises the scorer's exception here
                images = self.source.image_batch(chunk, self.device)
                if made is not None:
                    made(chunk)
                if self._pool is None:
                    self._score(score, chunk, images)
                else:
                    pending.append(self._pool.submit(self._score, score, chunk, images))
            while pending:
                pending.popleft().result()
        finally:
            self.wait_s = max(0.0, time.perf_counter() - t_start - self._busy_s)

    def close(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
