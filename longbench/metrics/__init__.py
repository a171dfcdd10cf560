"""Metrics. ``BUILTIN`` maps metric names to lazy metric classes (see ``longbench.metrics.base``)."""

BUILTIN = {
    "synth": "longbench.synth.metric:SynthFactsMetric",
    "denscore": "longbench.metrics.denscore:Denscore",
    "clipscore": "longbench.metrics.clipscore:ClipScore",
    "segment-align": "longbench.metrics.segment_align:SegmentAlign",
    "count": "longbench.metrics.count:CountMetric",
}
