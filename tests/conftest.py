"""Shared offline fixtures: tiny suites, a fake generator module, a tiny diffusers pipeline on disk."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

TINY_ITEMS = [
    {"id": "a", "prompt": "A red cube on a table. A blue ball beside it."},
    {"id": "b", "prompt": "Two green cats sleep on a striped mat."},
    {"id": "c", "prompt": "A quiet harbour at dawn. Fishing boats rest in a row. Gulls circle above the pier. "
                          "A lighthouse stands at the far end of the breakwater."},
    {"id": "d", "prompt": "Three yellow lemons in a white bowl."},
    {"id": "e", "prompt": "An old library with tall shelves. A ladder leans against the books."},
]


def write_suite(path: Path, items: list[dict], name: str = "tiny", version: str = "1") -> Path:
    lines = [json.dumps({"suite": {"name": name, "version": version}})] + [json.dumps(i) for i in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "tiny.jsonl", TINY_ITEMS)


FAKE_GEN = '''
import numpy as np

CALLS = []

def gen(prompts, seeds, **kwargs):
    """Deterministic noise images from the seed; brightness from the prompt length."""
    CALLS.append(list(prompts))
    out = []
    for p, s in zip(prompts, seeds):
        rng = np.random.default_rng(s)
        img = rng.integers(0, 128, (24, 24, 3), dtype=np.uint8) + np.uint8(min(len(p), 127))
        out.append(img)
    return out
'''

FAKE_METRIC = '''
import numpy as np
from longbench.metrics.base import PerSampleMetric

class Brightness(PerSampleMetric):
    name = "brightness"
    columns = {"brightness": True, "darkness": False}

    def score(self, images, items):
        b = [float(np.asarray(im, dtype=np.float64).mean() / 255.0) for im in images]
        return {"brightness": b, "darkness": [1.0 - x for x in b]}
'''


@pytest.fixture
def fake_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Importable ``lb_fake_gen`` (a python: generator) and ``lb_fake_metric`` registered as 'brightness'."""
    d = tmp_path / "fakemods"
    d.mkdir()
    (d / "lb_fake_gen.py").write_text(textwrap.dedent(FAKE_GEN))
    (d / "lb_fake_metric.py").write_text(textwrap.dedent(FAKE_METRIC))
    monkeypatch.syspath_prepend(str(d))
    for mod in ("lb_fake_gen", "lb_fake_metric"):
        sys.modules.pop(mod, None)
    from longbench.registry import METRICS

    METRICS.register("brightness", "lb_fake_metric:Brightness")
    yield d
    METRICS._entries.pop("brightness", None)


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline saved with ``save_pretrained`` (loaded back through the real path by tests)."""
    d = tmp_path_factory.mktemp("tiny-sd") / "pipe"
    from longbench.testing import tiny_sd_pipeline

    tiny_sd_pipeline().save_pretrained(str(d))
    return d


@pytest.fixture(scope="session")
def mini_smoke_repro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``longbench train mini-reproduce --size smoke --jobs 2`` per test session (a few minutes of CPU; two
    models at a time, each in its own process on one thread), shared by every test that needs trained miniature
    models. Read-only: copy it to change it."""
    from longalign.mini_reproduce import reproduce

    out = tmp_path_factory.mktemp("mini-smoke") / "repro"
    reproduce(out, size="smoke", configs=Path(__file__).resolve().parents[1] / "docs" / "examples" / "mini", jobs=2,
              threads=1)
    return out


@pytest.fixture(scope="session")
def mini_smoke_zoo(mini_smoke_repro: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke reproduction shipped as a zoo (``longbench train mini-ship``): fp16, ``<zoo>/<name>/``."""
    from longalign.mini_ship import ship

    zoo = tmp_path_factory.mktemp("mini-zoo") / "zoo"
    ship(mini_smoke_repro, zoo)
    return zoo
