"""Fabricated runs for the viewer tests and ``bench/viewer_scale.py``: a suite file, tiny PNGs and one run
per model (``results.json`` + ``samples.jsonl`` through ``write_results``, which validates).

Every score is a simple function of (item index i, run index k, segment index j), so tests can compute
what the page must show independently of the viewer:

* column ``quality`` (metric ``fab``, higher is better) = ``quality(i, k)``;
* column ``error`` (metric ``fab``, lower is better) = ``1 - quality(i, k)``;
* per segment, metric ``fab`` (values in [0, 1]) = ``seg_fab(i, j, k)``, and metric ``align``
  (unbounded, around 20-30) = ``seg_align(i, j, k)``.

Prompts are sentences of common one-token words and a period, so the CLIP token positions are countable
by hand: every word and every period is one token.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ADJ = ("red", "blue", "green", "small", "large", "old", "new", "bright", "dark", "soft")
NOUN = ("cat", "dog", "house", "tree", "car", "boat", "bird", "chair", "table", "lamp")
VERB = ("sits", "stands", "rests", "waits", "sleeps")
PLACE = ("near", "under", "behind", "beside", "above")


def quality(i: int, k: int) -> float:
    return ((i * 37 + k * 11) % 100) / 100


def seg_fab(i: int, j: int, k: int) -> float:
    return ((i + j + k) % 3) / 2


def seg_align(i: int, j: int, k: int) -> float:
    return 20.0 + ((i * 7 + j * 3 + k) % 10)


def sentence(rng: random.Random) -> str:
    return (f"the {rng.choice(ADJ)} {rng.choice(NOUN)} {rng.choice(VERB)} {rng.choice(PLACE)} "
            f"the {rng.choice(ADJ)} {rng.choice(NOUN)}.")


def make_prompts(n: int, seed: int = 0) -> list[list[str]]:
    """``n`` prompts as lists of sentences (1 to 30 sentences of 9 tokens: every length bucket)."""
    rng = random.Random(seed)
    return [[sentence(rng) for _ in range(1 + (i * 7) % 30)] for i in range(n)]


def fabricate_runs(root: Path, n_items: int, models: Sequence[str], *, seed: int = 0, image_size: int = 16,
                   suite_name: str = "fab-suite", suite_version: str = "1",
                   sentences: dict[int, list[str]] | None = None, counts: bool = True,
                   prompt_seed: int = 0) -> tuple[Path, list[Path]]:
    """Write ``root/suite.jsonl``, ``root/images/<k>/<item>.png`` and ``root/runs/<k>/`` for each model.

    Args:
        sentences: item index → its sentences, replacing the generated ones (e.g. hostile text).
        counts: compute ``prompt_tokens`` with the CLIP tokenizer (else a rough word count).
        prompt_seed: seed of the generated prompts (``seed`` is the runs' seed).

    Returns:
        The suite file and the run directories (in ``models`` order).
    """
    from PIL import Image

    from longbench.results import write_results
    from longbench.suites.loaders import load_suite
    from longbench.text.tokenizer import length_bucket

    root.mkdir(parents=True, exist_ok=True)
    prompts = make_prompts(n_items, prompt_seed)
    for i, sents in (sentences or {}).items():
        prompts[i] = list(sents)
    ids = [f"it{i:05d}" for i in range(n_items)]
    texts = [" ".join(s) for s in prompts]
    suite_path = root / "suite.jsonl"
    lines = [json.dumps({"suite": {"name": suite_name, "version": suite_version}})]
    lines += [json.dumps({"id": ids[i], "prompt": texts[i], "segments": prompts[i]}) for i in range(n_items)]
    suite_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    suite = load_suite(str(suite_path))
    if counts:
        from longbench.text.tokenizer import TokenCounter

        lengths = [n + 2 for n in TokenCounter().many(texts)]
    else:
        lengths = [len(t.split()) + 2 for t in texts]
    run_dirs = []
    for k, model in enumerate(models):
        img_dir = root / "images" / str(k)
        img_dir.mkdir(parents=True, exist_ok=True)
        samples = []
        for i in range(n_items):
            colour = ((i * 53 + k * 97) % 256, (i * 29) % 256, (k * 80 + i) % 256)
            im = Image.new("RGB", (image_size, image_size), colour)
            im.putpixel((0, 0), (i % 256, i // 256 % 256, k % 256))  # every image distinct
            path = img_dir / f"{ids[i]}.png"
            im.save(path, format="PNG", compress_level=1)
            q = quality(i, k)
            samples.append({
                "item_id": ids[i], "seed": seed * 1000 + i, "image": str(path.resolve()), "prompt_tokens": lengths[i],
                "bucket": length_bucket(lengths[i]), "scores": {"quality": q, "error": 1 - q},
                "segments": {"fab": [seg_fab(i, j, k) for j in range(len(prompts[i]))],
                             "align": [seg_align(i, j, k) for j in range(len(prompts[i]))]},
            })
        mean_q = sum(s["scores"]["quality"] for s in samples) / n_items
        model_hash = hashlib.sha256(model.encode("utf-8", "replace")).hexdigest()[:16]
        results: dict[str, Any] = {
            "schema_version": 1, "longbench_version": "0.1.0",
            "run_id": f"{suite.name}@{suite.sha256[:8]}/{model_hash[:8]}/s{seed}",
            "date": "2025-01-01T00:00:00+00:00", "suite": suite.info(),
            "model": {"spec": model, "args": {}, "identity_hash": model_hash}, "seed": seed, "limit": None,
            "n": n_items,
            "metrics": {
                "quality": {"value": mean_q, "ci": None, "n": n_items, "higher_is_better": True, "metric": "fab",
                            "by_bucket": {}},
                "error": {"value": 1 - mean_q, "ci": None, "n": n_items, "higher_is_better": False, "metric": "fab",
                          "by_bucket": {}},
            },
            "protocols": {"fab": {"name": "fab", "version": "1"}, "align": {"name": "align", "version": "1"}},
            "config": {"suite": str(suite_path.resolve())},
        }
        run_dir = root / "runs" / str(k)
        write_results(run_dir, results, samples)
        run_dirs.append(run_dir)
    return suite_path, run_dirs
