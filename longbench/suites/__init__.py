"""Prompt suites. ``BUILTIN`` maps suite names to lazy loaders (callables returning a Suite)."""

BUILTIN = {
    "synth-v0": "longbench.synth.suite:synth_v0",
    "longbench-v1": "longbench.suites.builtin:longbench_v1",
}
