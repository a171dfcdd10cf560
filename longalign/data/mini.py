"""Training data from the miniature world (``data.format: mini``), rendered on the fly at 32 px.

Items come from ``longbench.mini.suite.train_items(data.mini_size, data.mini_seed, layout=data.mini_layout)``:
item ``i`` depends only on ``(seed, i)`` and never shows the groups of a test scene of its layout (``free``:
``mini-v0``; ``homes``: ``mini-v1``). Images are the exact
renders (slot arrangement drawn from the item index), enlarged by pixel repetition when
``data.resolution`` is a multiple of 32. ``data.mini_captions`` picks the text of each element:

* ``prompt`` — the item's long prompt (``align``);
* ``short`` — a short complete caption, every fact inside 77 tokens (``longbench.mini.captions``; the
  ``base`` stage);
* ``sentences`` — one element per sentence that states a fact or names the background (``clip``:
  image–sentence pairs; filler sentences state nothing and are left out);
* ``sentences+prompt`` — both of the above.

With ``data.mini_twins`` each element also carries ``twin_pixel_values``: the render of its item with one of
the facts its text states broken (``corrupt_scene`` restricted to those facts; a text that states none, the
background sentence, gets another background). The ``clip`` stage scores the text against both, so the twin
is a hard negative that only count, colour, quadrant or presence tells apart from the true image; without it
colour and background alone retrieve most images of a random batch, and the text tower learned little else.

:class:`MiniPreferenceDataset` serves the ``denscore`` stage (``pairs.format: mini``): each item's
correct render against a render of the same item with ``K`` facts broken (``mini:corrupt-K``), for each
``K`` of ``pairs.mini_corrupt``; the correct image is preferred and sits at ``image_0`` or ``image_1``
alternately. With ``pairs.mini_ladder`` the preferred image is instead the render with ``K - 1`` facts broken
(the corruptions are nested in ``K``, so it breaks a subset of the same facts): adjacent rungs of the ladder
``longbench meta-eval`` ranks, a finer signal than correct-vs-broken; where breaking the ``K``-th fact changes
nothing (its group already dropped), the pair falls back to the correct render. With
``pairs.mini_segment_labels`` each pair also carries ``segment_labels``, one per sentence of the prompt (the
``longalign`` splitter's segments): the pair's label for a sentence that states a fact true in one image and
false in the other, a tie (0.5) for every other sentence — the exact labels the world knows, in place of the
pair's label as every segment's weak label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from longbench.suites.base import Item

MINI_CAPTIONS = ("prompt", "short", "sentences", "sentences+prompt")


def _items(size: int, seed: int, layout: str = "free") -> list[Item]:
    from longbench.mini.suite import TEST_SEEDS, train_items

    if seed in TEST_SEEDS:
        raise LongbenchError(f"mini seed {seed} is a test split's seed (mini-v0, mini-v1); pick another")
    return train_items(size, seed, layout=layout)


def _with_layout(description: dict[str, Any], layout: str) -> dict[str, Any]:
    """A dataset's description with its layout; a free one's stays as mini-v0 manifests recorded it."""
    return {**description, "mini_layout": layout} if layout != "free" else description


def fact_sentences(item: Item) -> list[int]:
    """Indices of the sentences of ``item`` that state a fact or name the background, in order."""
    keep = {f.sentence for f in item.facts} | {int(item.meta["background_sentence"])}
    return sorted(keep)


def changed_sentences(item: Item, a: Any, b: Any) -> set[int]:
    """Indices of the sentences of ``item`` stating a fact that holds in one of the scenes ``a``, ``b`` only."""
    from longbench.mini.views import scene_holds

    return {f.sentence for f in item.facts if scene_holds(f, a) != scene_holds(f, b)}


def twin_scene(item: Item, sentence: int | None, seed: int) -> Any:
    """``item``'s scene with one fact stated by its sentence ``sentence`` (None: by the whole prompt) broken;
    for a sentence that states none (the background's), the scene on another background."""
    from longbench.mini.views import corrupt_scene, item_scene

    stated = [j for j, f in enumerate(item.facts) if sentence is None or f.sentence == sentence]
    if stated:
        return corrupt_scene(item, 1, seed=seed, facts=stated)
    scene = item_scene(item)
    backgrounds = scene.BACKGROUNDS
    shift = 1 + seed % (len(backgrounds) - 1)
    return type(scene)(backgrounds[(backgrounds.index(scene.background) + shift) % len(backgrounds)], scene.groups)


class MiniDataset:
    """Map-style dataset of miniature renders and their texts → ``{"pixel_values" ([-1, 1]), "caption",
    "index"}`` (module docstring)."""

    def __init__(self, size: int, seed: int, resolution: int, captions: str = "prompt", load_images: bool = True,
                 twins: bool = False, layout: str = "free"):
        from longbench.mini.world import IMAGE_SIZE

        if captions not in MINI_CAPTIONS:
            raise LongbenchError(f"data.mini_captions={captions!r}: expected one of {', '.join(MINI_CAPTIONS)}")
        if resolution % IMAGE_SIZE:
            raise LongbenchError(f"data.resolution={resolution}: the miniature world renders multiples of "
                                 f"{IMAGE_SIZE} px")
        self.size, self.seed, self.resolution, self.captions = size, seed, resolution, captions
        self.scale = resolution // IMAGE_SIZE
        self.load_images = load_images
        self.twins = twins
        self.layout = layout
        self.items = _items(size, seed, layout)
        self.elements: list[tuple[int, int | None]] = []  # (item, sentence or None for the whole text)
        for i, item in enumerate(self.items):
            if captions in ("sentences", "sentences+prompt"):
                self.elements.extend((i, s) for s in fact_sentences(item))
            if captions != "sentences":
                self.elements.append((i, None))
        self._renderer: Any = None

    def __len__(self) -> int:
        return len(self.elements)

    def text(self, k: int) -> str:
        from longbench.mini.captions import short_caption
        from longbench.mini.views import item_scene

        i, sentence = self.elements[k]
        item = self.items[i]
        if sentence is not None:
            return item.segments[sentence]
        return short_caption(item_scene(item)) if self.captions == "short" else item.prompt

    def render(self, i: int, scene: Any = None) -> Any:
        """The (3, H, W) float tensor in [-1, 1] of item ``i`` (or of ``scene``, drawn with item ``i``'s slots)."""
        import torch

        from longbench.mini.render import Renderer
        from longbench.mini.views import item_scene

        if self._renderer is None:
            self._renderer = Renderer(self.scale)
        arr = self._renderer.render_array(item_scene(self.items[i]) if scene is None else scene, seed=i)
        return torch.from_numpy(arr).permute(2, 0, 1).float().div(127.5).sub(1.0)

    def twin_scene(self, k: int) -> Any:
        """Element ``k``'s item with one of the facts its text states broken (module docstring)."""
        i, sentence = self.elements[k]
        return twin_scene(self.items[i], sentence, seed=k)

    def __getitem__(self, k: int) -> dict[str, Any]:
        out: dict[str, Any] = {"caption": self.text(k), "index": k}
        if self.load_images:
            i = self.elements[k][0]
            out["pixel_values"] = self.render(i)
            if self.twins:
                out["twin_pixel_values"] = self.render(i, self.twin_scene(k))
        return out

    def describe(self) -> dict[str, Any]:
        return _with_layout({"n": len(self), "format": "mini", "mini_size": self.size, "mini_seed": self.seed,
                             "mini_captions": self.captions, "mini_twins": self.twins, "resolution": self.resolution},
                            self.layout)


class MiniPreferenceDataset:
    """Preference pairs of the miniature world → ``{"caption", "image_0", "image_1" (PIL RGB), "label",
    "index"}`` (module docstring)."""

    def __init__(self, size: int, seed: int, corrupt: Sequence[int], limit: int = 0, ladder: bool = False,
                 layout: str = "free", segment_labels: bool = False):
        if not corrupt or any(int(k) < 1 for k in corrupt):
            raise LongbenchError(f"pairs.mini_corrupt={list(corrupt)!r}: give one or more numbers of broken facts ≥ 1")
        self.size, self.seed, self.corrupt, self.limit = size, seed, [int(k) for k in corrupt], limit
        self.ladder = bool(ladder)
        self.segment_labels = bool(segment_labels)
        self.layout = layout
        self.items = _items(size, seed, layout)
        self._renderer: Any = None

    def __len__(self) -> int:
        n = len(self.items) * len(self.corrupt)
        return min(n, self.limit) if self.limit else n

    def __getitem__(self, k: int) -> dict[str, Any]:
        from longbench.mini.render import Renderer
        from longbench.mini.views import corrupt_scene, item_scene

        if self._renderer is None:
            self._renderer = Renderer()
        i, j = divmod(k, len(self.corrupt))
        item = self.items[i]
        broken = corrupt_scene(item, self.corrupt[j], seed=i)
        preferred = item_scene(item)
        if self.ladder and self.corrupt[j] > 1:
            rung = corrupt_scene(item, self.corrupt[j] - 1, seed=i)
            preferred = rung if rung != broken else preferred
        good = self._renderer.render(preferred, seed=i)
        bad = self._renderer.render(broken, seed=i)
        label = k % 2  # the preferred (correct) image's index alternates
        images = (bad, good) if label else (good, bad)
        out = {"caption": item.prompt, "image_0": images[0], "image_1": images[1], "label": float(label), "index": k}
        if self.segment_labels:
            changed = changed_sentences(item, preferred, broken)
            out["segment_labels"] = [float(label) if s in changed else 0.5 for s in range(len(item.segments))]
        return out

    def describe(self) -> dict[str, Any]:
        return _with_layout({"n": len(self), "format": "mini", "mini_size": self.size, "mini_seed": self.seed,
                             "mini_corrupt": self.corrupt, "mini_ladder": self.ladder,
                             **({"mini_segment_labels": True} if self.segment_labels else {})}, self.layout)


def eval_items(n: int, seed: int, layout: str = "free") -> list[Item]:
    """Held-out items a stage checks its model on when it saves (a training seed of their own)."""
    return _items(n, seed, layout)


def reader_scores(images: Sequence[Any], items: Sequence[Item]) -> dict[str, float | None]:
    """The exact ``mini`` metric (fact recall and its columns) of ``images`` drawn for ``items``; None for a
    column whose kind of fact the items never state (``position_acc`` on the ``homes`` layout), so the checks
    that record these scores stay strict JSON."""
    import math

    from longbench.mini.metric import MiniFactsMetric

    metric = MiniFactsMetric()
    metric.update(list(images), list(items))
    scores = {k: float(v) for k, v in metric.compute().items()}
    return {k: None if math.isnan(v) else v for k, v in scores.items()}


def renders(items: Sequence[Item]) -> Any:
    """The exact renders of ``items`` as a (N, 3, 32, 32) float tensor in [-1, 1] (item ``i`` with layout
    seed ``i``, as :class:`MiniDataset` draws them)."""
    from longbench.mini.views import item_scene

    return render_scenes([item_scene(it) for it in items], range(len(items)))


def render_scenes(scenes: Sequence[Any], seeds: Sequence[int]) -> Any:
    """The exact renders of ``scenes`` (layout seed ``seeds[i]``) as a (N, 3, 32, 32) float tensor in [-1, 1]."""
    import numpy as np
    import torch

    from longbench.mini.render import Renderer

    r = Renderer()
    arr = np.stack([r.render_array(scene, seed=seed) for scene, seed in zip(scenes, seeds, strict=True)])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(pixels: Any) -> Any:
    """[-1, 1] float images (N, 3, H, W) → uint8 tensors, as pipelines quantise their output."""
    import torch

    return ((pixels.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(dtype=torch.uint8).cpu()
