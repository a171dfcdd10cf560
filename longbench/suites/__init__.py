"""Prompt suites. ``BUILTIN`` maps suite names to lazy loaders (callables returning a Suite).

Each entry declares what ``longbench suites list`` shows (version, size, sha256), so listing neither reads
nor generates a suite; ``tests/test_cli_listing.py`` checks every declaration against the loaded suite (a
built-in suite's content changes only with its version).
"""

from longbench.registry import Entry

BUILTIN = {
    "synth-v0": Entry(
        "longbench.synth.suite:synth_v0", "the synthetic long-prompt world: scenes with known facts, exact "
        "renderer and detector (offline default)", version="1", size=240,
        sha256="8ddb8464a5c9da23778f7ec25cd1f8cfd22bd0c07edb6bf7dc976d7c67d8c35e"),
    "mini-v0": Entry(
        "longbench.mini.suite:mini_v0", "the miniature world's test split: 32x32 scenes, prompts of 50-200 CLIP "
        "tokens, per-fact visibility (train split: longbench.mini.suite.train_items)", version="0", size=200,
        sha256="bebef3d25bcc73de5569666a566e79832ec9f46f111bc6c3ec878dc2961be503"),
    "mini-v1": Entry(
        "longbench.mini.suite:mini_v1", "the miniature world with each shape in its home quadrant: prompts of "
        "70-200 CLIP tokens stating shapes, colours and counts (train split: train_items(..., layout='homes'))",
        version="1", size=200, sha256="d10215f1f9affe86ac9dc93ea5e08241b80c9862788d0d7cd630e82334e68b98"),
    "longbench-v1": Entry(
        "longbench.suites.builtin:longbench_v1", "230 annotated long prompts (about 50-390 CLIP tokens) in twelve "
        "domains", version="1", size=230,
        sha256="80dbd8c2d40604add5755293494536f98f9db5f0f792506f473a5caffc35150a"),
}
