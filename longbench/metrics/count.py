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

from longbench.errors import LongbenchError
from longbench.metrics.base import MetricContext, PerSampleMetric
from longbench.metrics.functional.count import count_boxes, count_scores

if TYPE_CHECKING:
    from PIL import Image

    from longbench.suites.base import Entity

logger = logging.getLogger(__name__)

DETECTORS = {
    "owlv2": {"model": "google/owlv2-base-patch16-ensemble", "score_threshold": 0.3},
    "grounding-dino": {"model": "IDEA-Research/grounding-dino-tiny", "score_threshold": 0.35},
}
#: the synthetic world's exact detector (no weights; thresholds do not apply)
SYNTH_DETECTOR = "synth"
DETECTOR_CHOICES = (*DETECTORS, SYNTH_DETECTOR)
DEFAULT_NMS_IOU = 0.5


# ---------------------------------------------------------------------- pure logic
def image_scores(entities: Sequence[Entity], predicted: Sequence[int]) -> dict[str, float]:
    """The three per-image columns from stated entities and predicted counts (NaN when undefined)."""
    return count_scores([e.count for e in entities], predicted)


def entities_of(item: Any) -> list[Entity]:
    """Suite annotations, else the count parser on the prompt (when that module is installed)."""
    if getattr(item, "entities", ()):
        return list(item.entities)
    prompt = item if isinstance(item, str) else item.prompt
    try:
        from longbench.suites.counts import parse_counts
    except ImportError:  # the parser is optional; without it unannotated items simply have no entities
        logger.debug("count parser not available; item without entities is skipped")
        return []
    return list(parse_counts(prompt))


# ---------------------------------------------------------------------- detectors
class Detector(ABC):
    """A zero-shot detector queried with entity names."""

    name: ClassVar[str] = ""

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

    def __init__(self, model: Any, processor: Any, *, query_template: str = "{}", identity: dict | None = None):
        self.model = model
        self.processor = processor
        self.query_template = query_template
        self.identity = dict(identity or {})

    def protocol(self) -> dict[str, Any]:
        return {"detector": self.name, **self.identity, "query_template": self.query_template}


class Owlv2Detector(TransformersDetector):
    """OWLv2 through transformers: one forward per batch, all of an image's queries at once; a box's score
    for a query is the sigmoid of its logit for that query (not the max over queries, so one box may count
    for two entities, as a per-entity query would)."""

    name = "owlv2"

    @torch.no_grad()
    def detect(self, images, queries):
        from transformers.image_transforms import center_to_corners_format

        texts = [[self.query_template.format(q) for q in qs] or [" "] for qs in queries]
        device = next(self.model.parameters()).device
        inputs = self.processor(text=texts, images=list(images), return_tensors="pt")
        inputs = {k: v.to(device) for k, v in inputs.items()}
        out = self.model(**inputs)
        logits = out.logits.float()  # (B, boxes, max queries)
        boxes = center_to_corners_format(out.pred_boxes.float())  # relative to the padded square
        results = []
        for b, (img, qs) in enumerate(zip(images, queries)):
            side = float(max(img.size))  # OWLv2 pads to a square: the box scale is the longer side
            results.append([(boxes[b] * side, torch.sigmoid(logits[b, :, j])) for j in range(len(qs))])
        return results


class GroundingDinoDetector(TransformersDetector):
    """Grounding DINO through transformers: one (image, entity) pair per batch row, the text ``"<name>."``;
    a box's score is its best token probability (the processor's grounded post-processing)."""

    name = "grounding-dino"

    @torch.no_grad()
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


def load_detector(kind: str, model: str | None = None, processor: str | None = None, *, device: str = "cpu",
                  query_template: str = "{}", trust_remote_code: bool = False) -> Detector:
    """Load an OWLv2 or Grounding DINO detector offline (HF id or local directory)."""
    from longbench.errors import MissingWeightsError
    from longbench.weights import dir_fingerprint, from_pretrained_strict, resolve

    if kind not in DETECTORS:
        raise LongbenchError(f"count: unknown detector {kind!r} (choose from {', '.join(DETECTOR_CHOICES)})")
    model_spec = model or DETECTORS[kind]["model"]
    proc_spec = processor or model_spec
    path = resolve(model_spec, what=f"{kind} detector")
    proc_path = resolve(proc_spec, what=f"{kind} detector processor")
    from transformers import AutoProcessor

    try:
        if kind == "owlv2":
            from transformers import Owlv2ForObjectDetection as cls
        else:
            from transformers import GroundingDinoForObjectDetection as cls
        # strict: a partial checkpoint is an error naming the keys, never a half-random detector
        net = from_pretrained_strict(cls, path, what=f"{kind} detector", local_files_only=True,
                                     trust_remote_code=trust_remote_code)
        proc = AutoProcessor.from_pretrained(str(proc_path), local_files_only=True,
                                             trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MissingWeightsError(f"{kind} detector {model_spec!r}: cannot load from {path} ({first})") from None
    net = net.to(device).eval().requires_grad_(False)
    identity = {"model": model_spec, "model_fingerprint": dir_fingerprint(path), "processor": proc_spec}
    det_cls = Owlv2Detector if kind == "owlv2" else GroundingDinoDetector
    return det_cls(net, proc, query_template=query_template, identity=identity)


# ---------------------------------------------------------------------- metric
class CountMetric(PerSampleMetric):
    """``count-acc``, ``count-mae`` and ``presence-recall`` (see module docstring).

    Args:
        detector: ``"owlv2"`` / ``"grounding-dino"`` / ``"synth"``, or a :class:`Detector` instance.
        model: detector weights (HF id or directory); defaults per detector (unused by ``synth``).
        processor: detector processor (defaults to ``model``).
        score_threshold: box score threshold (default 0.3 for OWLv2, 0.35 for Grounding DINO).
        nms_iou: NMS IoU threshold.
        query_template: format string turning an entity name into the query (``"{}"`` = the bare name).
        synth_image_size: working size of the ``synth`` detector.
        device: torch device.
        trust_remote_code: passed to transformers.
    """

    name: ClassVar[str] = "count"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {"count-acc": True, "count-mae": False, "presence-recall": True}

    def __init__(self, detector: str | Detector = "owlv2", model: str | None = None, processor: str | None = None,
                 *, score_threshold: float | None = None, nms_iou: float = DEFAULT_NMS_IOU,
                 query_template: str = "{}", synth_image_size: int | None = None, device: str = "cpu",
                 trust_remote_code: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(detector, str) and detector not in DETECTOR_CHOICES:
            raise LongbenchError(f"count: unknown detector {detector!r} (choose from {', '.join(DETECTOR_CHOICES)})")
        if "{}" not in query_template:
            raise LongbenchError(f"count: query_template {query_template!r} must contain '{{}}' for the entity name")
        kind = detector if isinstance(detector, str) else detector.name
        self.score_threshold = float(score_threshold if score_threshold is not None
                                     else DETECTORS.get(kind, {}).get("score_threshold", 0.3))
        self.nms_iou = float(nms_iou)
        if not (0.0 <= self.score_threshold < 1.0 and 0.0 < self.nms_iou <= 1.0):
            raise LongbenchError("count: score_threshold must be in [0,1) and nms_iou in (0,1]")
        self._detector = detector if isinstance(detector, Detector) else None
        self._load_args = {"kind": kind, "model": model, "processor": processor, "device": device,
                           "query_template": query_template, "trust_remote_code": trust_remote_code}
        if kind == SYNTH_DETECTOR and (model or processor):
            logger.warning("count: the synth detector reads images exactly; model/processor are not used")
        self._synth_image_size = synth_image_size
        self.add_state("n_detector", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    @classmethod
    def from_context(cls, ctx: MetricContext, **options: Any) -> CountMetric:
        from longbench.metrics.options import coerce_options, parse_bool

        options = coerce_options(cls.name, options, {
            "detector": str, "model": str, "processor": str, "score_threshold": float, "nms_iou": float,
            "query_template": str, "synth_image_size": int, "device": str, "trust_remote_code": parse_bool})
        options.setdefault("device", ctx.device)
        return cls(**options, **ctx.metric_kwargs)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        from longbench.metrics.denscore import _weights_status

        return _weights_status([("owlv2 detector", DETECTORS["owlv2"]["model"])])

    @property
    def detector(self) -> Detector:
        """The detector, built (weights loaded) on first use."""
        if self._detector is None:
            if self._load_args["kind"] == SYNTH_DETECTOR:
                from longbench.synth.count_detector import SynthCountDetector

                self._detector = SynthCountDetector(self._synth_image_size)
            else:
                self._detector = load_detector(**self._load_args)
        return self._detector

    def predicted_counts(self, images: Sequence[Any], entity_lists: Sequence[Sequence[Entity]]) -> list[list[int]]:
        """Predicted count of every entity of every image (images without entities are not looked at)."""
        from longbench.models.base import to_rgb

        out: list[list[int]] = [[] for _ in images]
        todo = [i for i, ents in enumerate(entity_lists) if ents]
        if todo:
            pil = [to_rgb(images[i], where=f"count image {i}") for i in todo]
            queries = [[e.name for e in entity_lists[i]] for i in todo]
            counts = self.detector.count(pil, queries, score_threshold=self.score_threshold, nms_iou=self.nms_iou)
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
            "detector": self._load_args["kind"], "model": self._load_args["model"]
            or DETECTORS.get(self._load_args["kind"], {}).get("model"), "loaded": False}
        return {"name": self.name, "version": self.version, **det, "score_threshold": self.score_threshold,
                "nms_iou": self.nms_iou, "entities": "suite annotations, else longbench.suites.counts.parse_counts",
                "images_by_detector": int(self.n_detector)}
