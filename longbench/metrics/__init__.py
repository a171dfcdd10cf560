"""Metrics. ``BUILTIN`` maps metric names to lazy metric classes (see ``longbench.metrics.base``).

Each entry declares what ``longbench metrics list`` shows (columns with their direction, the
``--metric-arg`` options dataclass of :mod:`longbench.metrics.options`, a one-line summary) and where
``longbench doctor`` checks its default weights (``longbench.metrics.weights_status``), so neither imports a
metric; ``tests/test_cli_listing.py`` checks every declaration against its class.

``BUILTIN_DETECTORS``: the built-in detectors of the ``count`` metric (registry ``DETECTORS``, entry-point
group ``longbench.detectors``; see :class:`longbench.metrics.count.Detector`).
"""

from longbench.metrics import options as O
from longbench.registry import Entry

_SYNTH_COLUMNS = {f"{m}{b}": True for m in ("fact_recall", "count_acc", "binding_acc", "position_acc")
                  for b in ("", "@<=77", "@>77")}

BUILTIN = {
    "fid": Entry(
        "longbench.metrics.fid:FID", "FID on the torch-fidelity Inception-v3 pool features, against the suite's "
        "reference images", columns={"fid": False}, options=O.FIDOptions,
        weights="longbench.metrics.weights_status:fid"),
    "fid-clip": Entry(
        "longbench.metrics.fid_clip:CLIPFID", "FID on an open_clip image tower's embeddings (default ViT-B-32/openai)",
        columns={"fid-clip": False},
        options=O.CLIPFIDOptions, weights="longbench.metrics.weights_status:fid_clip"),
    "synth": Entry(
        "longbench.synth.metric:SynthFactsMetric", "exact fact recall, counts, binding and positions of synth "
        "images, split by whether a fact is stated within 77 tokens", columns=_SYNTH_COLUMNS, weights=""),
    "mini": Entry(
        "longbench.mini.metric:MiniFactsMetric", "exact fact recall, counts, colour binding and quadrants of "
        "miniature images, split by whether every token of a fact lies within 77", columns=_SYNTH_COLUMNS,
        weights=""),
    "denscore": Entry(
        "longbench.metrics.denscore:Denscore", "segment-level preference score: text-relevant part (denscore) "
        "and original score (denscore-o), x100", columns={"denscore": True, "denscore-o": True},
        options=O.DenscoreOptions,
        weights="longbench.metrics.weights_status:denscore"),
    "clipscore": Entry(
        "longbench.metrics.clipscore:ClipScore", "CLIPScore max(100 cos, 0) with the prompt truncated at 77 tokens",
        columns={"clipscore": True},
        options=O.ClipScoreOptions,
        weights="longbench.metrics.weights_status:clipscore"),
    "segment-align": Entry(
        "longbench.metrics.segment_align:SegmentAlign", "every sentence of the prompt scored against the image: "
        "mean, worst, and coverage against other items' images",
        columns={"segment-align-mean": True, "segment-align-min": True, "segment-coverage": True},
        options=O.SegmentAlignOptions, weights="longbench.metrics.weights_status:segment_align"),
    "count": Entry(
        "longbench.metrics.count:CountMetric", "entity counts and presence from a zero-shot detector (OWLv2, "
        "Grounding DINO, or synth: the exact one synthetic suites declare)",
        columns={"count-acc": True, "count-mae": False, "presence-recall": True},
        options=O.CountOptions, weights="longbench.metrics.weights_status:count"),
    "vqa": Entry(
        "longbench.metrics.vqa:VQAMetric", "a judge (exact synth, python:, or a local VLM) answers yes/no questions "
        "from the facts or the suite (DSG, DPG-Bench): hard and soft scores, per category, beyond 77 tokens",
        columns={"vqa-hard": True, "vqa-soft": True, "vqa-hard@<=77": True, "vqa-hard@>77": True,
                 "vqa-soft@<=77": True, "vqa-soft@>77": True, "vqa-neither": False},
        options=O.VQAOptions, weights="longbench.metrics.weights_status:vqa"),
    "caption-match": Entry(
        "longbench.metrics.caption_match:CaptionMatch", "CoMat's concept matching: a BLIP captioner's mean "
        "log-likelihood per token of the prompt given the image, whole prompt and per sentence",
        columns={"caption-match": True, "caption-match-seg": True},
        options=O.CaptionMatchOptions, weights="longbench.metrics.weights_status:caption_match"),
}

BUILTIN_DETECTORS = {
    "owlv2": "longbench.metrics.count:Owlv2Detector",
    "grounding-dino": "longbench.metrics.count:GroundingDinoDetector",
    "synth": "longbench.synth.count_detector:SynthCountDetector",
}
