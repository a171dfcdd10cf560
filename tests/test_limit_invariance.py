"""`--limit N` scores the first N items exactly as the full run does: every suite-level constant of every
metric (Denscore's direction V, segment-align's other items, FID reference statistics) comes from the whole
suite, so the same image gets the same per-image scores whatever the limit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from longbench.results import load_samples
from longbench.runner import EvalConfig, run_eval
from tests.helpers_clip import save_tiny_clip
from tests.helpers_fid import make_tiny_open_clip

N_ITEMS = 10
SENTENCES = ["A red fox sits in the snow.", "Two boats rest on a calm lake.", "A lighthouse stands on the cliff.",
             "Three lemons lie in a white bowl.", "An old tram turns the corner.", "Rain falls on a busy street.",
             "A green parrot perches on a branch.", "The library has tall wooden shelves.",
             "A child flies a yellow kite.", "Snow covers the mountain village."]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("limit")
    clip = save_tiny_clip(root / "clip", seed=3)
    open_clip_dir = make_tiny_open_clip(root / "open_clip", seed=1)
    suite_dir, gen = root / "suite", root / "gen"
    (suite_dir / "ref").mkdir(parents=True)
    gen.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(N_ITEMS):
        # prompts of different lengths and topics, so that V moves when items are dropped from it
        prompt = " ".join(SENTENCES[(i + j) % N_ITEMS] for j in range(1 + i % 4))
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(suite_dir / "ref" / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(gen / f"it{i}.png")
        rows.append({"id": f"it{i}", "prompt": prompt, "reference_image": f"ref/{i}.png"})
    (suite_dir / "suite.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return {"clip": clip, "open_clip": open_clip_dir, "suite": suite_dir / "suite.jsonl", "gen": gen, "root": root}


def _run(world: dict[str, Path], limit: int | None) -> tuple[dict, list[dict]]:
    clip = str(world["clip"])
    config = EvalConfig(
        models=[f"images:{world['gen']}"], suite=str(world["suite"]),
        metrics=["denscore", "segment-align", "fid-clip"],
        metric_args={"denscore": {"model": clip}, "segment-align": {"model": clip, "others": "3"},
                     "fid-clip": {"model": str(world["open_clip"])}},
        output=str(world["root"] / "runs"), batch_size=1, n_bootstrap=10, limit=limit)
    (out,) = run_eval(config)
    return out.results, load_samples(out.run_dir)


def test_limit_changes_no_suite_level_constant(world: dict[str, Path]) -> None:
    runs = {limit: _run(world, limit) for limit in (4, 8, None)}
    full_results, full_samples = runs[None]
    proto = full_results["protocols"]
    for limit in (4, 8):
        results, samples = runs[limit]
        assert results["n"] == limit and [s["item_id"] for s in samples] == [f"it{i}" for i in range(limit)]
        p = results["protocols"]
        # Denscore: V over the whole suite, whatever the limit
        assert p["denscore"]["direction_hash"] == proto["denscore"]["direction_hash"]
        assert p["denscore"]["direction_source"] == proto["denscore"]["direction_source"]
        assert p["denscore"]["direction_prompts"] == N_ITEMS
        # segment-align: other items drawn from the whole suite's order
        assert p["segment-align"]["coverage"] == proto["segment-align"]["coverage"]
        # FID: reference statistics of all the suite's reference images
        assert p["fid-clip"]["reference"]["n"] == N_ITEMS
        assert p["fid-clip"]["reference"]["suite_sha256"] == proto["fid-clip"]["reference"]["suite_sha256"]
        # Same image → same per-image scores. With batch size 1 every image goes through the networks
        # alone in every run, so only thread scheduling could move the float32 features; 1e-6 relative
        # covers that and is far below what a different V moves (checked below).
        for a, b in zip(samples, full_samples):
            assert a["image"] == b["image"]
            assert set(a["scores"]) == set(b["scores"])
            for col, value in b["scores"].items():
                if value is None:
                    assert a["scores"][col] is None, (a["item_id"], col)
                else:
                    assert a["scores"][col] == pytest.approx(value, rel=1e-6, abs=1e-9), (a["item_id"], col)
            for name, segs in b["segments"].items():
                assert a["segments"][name] == pytest.approx(segs, rel=1e-6, abs=1e-9), (a["item_id"], name)
    # the constants really are over the whole suite (a V over the first 4 prompts would differ)
    from longbench.metrics.denscore import Denscore
    from longbench.suites.loaders import load_suite

    prompts = [it.prompt for it in load_suite(str(world["suite"])).items]
    first4 = Denscore(str(world["clip"]), direction_prompts=prompts[:4])
    assert first4.direction_hash != proto["denscore"]["direction_hash"]
    image = Image.open(full_samples[0]["image"]).convert("RGB")
    first4.update([image], load_suite(str(world["suite"])).items[:1])
    moved = first4.per_sample()["denscore"][0]
    assert abs(moved - full_samples[0]["scores"]["denscore"]) > 1e-4  # what the old runner reported
    # segment coverage is defined for every image but the suite's first (it has no earlier item)
    cov = [s["scores"]["segment-coverage"] for s in full_samples]
    assert cov[0] is None and all(isinstance(c, float) for c in cov[1:])
