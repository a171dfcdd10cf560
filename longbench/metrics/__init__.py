"""Metrics. ``BUILTIN`` maps metric names to lazy metric classes (see ``longbench.metrics.base``)."""

BUILTIN = {
    "fid": "longbench.metrics.fid:FID",
    "fid-clip": "longbench.metrics.fid:CLIPFID",
    "synth": "longbench.synth.metric:SynthFactsMetric",
    "denscore": "longbench.metrics.denscore:Denscore",
    "clipscore": "longbench.metrics.clipscore:ClipScore",
    "segment-align": "longbench.metrics.segment_align:SegmentAlign",
    "count": "longbench.metrics.count:CountMetric",
}
