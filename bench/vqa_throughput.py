"""Question-answering judges: the batched path (each image encoded once, all its questions and those of the
other images batched) against the one-at-a-time loop (one call of the model's own ``generate`` per
(image, question), as DPG-Bench's reference script does), on the same tiny judge, images and questions,
in one run. Goal ≥ 3× questions/s with identical answers.

Judges: random-weight BLIP-VQA and Qwen2-VL-style models built from configs and loaded through the real
path (``longbench.testing``). Questions: those generated from the facts of the first ``--items`` synth-v0
items (~20 per image), images: their ``synth:oracle`` renders. Both paths run ``--repeats`` times,
interleaved; the fastest of each is reported (wall and CPU seconds; CPU time resists load from other
processes on a shared machine).

    python bench/vqa_throughput.py [--items 8] [--repeats 2] [--batch-size 32] [--max-new-tokens 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--judges", default="blip,qwen2-vl")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from longbench.judges.base import JudgeOptions, JudgeRequest, build_judge
    from longbench.judges.questions import item_questions
    from longbench.models.base import Request, build_model
    from longbench.suites.loaders import load_suite
    from longbench.testing import save_tiny_blip_vqa, save_tiny_qwen2_vl

    suite = load_suite("synth-v0").head(args.items)
    images = build_model("synth:oracle", {}).generate([Request(it, 0) for it in suite.items])
    requests = [JudgeRequest(im, tuple(item_questions(it)), it) for im, it in zip(images, suite.items)]
    n_questions = sum(len(r.questions) for r in requests)
    print(f"{len(requests)} images, {n_questions} questions; torch threads {args.threads}; "
          f"max_new_tokens {args.max_new_tokens}, batch size {args.batch_size}")
    builders = {"blip": save_tiny_blip_vqa, "qwen2-vl": save_tiny_qwen2_vl}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.judges.split(","):
            path = builders[name](Path(tmp) / name)
            judge = build_judge(str(path), JudgeOptions(batch_size=args.batch_size, device=args.device,
                                                        max_new_tokens=args.max_new_tokens))
            judge.answer_batched(requests[:1])  # warm-up (lazy initialisation inside transformers)
            best = {"batched": (float("inf"), float("inf")), "one-at-a-time": (float("inf"), float("inf"))}
            answers = {}
            for _ in range(args.repeats):
                for mode, fn in (("batched", judge.answer_batched), ("one-at-a-time", judge.answer_one_at_a_time)):
                    out, wall, cpu = timed(lambda fn=fn: fn(requests))
                    answers[mode] = out
                    best[mode] = (min(best[mode][0], wall), min(best[mode][1], cpu))
            same = [[a.text for a in r] for r in answers["batched"]] == \
                [[a.text for a in r] for r in answers["one-at-a-time"]]
            dp = max(abs(a.p_yes - b.p_yes) for ra, rb in zip(answers["batched"], answers["one-at-a-time"])
                     for a, b in zip(ra, rb))
            qps = {m: n_questions / w for m, (w, _) in best.items()}
            print(f"{name:9s} batched {qps['batched']:8.1f} q/s   one-at-a-time {qps['one-at-a-time']:7.1f} q/s   "
                  f"ratio {qps['batched'] / qps['one-at-a-time']:5.1f}x wall, "
                  f"{best['one-at-a-time'][1] / best['batched'][1]:5.1f}x CPU   answers identical: {same}   "
                  f"max |dP(yes)| {dp:.1e}")


if __name__ == "__main__":
    main()
