"""One contract every metric passes, checked the same way for all of them (torchmetrics' ``MetricTester`` idea).

For every :class:`MetricCase` (a metric, tiny offline models, a handful of images and items), the tester checks:

* **columns** — ``compute()`` returns exactly the declared ``columns``; ``per_sample()`` only declared ones;
* **headline = per-sample** — for every per-sample column, ``compute()`` is the NaN-ignoring mean of
  ``per_sample()`` (all NaN → NaN);
* **batch-size invariance** — batches of 1 and of all samples give what batches of 2 give;
* **update-order invariance** — samples fed in a permuted order: per-sample scores (and per-segment scores)
  follow the permutation, headline and group values do not move;
* **merge** — two halves accumulated in two metrics and merged with torchmetrics' ``merge_state`` equal one
  metric fed everything; and, for all cases at once, two real processes (gloo) synced by torchmetrics equal
  one process (:func:`check_distributed`);
* **functional twin** — the case's ``functional`` (which calls the metric's pure function under
  ``longbench.metrics.functional`` once, on all samples) equals the class.

Comparisons use each case's :class:`Tolerance`. Float32 networks are not batch invariant (a matrix product
over 1 row and over 6 rows may block differently), so features, and scores computed from them, move by a
few float32 ulps when the batch composition changes; exact metrics (integer counts, booleans) declare a
float64-summation-order tolerance only.

**Adding a metric** (one entry, no new test): write three module-level functions below — ``build`` (the
metric from :class:`TinyWeights`; build the tiny models it needs there), ``data`` (at least 4 images and their
items, with varied scores) and ``functional`` (the expected :class:`Outcome` of all samples computed in one
call of the metric's functional twin) — and append a :class:`MetricCase` to :data:`CASES`. The functions
are called in the test process and in the two processes :func:`check_distributed` forks from it.
If the metric needs a tiny model no case uses yet, add a method to :class:`TinyWeights` that saves it.
``tests/test_metric_contract.py`` parametrises every check over :data:`CASES` and fails when a metric of
``longbench.metrics.BUILTIN`` has no case. A metric living outside the package (a plugin) runs the same
checks from its own tests: build a :class:`MetricCase` and call the ``check_*`` methods of a
:class:`MetricTester` and :func:`check_distributed`.
"""

from __future__ import annotations

import datetime
import math
import pickle
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

# ---------------------------------------------------------------------- what a run shows


@dataclass
class Outcome:
    """What a metric reports after its updates; a ``None`` field is not compared."""

    values: dict[str, float] | None = None
    per_sample: dict[str, list[float]] | None = None
    per_segment: list[list[float]] | None = None
    groups: dict[str, dict[str, float]] | None = None


@dataclass(frozen=True)
class Tolerance:
    """``|a − b| <= atol + rtol·|b|`` (NaN equals NaN)."""

    rtol: float
    atol: float = 0.0


#: integer counts and booleans are exact per image; means over images are float64 sums whose order changes
EXACT = Tolerance(rtol=1e-12, atol=1e-12)
#: CLIP-style scores are ×100 cosines of float32 features: a few float32 ulps of a unit vector (~1e-7 each)
#: summed over D dimensions and scaled by 100; measured at most 2e-5 absolute (1 or 2 threads)
FLOAT32_X100 = Tolerance(rtol=1e-5, atol=1e-4)


@dataclass(frozen=True)
class MetricCase:
    """One parametrisation of the contract (see the module docstring).

    Attributes:
        id: test id (several cases may test one metric with different components).
        metric: the registry name of the metric.
        build: ``TinyWeights → metric``; called once per process, then cloned for every run.
        data: ``TinyWeights → (images, items)``.
        functional: ``(metric, images, items) → Outcome`` from the functional twin, all samples at once.
        tolerance: how close the runs must agree (see :class:`Tolerance`).
        groups: ``items → one label per sample`` for ``compute_groups`` (metrics without per-sample columns).
    """

    id: str
    metric: str
    build: Callable[[TinyWeights], Any]
    data: Callable[[TinyWeights], tuple[list[Any], list[Any]]]
    functional: Callable[[Any, list[Any], list[Any]], Outcome]
    tolerance: Tolerance
    groups: Callable[[list[Any]], list[str]] | None = None


class TinyWeights:
    """Tiny random-weight models saved under ``root`` on first use; metrics load them through their real
    loading paths."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def clip(self) -> Path:
        from tests.helpers_clip import save_tiny_clip

        path = self.root / "clip"
        if not (path / "config.json").is_file():
            save_tiny_clip(path, seed=0)  # on the CLIP items, some CLIPScores are clamped at 0, some positive
        return path

    def inception(self) -> Path:
        from longbench.metrics.fid_features import INCEPTION_WEIGHTS_FILE
        from tests.helpers_fid import make_inception_weights

        path = self.root / "inception" / INCEPTION_WEIGHTS_FILE
        if not path.is_file():
            make_inception_weights(path)
        return path

    def open_clip(self) -> Path:
        from tests.helpers_fid import make_tiny_open_clip

        path = self.root / "open_clip"
        if not (path / "open_clip_config.json").is_file():
            make_tiny_open_clip(path)
        return path

    def blip_captioner(self) -> Path:
        from longbench.testing import save_tiny_blip_captioner

        path = self.root / "blip_captioner"
        if not (path / "config.json").is_file():
            save_tiny_blip_captioner(path, seed=0)  # 40 text positions: CLIP_ITEMS' "c" only fits by segments
        return path

    def owlv2(self) -> Path:
        from tests.helpers_count import save_tiny_owlv2

        path = self.root / "owlv2"
        if not (path / "config.json").is_file():
            save_tiny_owlv2(path)
        return path


# ---------------------------------------------------------------------- running and comparing
def feed(metric: Any, images: Sequence[Any], items: Sequence[Any], batches: Sequence[Sequence[int]]) -> Any:
    """``metric.update`` once per batch of sample indices; returns the metric."""
    for idx in batches:
        metric.update([images[i] for i in idx], [items[i] for i in idx])
    return metric


def chunks(indices: Sequence[int], size: int) -> list[list[int]]:
    return [list(indices[i:i + size]) for i in range(0, len(indices), size)]


def observe(metric: Any, labels: Sequence[str] | None) -> Outcome:
    """Everything the runner reads from a metric (torchmetrics syncs ``compute`` in a process group)."""
    values = {k: float(v) for k, v in metric.compute().items()}
    groups = metric.compute_groups(list(labels)) if labels is not None else {}
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed:  # per_sample/per_segment read the states as they are: gather them first
        metric.sync()
    try:
        return Outcome(values, metric.per_sample(), metric.per_segment(), groups)
    finally:
        if distributed:
            metric.unsync()


def _close(a: float, b: float, tol: Tolerance) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol.atol + tol.rtol * abs(b)


def assert_outcomes_close(got: Outcome, want: Outcome, tol: Tolerance, what: str,
                          perm: Sequence[int] | None = None) -> None:
    """``got`` equals ``want`` within ``tol``; with ``perm``, got's sample ``k`` is want's sample ``perm[k]``."""

    def same(a: float, b: float, where: str) -> None:
        assert _close(a, b, tol), f"{what}: {where}: {a!r} != {b!r} (rtol {tol.rtol}, atol {tol.atol})"

    if want.values is not None:
        assert got.values is not None and set(got.values) == set(want.values), f"{what}: columns differ"
        for col, v in want.values.items():
            same(got.values[col], v, col)
    if want.per_sample is not None:
        assert got.per_sample is not None and set(got.per_sample) == set(want.per_sample), \
            f"{what}: per-sample columns differ"
        for col, vals in want.per_sample.items():
            order = perm if perm is not None else range(len(vals))
            assert len(got.per_sample[col]) == len(vals), f"{what}: {col}: number of samples differs"
            for k, i in enumerate(order):
                same(got.per_sample[col][k], vals[i], f"{col}[{k}]")
    if want.per_segment is not None:
        assert got.per_segment is not None and len(got.per_segment) == len(want.per_segment), \
            f"{what}: per-segment scores differ in number of samples"
        order = perm if perm is not None else range(len(want.per_segment))
        for k, i in enumerate(order):
            assert len(got.per_segment[k]) == len(want.per_segment[i]), f"{what}: segments of sample {k}"
            for j, (a, b) in enumerate(zip(got.per_segment[k], want.per_segment[i])):
                same(a, b, f"per_segment[{k}][{j}]")
    if want.groups is not None:
        assert got.groups is not None and set(got.groups) == set(want.groups), f"{what}: groups differ"
        for label, cols in want.groups.items():
            assert set(got.groups[label]) == set(cols), f"{what}: columns of group {label!r} differ"
            for col, v in cols.items():
                same(got.groups[label][col], v, f"group {label!r} {col}")


def permutation(n: int, seed: str) -> list[int]:
    """A fixed permutation of ``range(n)`` that moves every sample it can."""
    perm = list(range(n))
    rng = random.Random(seed)
    while n > 1 and any(p == i for i, p in enumerate(perm)):
        rng.shuffle(perm)
    return perm


class MetricTester:
    """Runs the contract checks; keeps one prototype metric, the data and the reference run per case."""

    def __init__(self, weights: TinyWeights):
        self.weights = weights
        self._protos: dict[str, Any] = {}
        self._data: dict[str, tuple[list[Any], list[Any]]] = {}
        self._reference: dict[str, tuple[Any, Outcome]] = {}

    def data(self, case: MetricCase) -> tuple[list[Any], list[Any]]:
        if case.id not in self._data:
            images, items = case.data(self.weights)
            assert len(images) == len(items) >= 4, f"{case.id}: the contract needs at least 4 samples"
            self._data[case.id] = (images, items)
        return self._data[case.id]

    def fresh(self, case: MetricCase) -> Any:
        """A new metric of the case: a deep copy (torchmetrics ``clone``) of a never-updated prototype, so
        models are loaded once per process and no state or cache leaks from one run into another."""
        if case.id not in self._protos:
            self._protos[case.id] = case.build(self.weights)
        return self._protos[case.id].clone()

    def labels(self, case: MetricCase, items: Sequence[Any]) -> list[str] | None:
        return case.groups(list(items)) if case.groups is not None else None

    def run(self, case: MetricCase, batches: Sequence[Sequence[int]]) -> Outcome:
        images, items = self.data(case)
        order = [i for b in batches for i in b]
        metric = feed(self.fresh(case), images, items, batches)
        return observe(metric, self.labels(case, [items[i] for i in order]))

    def reference(self, case: MetricCase) -> tuple[Any, Outcome]:
        """The metric fed every sample in order, 2 per batch, and what it reports."""
        if case.id not in self._reference:
            images, items = self.data(case)
            metric = feed(self.fresh(case), images, items, chunks(range(len(images)), 2))
            self._reference[case.id] = (metric, observe(metric, self.labels(case, items)))
        return self._reference[case.id]

    # ------------------------------------------------------------------ the checks
    def check_columns(self, case: MetricCase) -> None:
        metric, out = self.reference(case)
        declared = list(metric.columns)
        assert sorted(out.values) == sorted(declared), f"{case.id}: compute() {sorted(out.values)} != {declared}"
        assert set(out.per_sample) <= set(declared), f"{case.id}: per_sample() has undeclared columns"
        assert metric.name == case.metric and all(isinstance(v, bool) for v in metric.columns.values())
        n = len(self.data(case)[0])
        for col, vals in out.per_sample.items():
            assert len(vals) == n, f"{case.id}: {col}: {len(vals)} per-sample scores for {n} images"
        if out.per_segment is not None:
            assert len(out.per_segment) == n, f"{case.id}: per_segment() has {len(out.per_segment)} samples"

    def check_per_sample_agrees(self, case: MetricCase) -> None:
        _, out = self.reference(case)
        for col, vals in out.per_sample.items():
            finite = [v for v in vals if not math.isnan(v)]
            want = float(np.mean(finite)) if finite else math.nan
            assert _close(out.values[col], want, Tolerance(rtol=1e-12, atol=1e-12)), \
                f"{case.id}: compute()[{col!r}] = {out.values[col]} but the mean of per_sample() is {want}"

    def check_batch_size_invariance(self, case: MetricCase) -> None:
        _, want = self.reference(case)
        n = len(self.data(case)[0])
        for size in (1, n):
            got = self.run(case, chunks(range(n), size))
            assert_outcomes_close(got, want, case.tolerance, f"{case.id}: batches of {size}")

    def check_order_invariance(self, case: MetricCase) -> None:
        _, want = self.reference(case)
        n = len(self.data(case)[0])
        perm = permutation(n, case.id)
        got = self.run(case, chunks(perm, 3))
        assert_outcomes_close(got, want, case.tolerance, f"{case.id}: samples in order {perm}", perm=perm)

    def check_merge_state(self, case: MetricCase) -> None:
        """Two halves in two metrics, merged. torchmetrics' ``merge_state`` puts the incoming state first,
        so the second half's metric receives the first half's to keep the samples in order."""
        _, want = self.reference(case)
        images, items = self.data(case)
        n = len(images)
        first = feed(self.fresh(case), images, items, chunks(range(n // 2), 2))
        second = feed(self.fresh(case), images, items, chunks(range(n // 2, n), 2))
        second.merge_state(first)
        got = observe(second, self.labels(case, items))
        assert_outcomes_close(got, want, case.tolerance, f"{case.id}: merged halves")

    def check_functional(self, case: MetricCase) -> None:
        metric, got = self.reference(case)
        images, items = self.data(case)
        want = case.functional(metric, images, items)
        assert any(f is not None for f in (want.values, want.per_sample, want.per_segment, want.groups))
        assert_outcomes_close(got, want, case.tolerance, f"{case.id}: class vs functional twin")


# ---------------------------------------------------------------------- two processes
def _distributed_worker(rank: int, tester: MetricTester, cases: Sequence[MetricCase], store: str, out: str) -> None:
    torch.set_num_threads(1)
    # a file store needs no free port; the timeout turns a hung collective into an error
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2,
                                         timeout=datetime.timedelta(seconds=120))
    try:
        results = {}
        for case in cases:
            images, items = tester.data(case)
            n = len(images)
            mine = list(range(n // 2)) if rank == 0 else list(range(n // 2, n))  # gathered as rank 0, rank 1
            metric = feed(tester.fresh(case), images, items, chunks(mine, 2))
            results[case.id] = observe(metric, tester.labels(case, items))
        if rank == 0:
            Path(out).write_bytes(pickle.dumps(results))
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def check_distributed(tester: MetricTester, cases: Sequence[MetricCase], out_dir: Path) -> None:
    """Every case in one run of two gloo processes, each fed half the samples; torchmetrics' sync in
    ``compute`` (and an explicit ``sync`` for per-sample scores) must give what one process gives.

    The processes are forked after the parent built every case's prototype, so they load no model and
    import nothing (as DataLoader workers, they run with one thread).
    """
    import torch.multiprocessing as mp

    for case in cases:
        tester.reference(case)
    out = out_dir / "distributed.pkl"
    mp.start_processes(_distributed_worker, args=(tester, list(cases), str(out_dir / "store"), str(out)),
                       nprocs=2, join=True, start_method="fork")
    results = pickle.loads(out.read_bytes())
    for case in cases:
        assert_outcomes_close(results[case.id], tester.reference(case)[1], case.tolerance,
                              f"{case.id}: 2 processes (gloo)")


# ---------------------------------------------------------------------- the cases
def _item(id_: str, prompt: str, **kw: Any) -> Any:
    from longbench.suites.base import Item

    return Item(id=id_, prompt=prompt, **kw)


def _random_pils(n: int, seed: int) -> list[Any]:
    """Random RGB images of two sizes (interleaved), so batches mix sizes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = [(64, 64), (48, 80)]
    return [Image.fromarray(rng.integers(0, 256, (*sizes[i % 2], 3), dtype=np.uint8)) for i in range(n)]


CLIP_ITEMS = [
    ("a", "A red fox sits in the snow. The sky is pale blue; a lone pine stands left? Soft light.", None),
    ("b", "Two dogs chase a ball", ("Two dogs chase a ball",)),
    ("c", "A boat on a lake. The water is very " + "very " * 80 + "calm.", None),
    ("d", "City lights at night; rain on the road.", None),
    ("e", "A bowl of fruit. A wooden table. A window behind it.", None),
    ("f", "an astronaut riding a horse on the moon", None),
]


def _clip_data(weights: TinyWeights) -> tuple[list[Any], list[Any]]:
    return _random_pils(len(CLIP_ITEMS), seed=0), [_item(i, p, segments=s) for i, p, s in CLIP_ITEMS]


def _image_features(metric: Any, images: list[Any]) -> torch.Tensor:
    from longbench.images import to_uint8_tensors
    from longbench.metrics.functional.denscore import l2_normalize

    with torch.no_grad():
        return l2_normalize(metric.scorer.image_features(metric.scorer.standard_pixels(to_uint8_tensors(images)))
                            .float())


# clipscore
def _build_clipscore(weights: TinyWeights) -> Any:
    from longbench.metrics.clipscore import ClipScore

    return ClipScore(str(weights.clip()))


def _functional_clipscore(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.metrics.functional.clipscore import clip_score

    x = _image_features(metric, images)
    with torch.no_grad():
        t = metric.scorer.normalized_text_features([it.prompt for it in items])
    return Outcome(per_sample={"clipscore": clip_score(x, t).tolist()})


# denscore
def _build_denscore(weights: TinyWeights) -> Any:
    from longbench.metrics.denscore import Denscore

    prompts = [p for _, p, _ in CLIP_ITEMS] + ["Green hills under rain. A red barn."]
    path = str(weights.clip())
    return Denscore(path, path, direction_prompts=prompts)


def _functional_denscore(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.images import to_float_batches
    from longbench.metrics.denscore import split_prompts
    from longbench.metrics.functional import denscore as F

    scorer = metric.scorer
    with torch.no_grad():
        x = torch.zeros(len(images), metric.direction.numel())
        for idx, batch in to_float_batches(images):
            pixels = F.reward_preprocess(batch, image_size=scorer.image_size, mean=scorer.image_mean,
                                         std=scorer.image_std)
            x[idx] = F.l2_normalize(scorer.image_features(pixels).float())
        segments, owners = split_prompts([it.prompt for it in items], scorer, metric.splitter)
        dense, dense_o, per_segment = F.denscore_scores(x, scorer.normalized_text_features(segments), owners,
                                                        metric.direction)
    counts = torch.bincount(torch.tensor(owners), minlength=len(images)).tolist()
    return Outcome(per_sample={"denscore": dense.tolist(), "denscore-o": dense_o.tolist()},
                   per_segment=[c.tolist() for c in torch.split(per_segment.double(), counts)])


# segment-align
def _build_segment_align(weights: TinyWeights) -> Any:
    from longbench.metrics.segment_align import SegmentAlign

    return SegmentAlign(str(weights.clip()), others=3, item_order=[i for i, _, _ in CLIP_ITEMS],
                        order_source="contract test")


def _functional_segment_align(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.metrics.functional import segment_align as F
    from longbench.metrics.segment_align import item_key, other_sets

    x = _image_features(metric, images)
    segments = [metric.segments_of(it) for it in items]
    counts = torch.tensor([len(s) for s in segments])
    with torch.no_grad():
        s = metric.scorer.normalized_text_features([t for ss in segments for t in ss]).float()
    order = {item_key(i): p for p, (i, _, _) in enumerate(CLIP_ITEMS)}
    others = other_sets(torch.tensor([item_key(it.id) for it in items]), order, metric.others)
    cols = F.segment_align(x, s, counts, others)
    own = F.own_segment_scores(x, s, counts)
    return Outcome(per_sample={k: v.tolist() for k, v in cols.items()},
                   per_segment=[c.tolist() for c in torch.split(own, counts.tolist())])


# caption-match
def _build_caption_match(weights: TinyWeights) -> Any:
    from longbench.metrics.caption_match import CaptionMatch

    return CaptionMatch(str(weights.blip_captioner()))


def _functional_caption_match(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    """Every whole prompt that fits and every segment of all samples in one decoder forward."""
    from longbench.images import to_float_batches
    from longbench.metrics.functional import caption_match as F

    cap = metric.captioner
    with torch.no_grad():
        pixels = torch.zeros(len(images), 3, cap.image_size, cap.image_size)
        for idx, batch in to_float_batches(images):
            pixels[idx] = F.caption_pixels(batch, cap.image_size, cap.image_mean, cap.image_std)
        embeds = cap.model.vision_model(pixel_values=pixels).last_hidden_state
        whole = [i for i, it in enumerate(items) if cap.fits(it.prompt)]
        segments = [metric.segments_of(it) for it in items]
        texts = [items[i].prompt for i in whole] + [s for ss in segments for s in ss]
        owners = whole + [i for i, ss in enumerate(segments) for _ in ss]
        ids, mask = cap.encode(texts)
        logits = cap.model.text_decoder(input_ids=ids, attention_mask=mask, encoder_hidden_states=embeds[owners]).logits
        scores = F.caption_log_likelihood(logits, ids, F.label_mask(mask, cap.prefix_length), metric.label_smoothing)
    whole_scores = torch.full((len(items),), math.nan, dtype=torch.float64)
    whole_scores[whole] = scores[:len(whole)]
    counts = torch.tensor([len(ss) for ss in segments])
    cols = F.caption_match(whole_scores, scores[len(whole):], counts)
    return Outcome(per_sample={k: v.tolist() for k, v in cols.items()},
                   per_segment=[c.tolist() for c in torch.split(scores[len(whole):], counts.tolist())])


# synth and count on the synthetic world
def _synth_data(weights: TinyWeights) -> tuple[list[Any], list[Any]]:
    """Synthetic items; images drawn with 0-3 of each item's facts broken, so scores vary."""
    from longbench.synth.render import Renderer
    from longbench.synth.suite import make_items
    from longbench.synth.views import corrupt_scene

    items = make_items(6, seed=1)
    renderer = Renderer(128)
    return [renderer.render(corrupt_scene(it, k=i % 4, seed=i), seed=i) for i, it in enumerate(items)], items


def _build_synth(weights: TinyWeights) -> Any:
    from longbench.synth.metric import SynthFactsMetric

    return SynthFactsMetric()


def _functional_synth(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.metrics.functional.synth import COLUMNS, fact_scores, sentence_scores
    from longbench.synth.check import fact_holds
    from longbench.synth.detect import Detector
    from longbench.synth.views import fact_last_tokens, item_scene
    from longbench.synth.world import BASE_SIZE, visible

    detector = Detector(BASE_SIZE)
    per: dict[str, list[float]] = {col: [] for col in COLUMNS}
    segments = []
    for image, item in zip(images, items):
        detection = detector.detect(image)
        holds = [fact_holds(f, item_scene(item), detection) for f in item.facts]
        inside = [visible(t) for t in fact_last_tokens(item)]
        for col, v in fact_scores([f.type for f in item.facts], holds, inside).items():
            per[col].append(v)
        segments.append(sentence_scores([f.sentence for f in item.facts], holds, len(item.segments)))
    return Outcome(per_sample=per, per_segment=segments)


def _build_count_synth(weights: TinyWeights) -> Any:
    from longbench.metrics.count import CountMetric

    return CountMetric(detector="synth")  # the synthetic world's exact detector (what synth suites declare)


def _functional_count_synth(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.metrics.functional.count import count_scores
    from longbench.synth.detect import Detector
    from longbench.synth.views import item_scene
    from longbench.synth.world import BASE_SIZE

    detector = Detector(BASE_SIZE)
    per: dict[str, list[float]] = {col: [] for col in metric.columns}
    for image, item in zip(images, items):
        detection, scene = detector.detect(image), item_scene(item)
        predicted = [len(detection.entity(scene.group(e.name).colour, scene.group(e.name).shape))
                     for e in item.entities]
        for col, v in count_scores([e.count for e in item.entities], predicted).items():
            per[col].append(v)
    return Outcome(per_sample=per)


# mini: the miniature world's exact reader
def _mini_data(weights: TinyWeights) -> tuple[list[Any], list[Any]]:
    """Miniature items; images drawn with 0-3 of each item's facts broken."""
    from longbench.mini.render import Renderer
    from longbench.mini.suite import make_items
    from longbench.mini.views import corrupt_scene

    items = make_items(6, seed=11, prefix="contract")
    renderer = Renderer()
    return [renderer.render(corrupt_scene(it, k=i % 4, seed=i), seed=i) for i, it in enumerate(items)], items


def _build_mini(weights: TinyWeights) -> Any:
    from longbench.mini.metric import MiniFactsMetric

    return MiniFactsMetric()


def _functional_mini(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.metrics.functional.synth import COLUMNS, fact_scores, sentence_scores
    from longbench.mini.read import Reader, fact_holds
    from longbench.mini.views import fact_last_tokens
    from longbench.mini.world import visible

    reader = Reader()
    per: dict[str, list[float]] = {col: [] for col in COLUMNS}
    segments = []
    for image, item in zip(images, items):
        reading = reader.read(image)
        holds = [fact_holds(f, reading) for f in item.facts]
        inside = [visible(last) for last in fact_last_tokens(item)]
        for col, v in fact_scores([f.type for f in item.facts], holds, inside).items():
            per[col].append(v)
        segments.append(sentence_scores([f.sentence for f in item.facts], holds, len(item.segments)))
    return Outcome(per_sample=per, per_segment=segments)


# vqa: the exact synth judge answers questions generated from the synthetic items' facts
def _build_vqa(weights: TinyWeights) -> Any:
    from longbench.metrics.vqa import VQAMetric

    return VQAMetric("synth")


def _functional_vqa(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.judges.base import JudgeRequest
    from longbench.judges.questions import item_questions, parents_by_index, question_last_tokens
    from longbench.metrics.functional import vqa as F
    from longbench.metrics.vqa import BASE_COLUMNS
    from longbench.synth.world import visible
    from longbench.text.tokenizer import TokenCounter

    counter = TokenCounter()
    per: dict[str, list[float]] = {col: [] for col in metric.sample_columns}
    segments = []
    for image, item in zip(images, items):
        qs = item_questions(item)
        [answers] = metric.judge.answer([JudgeRequest(image, tuple(qs), item)])
        last = question_last_tokens(item, qs, counter)
        _, _, tile = F.tile_scores(
            [F.answer_kind(a.text) for a in answers], [math.nan if a.p_yes is None else a.p_yes for a in answers],
            parents_by_index(qs),
            inside=[t is not None and visible(t) for t in last], beyond=[t is not None and not visible(t) for t in last],
            categories=[q.category for q in qs], sentences=[q.fact.sentence if q.fact else None for q in qs],
            category_names=metric.categories, n_sentences=len(item.segments))
        values = F.mean_over_tiles([tile])
        for col in BASE_COLUMNS:
            per[col].append(values[col])
        for cat in metric.categories:
            per[f"vqa-hard:{F.category_slug(cat)}"].append(values[f"category:{cat}"])
        segments.append([values[f"sentence:{i}"] for i in range(len(item.segments))])
    return Outcome(per_sample=per, per_segment=segments)


# count with a learned (tiny random OWLv2) detector
OWL_THRESHOLD = 0.77  # in a wide gap of the tiny detector's box scores (0.70 .. 0.84): no box near it


def _owl_data(weights: TinyWeights) -> tuple[list[Any], list[Any]]:
    from longbench.suites.base import Entity

    ents = [(("cat", 2), ("dog", 1)), (("bird", 0),), (("tree", None), ("car", 3)), (("cat", 1),),
            (("dog", 2), ("bird", None), ("tree", 1)), ()]
    items = [_item(f"o{i}", "a scene", entities=tuple(Entity(n, c) for n, c in e)) for i, e in enumerate(ents)]
    return _random_pils(len(items), seed=1), items


def _build_count_owlv2(weights: TinyWeights) -> Any:
    from longbench.metrics.count import CountMetric, load_detector

    return CountMetric(detector=load_detector("owlv2", str(weights.owlv2())), score_threshold=OWL_THRESHOLD)


def _functional_count_owlv2(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.metrics.functional.count import count_boxes, count_scores

    queries = [[e.name for e in it.entities] for it in items]
    detections = metric.detector.detect(images, queries)
    per: dict[str, list[float]] = {col: [] for col in metric.columns}
    fired = 0
    for item, per_query in zip(items, detections):
        # exact comparisons are safe only if no box score lies within float32 noise of the threshold
        for _, scores in per_query:
            assert (scores - OWL_THRESHOLD).abs().min() > 1e-4 if scores.numel() else True
        predicted = [count_boxes(b, s, metric.score_threshold, metric.nms_iou) for b, s in per_query]
        fired += sum(predicted)
        for col, v in count_scores([e.count for e in item.entities], predicted).items():
            per[col].append(v)
    assert fired > 0, "the tiny detector must fire at the threshold for the case to mean anything"
    return Outcome(per_sample=per)


# fid and fid-clip
FID_PROMPTS = ["A red cube on a table.", " ".join(["A small green bird sits on an old oak near the river."] * 8)]


def _fid_data(n: int) -> Callable[[TinyWeights], tuple[list[Any], list[Any]]]:
    def data(weights: TinyWeights) -> tuple[list[Any], list[Any]]:
        from tests.helpers_fid import random_images

        return random_images(n, seed=20, size=32), [_item(f"f{i}", FID_PROMPTS[i % 2]) for i in range(n)]
    return data


def _fid_groups(items: list[Any]) -> list[str]:
    from longbench.text.tokenizer import TokenCounter, length_bucket

    counter = TokenCounter()
    return [length_bucket(m + 2) for m in counter.many([it.prompt for it in items])]


def _with_reference(metric: Any, npz: Path, n: int) -> Any:
    """Reference statistics of ``n`` fixed random images, computed by the metric once, then read from ``npz``."""
    from tests.helpers_fid import random_images

    if not npz.is_file():
        metric.reference_from_images(random_images(n, seed=21, size=32))
        metric.save_reference(npz)
    metric.load_reference(npz)
    return metric


def _build_fid(weights: TinyWeights) -> Any:
    from longbench.metrics.fid import FID

    # one set of statistics: the per-bucket machinery is fid-clip's too, and syncing 4 buckets of 2048x2048
    # float64 outer-product sums between processes would dominate the contract's run time
    return _with_reference(FID(weights=str(weights.inception()), by_bucket=False, batch_size=2),
                           weights.root / "fid-ref.npz", n=3)


def _build_fid_clip(weights: TinyWeights) -> Any:
    from longbench.metrics.fid_clip import CLIPFID

    return _with_reference(CLIPFID(model=str(weights.open_clip()), batch_size=2), weights.root / "fid-clip-ref.npz",
                           n=6)


def _functional_fid(metric: Any, images: list[Any], items: list[Any]) -> Outcome:
    from longbench.images import to_uint8_tensors
    from longbench.metrics.functional.fid import fid_from_features

    ref = metric.reference()
    feats = metric.extractor(to_uint8_tensors(images))
    groups = None
    if metric.by_bucket:
        labels = _fid_groups(items)
        groups = {label: {metric.name: fid_from_features(feats[[i for i, g in enumerate(labels) if g == label]],
                                                         ref["mu"], ref["sigma"])} for label in dict.fromkeys(labels)}
    return Outcome(values={metric.name: fid_from_features(feats, ref["mu"], ref["sigma"])}, per_sample={},
                   groups=groups)


#: float32 network features (batch-dependent by a few ulps) → float64 statistics; measured at most 1.4e-7
#: relative (fid-clip's functional twin sees all images in one batch), the bound leaves room for other BLAS
FID_TOLERANCE = Tolerance(rtol=1e-5)

#: mean log-likelihoods (|score| ~ 5) from float32 logits of a decoder whose padded width and batch change with
#: the batch composition; measured at most 2e-7 absolute (1 or 2 threads)
CAPTION_TOLERANCE = Tolerance(rtol=1e-5, atol=1e-5)

CASES: list[MetricCase] = [
    MetricCase("synth", "synth", _build_synth, _synth_data, _functional_synth, EXACT),
    MetricCase("mini", "mini", _build_mini, _mini_data, _functional_mini, EXACT),
    MetricCase("vqa", "vqa", _build_vqa, _synth_data, _functional_vqa, EXACT),
    MetricCase("count-synth", "count", _build_count_synth, _synth_data, _functional_count_synth, EXACT),
    MetricCase("count-owlv2", "count", _build_count_owlv2, _owl_data, _functional_count_owlv2, EXACT),
    MetricCase("clipscore", "clipscore", _build_clipscore, _clip_data, _functional_clipscore, FLOAT32_X100),
    MetricCase("denscore", "denscore", _build_denscore, _clip_data, _functional_denscore, FLOAT32_X100),
    MetricCase("segment-align", "segment-align", _build_segment_align, _clip_data, _functional_segment_align,
               FLOAT32_X100),
    MetricCase("caption-match", "caption-match", _build_caption_match, _clip_data, _functional_caption_match,
               CAPTION_TOLERANCE),
    MetricCase("fid", "fid", _build_fid, _fid_data(4), _functional_fid, FID_TOLERANCE),
    MetricCase("fid-clip", "fid-clip", _build_fid_clip, _fid_data(6), _functional_fid, FID_TOLERANCE,
               groups=_fid_groups),
]
