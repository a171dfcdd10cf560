"""Metrics. ``BUILTIN`` maps metric names to lazy metric classes (see ``longbench.metrics.base``)."""

BUILTIN = {
    "synth": "longbench.synth.metric:SynthFactsMetric",
}
