"""Entity counting (``count``): does the image show the entities the prompt asks for, as many as it says?

Entities come from the suite (``item.entities``: name + stated count, None when no number is stated); an item
without annotations is parsed with the count parser (:func:`longbench.suites.counts.parse_counts`). A
zero-shot detector is queried once per entity name; the entity's predicted count is the number of boxes
whose score for that query is above ``score_threshold`` after non-maximum suppression (IoU ``nms_iou``,
``torchvision.ops.nms``). Detectors: OWLv2 (default, ``google/owlv2-base-patch16-ensemble``) or Grounding DINO
(``IDEA-Research/grounding-dino-tiny``), both through transformers, or ``synth``, the synthetic world's exact
reader (:mod:`longbench.synth.count_detector`), which synthetic suites declare as their default so a synth
run needs no weights.

Per image (NaN when the image has no entity of the kind):

* ``count-acc`` — share of entities with a stated count (0 included) whose predicted count equals it;
* ``count-mae`` — mean |predicted − stated| over the same entities (lower is better);
* ``presence-recall`` — share of the entities that must appear (no count, or count ≥ 1) detected at least once.

An entity with count 0 must be absent: it is correct when no box survives and enters ``count-acc`` and
``count-mae`` but not ``presence-recall``. A detector returning no boxes is a predicted count of 0.
The run-level value of each column is the mean over images (the runner bootstraps CIs over images).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from longbench.devices import device_dtype
from longbench.errors import LongbenchError
from longbench.images import ImageBatch, as_image_batch
from longbench.metrics.base import PerSampleMetric
from longbench.metrics.functional.count import count_boxes, count_scores
from longbench.metrics.options import OWLV2_MODEL, CountOptions

if TYPE_CHECKING:
    from PIL import Image

    from longbench.suites.base import Entity

logger = logging.getLogger(__name__)

DEFAULT_NMS_IOU = CountOptions.nms_iou


# ---------------------------------------------------------------------- pure logic
def image_scores(entities: Sequence[Entity], predicted: Sequence[int]) -> dict[str, float]:
    """The three per-image columns from stated entities and predicted counts (NaN when undefined)."""
    return count_scores([e.count for e in entities], predicted)


def entities_of(item: Any) -> list[Entity]:
    """Suite annotations, else the count parser on the prompt."""
    if getattr(item, "entities", ()):
        return list(item.entities)
    prompt = item if isinstance(item, str) else item.prompt
    from longbench.suites.counts import parse_counts

    return list(parse_counts(prompt))


# ---------------------------------------------------------------------- detectors
class Detector(ABC):
    """A zero-shot detector queried with entity names.

    Detectors are registered by name in ``longbench.registry.DETECTORS`` (entry-point group
    ``longbench.detectors``); the ``count`` metric builds the one its ``detector`` option names with
    :meth:`load`.
    """

    name: ClassVar[str] = ""
    #: weights loaded when the ``model`` option is not set (None: the detector has no weights)
    default_model: ClassVar[str | None] = None
    #: box score threshold when the ``score_threshold`` option is not set
    default_score_threshold: ClassVar[float] = 0.3

    @classmethod
    def load(cls, model: str | None = None, processor: str | None = None, *, device: str = "cpu",
             query_template: str = "{}", trust_remote_code: bool = False, image_size: int | None = None,
             dtype: str = "float32") -> Detector:
        """The detector built from the ``count`` options (its weights loaded offline); a detector ignores the
        options that do not apply to it. The default builds ``cls()``."""
        return cls()

    #: whether ``detect``/``count`` take an :class:`~longbench.images.ImageBatch` (uint8 tensors, preprocessed
    #: batched on the detector's device) instead of a list of PIL images
    takes_tensors: ClassVar[bool] = False

    @abstractmethod
    def detect(self, images: Sequence[Image.Image], queries: Sequence[Sequence[str]]
               ) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        """Per image, per query: ``(boxes (N,4) xyxy in pixels, scores (N,))`` of every candidate box."""

    def count(self, images: Sequence[Image.Image], queries: Sequence[Sequence[str]], *, score_threshold: float,
              nms_iou: float) -> list[list[int]]:
        """Per image, per query: the predicted count, i.e. the boxes scoring above ``score_threshold`` after
        non-maximum suppression at ``nms_iou``. An exact detector overrides this."""
        return [[count_boxes(b, s, score_threshold, nms_iou) for b, s in per_query]
                for per_query in self.detect(images, queries)]

    def protocol(self) -> dict[str, Any]:
        return {"detector": self.name}


class TransformersDetector(Detector):
    """A detector backed by a transformers model and its processor."""

    #: the transformers class of the detection model
    model_class: ClassVar[str] = ""

    def __init__(self, model: Any, processor: Any, *, query_template: str = "{}", identity: dict | None = None):
        self.model = model
        self.processor = processor
        self.query_template = query_template
        self.identity = dict(identity or {})

    @classmethod
    def load(cls, model: str | None = None, processor: str | None = None, *, device: str = "cpu",
             query_template: str = "{}", trust_remote_code: bool = False, image_size: int | None = None,
             dtype: str = "float32") -> TransformersDetector:
        return _load_transformers_detector(cls, model, processor, device=device, query_template=query_template,
                                           trust_remote_code=trust_remote_code, dtype=dtype)

    def protocol(self) -> dict[str, Any]:
        return {"detector": self.name, **self.identity, "query_template": self.query_template}


class Owlv2Detector(TransformersDetector):
    """OWLv2 through transformers: one forward per batch, all of an image's queries at once; a box's score
    for a query is the sigmoid of its logit for that query (not the max over queries, so one box may count
    for two entities, as a per-entity query would)."""

    name = "owlv2"
    default_model = OWLV2_MODEL
    model_class = "Owlv2ForObjectDetection"

    takes_tensors = True

    @torch.inference_mode()
    def detect(self, images, queries):
        from transformers.image_transforms import center_to_corners_format

        texts = [[self.query_template.format(q) for q in qs] or [" "] for qs in queries]
        param = next(self.model.parameters())
        # uint8 tensors on the model's device: the (torchvision) image processor pads, resizes and normalises
        # the batch there, with the same values as from PIL images
        batch = as_image_batch(images, device=param.device, where="count image")
        inputs = self.processor(text=texts, images=list(batch), return_tensors="pt", device=param.device)
        inputs = {k: v.to(param.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(param.dtype)
        out = self.model(**inputs)
        logits = out.logits.float()  # (B, boxes, max queries)
        boxes = center_to_corners_format(out.pred_boxes.float())  # relative to the padded square
        results = []
        for b, ((h, w), qs) in enumerate(zip(batch.sizes, queries)):
            side = float(max(h, w))  # OWLv2 pads to a square: the box scale is the longer side
            results.append([(boxes[b] * side, torch.sigmoid(logits[b, :, j])) for j in range(len(qs))])
        return results


class GroundingDinoDetector(TransformersDetector):
    """Grounding DINO through transformers: one (image, entity) pair per batch row, the text ``"<name>."``;
    a box's score is its best token probability (the processor's grounded post-processing)."""

    name = "grounding-dino"
    default_model = "IDEA-Research/grounding-dino-tiny"
    default_score_threshold = 0.35
    model_class = "GroundingDinoForObjectDetection"

    @torch.inference_mode()
    def detect(self, images, queries):
        pairs = [(i, j) for i, qs in enumerate(queries) for j in range(len(qs))]
        if not pairs:
            return [[] for _ in queries]
        device = next(self.model.parameters()).device
        imgs = [images[i] for i, _ in pairs]
        texts = [self.query_template.format(queries[i][j]).lower().rstrip(".") + "." for i, j in pairs]
        inputs = self.processor(images=imgs, text=texts, return_tensors="pt", padding=True)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        out = self.model(**inputs)
        sizes = [(im.size[1], im.size[0]) for im in imgs]
        post = self.processor.post_process_grounded_object_detection(
            out, inputs["input_ids"], threshold=0.0, text_threshold=0.0, target_sizes=sizes)
        found = {pair: (r["boxes"].float().cpu(), r["scores"].float().cpu()) for pair, r in zip(pairs, post)}
        return [[found[(i, j)] for j in range(len(qs))] for i, qs in enumerate(queries)]


def load_detector(kind: str, model: str | None = None, processor: str | None = None, **options: Any) -> Detector:
    """The registered detector ``kind`` (``longbench.registry.DETECTORS``) built with :meth:`Detector.load`."""
    from longbench.registry import DETECTORS

    return DETECTORS.get(kind).load(model, processor, **options)


def _load_transformers_detector(cls: type[TransformersDetector], model: str | None, processor: str | None, *,
                                device: str = "cpu", query_template: str = "{}",
                                trust_remote_code: bool = False, dtype: str = "float32") -> TransformersDetector:
    """Load a transformers detector offline (HF id or local directory)."""
    import transformers

    from longbench.errors import MissingWeightsError
    from longbench.weights import dir_fingerprint, from_pretrained_strict, resolve

    kind = cls.name
    torch_dtype = device_dtype(dtype, device, "count dtype")  # refused before loading where the device cannot run it
    model_spec = model or cls.default_model
    proc_spec = processor or model_spec
    path = resolve(model_spec, what=f"{kind} detector")
    proc_path = resolve(proc_spec, what=f"{kind} detector processor")
    try:
        # strict: a partial checkpoint is an error naming the keys, never a half-random detector
        net = from_pretrained_strict(getattr(transformers, cls.model_class), path, what=f"{kind} detector",
                                     local_files_only=True, trust_remote_code=trust_remote_code)
        proc = transformers.AutoProcessor.from_pretrained(str(proc_path), local_files_only=True,
                                                          trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MissingWeightsError(f"{kind} detector {model_spec!r}: cannot load from {path} ({first})") from None
    net = net.to(device=device, dtype=torch_dtype).eval().requires_grad_(False)
    identity = {"model": model_spec, "model_fingerprint": dir_fingerprint(path), "processor": proc_spec,
                "dtype": dtype}
    return cls(net, proc, query_template=query_template, identity=identity)


# ---------------------------------------------------------------------- metric
class CountMetric(PerSampleMetric):
    """``count-acc``, ``count-mae`` and ``presence-recall`` (see module docstring).

    Args:
        detector: a registered detector (``"owlv2"``, ``"grounding-dino"``, ``"synth"``, plugins of
            ``longbench.detectors``), or a :class:`Detector` instance.
        model: detector weights (HF id or directory); defaults per detector (unused by ``synth``).
        processor: detector processor (defaults to ``model``).
        score_threshold: box score threshold (default per detector: 0.3 for OWLv2, 0.35 for Grounding DINO).
        nms_iou: NMS IoU threshold.
        query_template: format string turning an entity name into the query (``"{}"`` = the bare name).
        synth_image_size: working size of the ``synth`` detector.
        device: torch device.
        dtype: detector model dtype (``float32``; ``bfloat16``/``float16`` where the device runs them).
        trust_remote_code: passed to transformers.
    """

    name: ClassVar[str] = "count"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {"count-acc": True, "count-mae": False, "presence-recall": True}
    Options = CountOptions

    def __init__(self, detector: str | Detector = CountOptions.detector, model: str | None = None,
                 processor: str | None = None, *, score_threshold: float | None = None,
                 nms_iou: float = DEFAULT_NMS_IOU, query_template: str = CountOptions.query_template,
                 synth_image_size: int | None = None, device: str = "cpu", dtype: str = "float32",
                 trust_remote_code: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        from longbench.registry import DETECTORS

        if "{}" not in query_template:
            raise LongbenchError(f"count: query_template {query_template!r} must contain '{{}}' for the entity name")
        det_cls = DETECTORS.get(detector) if isinstance(detector, str) else type(detector)
        self.score_threshold = float(score_threshold if score_threshold is not None
                                     else det_cls.default_score_threshold)
        self.nms_iou = float(nms_iou)
        if not (0.0 <= self.score_threshold < 1.0 and 0.0 < self.nms_iou <= 1.0):
            raise LongbenchError("count: score_threshold must be in [0,1) and nms_iou in (0,1]")
        if det_cls.default_model is None and (model or processor):
            logger.warning("count: the %s detector loads no weights; model/processor are not used", det_cls.name)
        self._detector = detector if isinstance(detector, Detector) else None
        self._detector_class = det_cls
        self._load_args = {"model": model, "processor": processor, "device": device, "query_template": query_template,
                           "trust_remote_code": trust_remote_code, "image_size": synth_image_size, "dtype": dtype}
        self.add_state("n_detector", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        from longbench.metrics.weights_status import count

        return count()

    @property
    def detector(self) -> Detector:
        """The detector, built (weights loaded) on first use."""
        if self._detector is None:
            self._detector = self._detector_class.load(**self._load_args)
        return self._detector

    def predicted_counts(self, images: Sequence[Any], entity_lists: Sequence[Sequence[Entity]]) -> list[list[int]]:
        """Predicted count of every entity of every image (images without entities are not looked at)."""
        from longbench.images import to_rgb

        out: list[list[int]] = [[] for _ in images]
        todo = [i for i, ents in enumerate(entity_lists) if ents]
        if todo:
            if not self.detector.takes_tensors:
                picked: Any = [to_rgb(images[i], where=f"count image {i}") for i in todo]
            elif isinstance(images, ImageBatch):
                picked = images.select(todo)
            else:  # converted once, only the images with entities
                picked = ImageBatch.from_images([images[i] for i in todo], where=lambda k: f"count image {todo[k]}")
            queries = [[e.name for e in entity_lists[i]] for i in todo]
            counts = self.detector.count(picked, queries, score_threshold=self.score_threshold, nms_iou=self.nms_iou)
            for i, c in zip(todo, counts):
                out[i] = list(c)
            self.n_detector += len(todo)
        return out

    def score(self, images: Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]]:
        if len(images) != len(items):
            raise LongbenchError(f"count: {len(images)} images but {len(items)} items")
        entity_lists = [entities_of(it) for it in items]
        predicted = self.predicted_counts(images, entity_lists)
        out: dict[str, list[float]] = {col: [] for col in self.columns}
        for ents, pred in zip(entity_lists, predicted):
            for col, v in image_scores(ents, pred).items():
                out[col].append(v)
        return out

    def protocol(self) -> dict[str, Any]:
        det = self._detector.protocol() if self._detector is not None else {
            "detector": self._detector_class.name,
            "model": self._load_args["model"] or self._detector_class.default_model, "loaded": False}
        return {"name": self.name, "version": self.version, **det, "score_threshold": self.score_threshold,
                "nms_iou": self.nms_iou, "entities": "suite annotations, else longbench.suites.counts.parse_counts",
                "images_by_detector": int(self.n_detector)}
