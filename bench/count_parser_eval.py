"""Precision/recall of the count parser against hand annotations.

Gold: every entity with a count in the annotations of a suite (default ``longbench-v1``); prediction:
``longbench.suites.counts.parse_counts(prompt)`` entities with a count. A prediction matches a gold entity
of the same item when the counts are equal and the head nouns agree up to number; matching is
one-to-one. ``--held-out`` measures on the project's own held-out prompts (tests/helpers_suites.py)
instead. ``--show-errors`` lists misses and false positives.

    python bench/count_parser_eval.py [--suite longbench-v1|FILE] [--held-out] [--show-errors]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from longbench.suites.counts import parse_counts
from longbench.suites.lexicon import head_noun, same_noun


def match(pred: list[tuple[str, int]], gold: list[tuple[str, int]]) -> tuple[int, list, list]:
    """(true positives, unmatched predictions, unmatched gold) for one item."""
    left = list(gold)
    false_pos = []
    tp = 0
    for noun, count in pred:
        hit = next((g for g in left if g[1] == count and same_noun(g[0], noun)), None)
        if hit is None:
            false_pos.append((noun, count))
        else:
            left.remove(hit)
            tp += 1
    return tp, false_pos, left


def evaluate(cases: list[tuple[str, str, list[tuple[str, int]]]], show: bool = False) -> dict[str, float]:
    tp = n_pred = n_gold = 0
    for item_id, prompt, gold in cases:
        pred = [(head_noun(e.name), e.count) for e in parse_counts(prompt) if e.count is not None]
        t, fp, fn = match(pred, gold)
        tp, n_pred, n_gold = tp + t, n_pred + len(pred), n_gold + len(gold)
        if show and (fp or fn):
            print(f"{item_id}: false positives {fp} misses {fn}\n    {prompt}")
    p = tp / n_pred if n_pred else 1.0
    r = tp / n_gold if n_gold else 1.0
    return {"items": len(cases), "gold": n_gold, "predicted": n_pred, "tp": tp, "precision": p, "recall": r}


def suite_cases(spec: str) -> list[tuple[str, str, list[tuple[str, int]]]]:
    from longbench.suites.loaders import load_suite

    suite = load_suite(spec)
    return [(it.id, it.prompt, [(head_noun(e.name), e.count) for e in it.entities if e.count is not None])
            for it in suite.items]


def held_out_sets() -> dict[str, list[tuple[str, str, list[tuple[str, int]]]]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.helpers_suites import HELD_OUT, HELD_OUT_2

    return {name: [(f"{name}-{k}", prompt, sorted(gold)) for k, (prompt, gold) in enumerate(cases)]
            for name, cases in (("held-out", HELD_OUT), ("held-out-2", HELD_OUT_2))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default="longbench-v1", help="suite name or file with hand annotations")
    ap.add_argument("--held-out", action="store_true", help="use the held-out prompts of the tests instead")
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    sets = held_out_sets() if args.held_out else {args.suite: suite_cases(args.suite)}
    for name, cases in sets.items():
        r = evaluate(cases, args.show_errors)
        print(f"{name}: {r['items']} items, {r['gold']} gold counted entities, {r['predicted']} predicted, "
              f"{r['tp']} matched")
        print(f"  precision {r['precision']:.3f}  recall {r['recall']:.3f}")


if __name__ == "__main__":
    main()
