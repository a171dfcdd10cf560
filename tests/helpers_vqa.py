"""Shared pieces of the vqa tests: DPG-format CSVs, a transcription of the reference scorer, scripted
judges, a hand-made synthetic item, and the tiny transformers judges saved once per session."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

DPG_HEADER = ["item_id", "text", "keywords", "proposition_id", "dependency", "category_broad",
              "category_detailed", "tuple", "question_natural_language"]

# A hand-made DPG-format CSV: three items; "dependency" 0 = none; a question depending on two parents
# ("1,2"), a grand-child (b3 → b2 → b1), and the first data row (a/1) is the one the reference skips.
DPG_ROWS = [
    ("a", "A black cat left of a dog, watercolor.", "cat,dog", 1, "0", "entity", "whole", "entity - whole (cat)",
     "Is there a cat?"),
    ("a", "A black cat left of a dog, watercolor.", "cat,dog", 2, "0", "entity", "whole", "entity - whole (dog)",
     "Is there a dog?"),
    ("a", "A black cat left of a dog, watercolor.", "cat,dog", 3, "1", "attribute", "color",
     "attribute - color (cat, black)", "Is the cat black?"),
    ("a", "A black cat left of a dog, watercolor.", "cat,dog", 4, "1,2", "relation", "spatial",
     "relation - spatial (cat, dog, left of)", "Is the cat left of the dog?"),
    ("a", "A black cat left of a dog, watercolor.", "cat,dog", 5, "0", "global", "style", "global - (watercolor)",
     "Is the image a watercolor?"),
    ("b", "A red kite with a long tail.", "kite", 1, "0", "entity", "whole", "entity - whole (kite)",
     "Is there a kite?"),
    ("b", "A red kite with a long tail.", "kite", 2, "1", "entity", "part", "entity - part (kite, tail)",
     "Does the kite have a tail?"),
    ("b", "A red kite with a long tail.", "kite", 3, "2", "attribute", "size", "attribute - size (tail, long)",
     "Is the tail long?"),
    ("b", "A red kite with a long tail.", "kite", 4, "1", "attribute", "color", "attribute - color (kite, red)",
     "Is the kite red?"),
    ("c", "Two apples on a plate.", "apple,plate", 1, "0", "entity", "whole", "entity - whole (apple)",
     "Are there apples?"),
    ("c", "Two apples on a plate.", "apple,plate", 2, "0", "entity", "whole", "entity - whole (plate)",
     "Is there a plate?"),
    ("c", "Two apples on a plate.", "apple,plate", 3, "1", "other", "count", "other - count (apple, ==2)",
     "Are there two apples?"),
    ("c", "Two apples on a plate.", "apple,plate", 4, "1,2", "relation", "spatial",
     "relation - spatial (apple, plate, on)", "Are the apples on the plate?"),
]

# Tile colours of the test images (2x2 grids of TILE px); the scripted judge answers by (colour, question).
TILE = 16
COLOURS = {"a": [(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0)],
           "b": [(0, 200, 200), (200, 0, 200), (90, 90, 90), (250, 250, 250)],
           "c": [(20, 20, 20), (120, 60, 0), (0, 120, 60), (60, 0, 120)]}
# Per question text, the answer for each tile index; includes "Yes" (not exactly "yes") and "maybe".
ANSWERS = {
    "Is there a cat?": ["yes", "no", "yes", "yes"],
    "Is there a dog?": ["yes", "yes", "no", "yes"],
    "Is the cat black?": ["yes", "yes", "yes", "no"],
    "Is the cat left of the dog?": ["yes", "yes", "yes", "yes"],
    "Is the image a watercolor?": ["no", "Yes", "yes", "maybe"],
    "Is there a kite?": ["yes", "yes", "no", "yes"],
    "Does the kite have a tail?": ["no", "yes", "yes", "yes"],
    "Is the tail long?": ["yes", "yes", "yes", "no"],
    "Is the kite red?": ["yes", "no", "yes", "yes"],
    "Are there apples?": ["yes", "yes", "yes", "yes"],
    "Is there a plate?": ["no", "yes", "yes", "no"],
    "Are there two apples?": ["yes", "no", "yes", "yes"],
    "Are the apples on the plate?": ["yes", "yes", "no", "yes"],
}


def write_dpg_csv(path: Path, rows: list[tuple] | None = None) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(DPG_HEADER)
        for r in rows if rows is not None else DPG_ROWS:
            w.writerow(r)
    return path


def grid_image(item_id: str) -> Any:
    """A 2x2 grid of solid TILE-px tiles in the item's colours."""
    from PIL import Image

    im = Image.new("RGB", (2 * TILE, 2 * TILE))
    for k, c in enumerate(COLOURS[item_id]):
        x, y = (k % 2) * TILE, (k // 2) * TILE
        im.paste(Image.new("RGB", (TILE, TILE), c), (x, y))
    return im


def tile_index(image: Any) -> int:
    """Which tile colour an image (a tile) shows, over all items."""
    px = image.convert("RGB").getpixel((0, 0))
    for cols in COLOURS.values():
        if px in cols:
            return cols.index(px)
    raise AssertionError(f"unknown tile colour {px}")


def scripted_answer(image: Any, question: str) -> str:
    return ANSWERS[question][tile_index(image)]


def scripted_judge(images: list[Any], questions: list[list[str]]) -> list[list[str]]:
    """A ``python:`` judge: the scripted answers, no probabilities."""
    return [[scripted_answer(im, q) for q in qs] for im, qs in zip(images, questions)]


def reference_dpg(csv_path: Path, images: dict[str, Any], answer: Any, pic_num: int, resolution: int,
                  skip_first_row: bool = True) -> dict[str, Any]:
    """A direct transcription of ELLA's ``dpg_bench/compute_dpg_bench.py`` arithmetic (prepare_dpg_data,
    compute_dpg_one_sample, main's aggregation), with ``answer(image, question)`` standing in for mPLUG.
    ``skip_first_row=False`` removes the script's ``if i == 0: continue``. Images whose scoring raises are
    dropped, as the script does."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        data = list(csv.DictReader(f))
    previous_id = ""
    question_dict: dict[str, dict[str, dict]] = {}
    for i, line in enumerate(data):
        if skip_first_row and i == 0:
            continue
        current_id = line["item_id"]
        qid = int(line["proposition_id"])
        dependency_list_int = [int(d.strip()) for d in line["dependency"].split(",")]
        if current_id == previous_id:
            question_dict[current_id]["qid2tuple"][qid] = line["tuple"]
            question_dict[current_id]["qid2dependency"][qid] = dependency_list_int
            question_dict[current_id]["qid2question"][qid] = line["question_natural_language"]
        else:
            question_dict[current_id] = {"qid2tuple": {qid: line["tuple"]}, "qid2dependency": {qid: dependency_list_int},
                                         "qid2question": {qid: line["question_natural_language"]}}
        previous_id = current_id

    crops = [(0, 0, resolution, resolution), (resolution, 0, resolution * 2, resolution),
             (0, resolution, resolution, resolution * 2), (resolution, resolution, resolution * 2, resolution * 2)]
    per_image: dict[str, float] = {}
    category2scores: dict[str, list[float]] = defaultdict(list)
    failed = []
    for key, generated_image in images.items():
        try:
            value = question_dict.get(key, None)
            qid2tuple, qid2question, qid2dependency = value["qid2tuple"], value["qid2question"], value["qid2dependency"]
            qid2scores: dict[int, float] = {}
            scores = []
            for crop_tuple in crops[:pic_num]:
                cropped = generated_image.crop(crop_tuple)
                for qid, question in qid2question.items():
                    qid2scores[qid] = float(answer(cropped, question) == "yes")
                qid2scores_orig = qid2scores.copy()
                for qid, parent_ids in qid2dependency.items():
                    any_parent_answered_no = False
                    for parent_id in parent_ids:
                        if parent_id == 0:
                            continue
                        if qid2scores[parent_id] == 0:
                            any_parent_answered_no = True
                            break
                    if any_parent_answered_no:
                        qid2scores[qid] = 0
                scores.append(sum(qid2scores.values()) / len(qid2scores))
            per_image[key] = sum(scores) / len(scores)
            for qid in qid2tuple:
                category2scores[qid2tuple[qid].split("(")[0].strip()].append(qid2scores_orig[qid])
        except Exception:  # noqa: BLE001 - the script catches everything, prints "Failed filename", continues
            failed.append(key)
    l1: dict[str, list[float]] = defaultdict(list)
    for category, s in category2scores.items():
        l1[category.split("-")[0].strip()].extend(s)

    def mean(xs: list[float]) -> float:  # np.mean of a list
        return sum(xs) / len(xs)

    return {"per_image": {k: 100 * v for k, v in per_image.items()}, "score": 100 * mean(list(per_image.values())),
            "l1": {k: 100 * mean(v) for k, v in l1.items()}, "l2": {k: 100 * mean(v) for k, v in category2scores.items()},
            "failed": failed}


# ---------------------------------------------------------------------------- tiny judges
@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from longbench.testing import save_tiny_blip_vqa

    return save_tiny_blip_vqa(tmp_path_factory.mktemp("tiny-blip") / "blip")


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from longbench.testing import save_tiny_qwen2_vl

    return save_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen") / "qwen")


def noise_images(n: int, size: int = 40, seed: int = 0) -> list[Any]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]
