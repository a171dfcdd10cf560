"""Segment encoding throughput: ``SegmentEncoder`` ÷ a bare text-encoder forward over the same segments.

The encoder splits the prompts, tokenizes every segment of the batch, runs one text-encoder forward and
merges the kept rows; the bare forward is only the text-encoder call on the already tokenized segments
(same padding). The ratio shows what splitting/tokenizing/merging costs on top of the forward (goal ≤ 1.05).
Prompts are the synthetic world's long prompts (4-12 sentences); the encoder is a randomly initialised
CLIP-L-sized text model (hidden 768, 12 layers) — weights do not change the timing.

    python bench/encoding_throughput.py [--prompts 64] [--batch-size 8] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--token-length", type=int, default=240)
    ap.add_argument("--splitter", default="longalign", choices=("longalign", "default"))
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    args = ap.parse_args()

    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    from longbench.longsd.encoding import SegmentEncoder
    from longbench.synth.suite import make_items
    from longbench.text.tokenizer import load_clip_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    tok = load_clip_tokenizer()
    torch.manual_seed(0)
    model = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=args.hidden, intermediate_size=4 * args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 64, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
        pad_token_id=49407)).eval()
    prompts = [it.prompt for it in make_items(args.prompts, seed=7, prefix="bench")]
    batches = [prompts[i:i + args.batch_size] for i in range(0, len(prompts), args.batch_size)]
    enc = SegmentEncoder(tok, model, token_length=args.token_length, splitter=args.splitter)

    # the bare forward's inputs: exactly the segments and padding the encoder uses
    inputs = []
    for batch in batches:
        segments, _ = enc.segments(batch)
        inputs.append(tok(segments, max_length=77, padding=True, truncation=True, return_tensors="pt").input_ids)
    n_segments = sum(x.shape[0] for x in inputs)

    # Interleave the two per batch and keep each batch's fastest run: on a shared machine, load bursts then
    # hit both sides alike instead of skewing one of them.
    # Time spent inside the encoder's own forward call, to isolate what splitting/tokenizing/merging cost.
    inside: list[float] = []
    forward = model.forward

    def timed_forward(*a: object, **k: object) -> object:
        t = time.perf_counter()
        out = forward(*a, **k)
        inside.append(time.perf_counter() - t)
        return out

    with torch.inference_mode():
        enc(batches[0])  # warm-up (also computes the padding embedding once)
        model(inputs[0])
        overhead = []
        model.forward = timed_forward
        for batch in batches:
            inside.clear()
            t0 = time.perf_counter()
            enc(batch)
            overhead.append((time.perf_counter() - t0 - sum(inside), sum(inside)))
        model.forward = forward
        best_seg = [float("inf")] * len(batches)
        best_bare = [float("inf")] * len(batches)
        for _ in range(args.repeats):
            for i, (batch, ids) in enumerate(zip(batches, inputs)):
                t0 = time.perf_counter()
                model(ids)
                t1 = time.perf_counter()
                enc(batch)
                t2 = time.perf_counter()
                best_bare[i] = min(best_bare[i], t1 - t0)
                best_seg[i] = min(best_seg[i], t2 - t1)
    seg, bare = sum(best_seg), sum(best_bare)
    print(f"prompts={len(prompts)} segments={n_segments} batch={args.batch_size} threads={torch.get_num_threads()} "
          f"encoder=CLIP text hidden {args.hidden} x {args.layers} layers, splitter={args.splitter}")
    print(f"bare text-encoder forward : {bare:.3f} s  ({len(prompts) / bare:.1f} prompts/s)")
    print(f"segment encoding          : {seg:.3f} s  ({len(prompts) / seg:.1f} prompts/s)")
    print(f"ratio segment / bare      : {seg / bare:.3f}  (goal <= 1.05)")
    extra = sum(o for o, _ in overhead)
    print(f"split+tokenize+merge      : {extra * 1000 / len(batches):.1f} ms per batch = "
          f"{100 * extra / sum(f for _, f in overhead):.2f}% of the forward time")


if __name__ == "__main__":
    main()
