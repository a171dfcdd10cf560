"""Segment encoder: parity with the reference math, shapes, edge cases, the pipeline strategy."""

from __future__ import annotations

import re

import pytest
import torch

from longbench.errors import LongbenchError
from tests.helpers_longalign import SENTENCES, one_thread, tiny_sd_pipeline, tiny_text_encoder


@pytest.fixture(scope="module", autouse=True)
def _threads():
    yield from one_thread()


@pytest.fixture(scope="module")
def tok():
    from longbench.text.tokenizer import load_clip_tokenizer

    return load_clip_tokenizer()


@pytest.fixture(scope="module")
def enc_model():
    return tiny_text_encoder(seed=3)


def reference_embed(captions, tokenizer, text_encoder, token_length):
    """Independent re-statement of the reference CLIP branch: per-prompt loop, boolean masks."""
    pieces, index = [], []
    for i, cap in enumerate(captions):
        parts = [p + "." for p in re.split(r'"!|\.|\?|;"', cap) if len(p) > 0] or [cap]
        pieces += parts
        index += [i] * len(parts)
    toks = tokenizer(pieces, max_length=77, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = text_encoder(toks.input_ids)[0]
        empty = tokenizer([""], max_length=77, padding="max_length", return_tensors="pt").input_ids
        pad = text_encoder(empty)[0][0, -60:].mean(dim=0, keepdim=True)
    index = torch.tensor(index)
    out = []
    for i in range(len(captions)):
        h = hidden[index == i]
        ids = toks.input_ids[index == i]
        mask = (ids != tokenizer.pad_token_id) & (ids != tokenizer.eos_token_id)
        rows = h.reshape(-1, h.shape[-1])[mask.reshape(-1)]
        if len(rows) > token_length:
            rows = rows[:token_length]
        else:
            rows = torch.cat([rows, pad.repeat(token_length - len(rows), 1)])
        out.append(rows)
    return torch.stack(out)


def prompts_of_lengths():
    long_sentence = " ".join(f"word{i} and" for i in range(60)) + " end."  # one sentence, > 77 tokens
    prompts = [" ".join(SENTENCES[j % len(SENTENCES)] for j in range(n)) for n in (1, 2, 5, 13, 40)]
    return prompts + ["", long_sentence, "no punctuation at all", "Question? Exclaim! semi; colon: end"]


@pytest.mark.parametrize("token_length", [77, 240])
def test_parity_with_reference(tok, enc_model, token_length):
    from longbench.longsd.encoding import SegmentEncoder

    prompts = prompts_of_lengths()
    ours = SegmentEncoder(tok, enc_model, token_length=token_length, splitter="longalign")(prompts)
    ref = reference_embed(prompts, tok, enc_model, token_length)
    assert ours.shape == ref.shape == (len(prompts), token_length, 32)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=0), float((ours - ref).abs().max())


def test_parity_one_prompt_at_a_time(tok, enc_model):
    """Batching does not change the result (padding to the longest segment is harmless: CLIP is causal)."""
    from longbench.longsd.encoding import SegmentEncoder

    prompts = prompts_of_lengths()
    enc = SegmentEncoder(tok, enc_model, token_length=240)
    batched = enc(prompts)
    single = torch.cat([enc([p]) for p in prompts])
    assert torch.allclose(batched, single, atol=1e-5, rtol=0)


def test_long_sentence_truncated_to_one_segment(tok, enc_model):
    from longbench.longsd.encoding import SegmentEncoder

    sentence = " ".join(f"word{i}" for i in range(120))
    assert len(tok(sentence).input_ids) > 120
    enc = SegmentEncoder(tok, enc_model, token_length=240)
    out = enc([sentence])
    pad = enc.pad_embedding()
    # start token + 75 word tokens are kept, every later row is the padding embedding
    assert not torch.allclose(out[0, 75], pad)
    assert torch.equal(out[0, 76:], pad.expand(240 - 76, -1))


def test_unconditional_and_empty_prompt(tok, enc_model):
    from longbench.longsd.encoding import SegmentEncoder

    enc = SegmentEncoder(tok, enc_model, token_length=240)
    uncond = enc.unconditional(3)
    cond = enc(["A cat. A dog."] * 3)
    assert uncond.shape == cond.shape == (3, 240, 32)
    assert torch.allclose(uncond[0], enc([""])[0])
    assert enc([]).shape == (0, 240, 32)
    with torch.no_grad():
        start = enc_model(torch.tensor([[tok.bos_token_id]]))[0][0, 0]
        empty = tok([""], max_length=77, padding="max_length", return_tensors="pt").input_ids
        pad = enc_model(empty)[0][0, 17:].mean(0)
    assert torch.allclose(uncond[1, 0], start, atol=1e-6)
    assert torch.allclose(uncond[2, 1:], pad.expand(239, -1), atol=1e-6)


def test_one_text_encoder_pass_per_batch(tok, enc_model):
    from longbench.longsd.encoding import SegmentEncoder

    enc = SegmentEncoder(tok, enc_model, token_length=240)
    enc.pad_embedding()
    calls = []
    handle = enc_model.register_forward_hook(lambda m, a, o: calls.append(a[0].shape if a else None))
    try:
        enc([" ".join(SENTENCES[:7]), SENTENCES[0], " ".join(SENTENCES)])
    finally:
        handle.remove()
    assert len(calls) == 1 and calls[0][0] == 7 + 1 + 10


def test_default_splitter_never_truncates(tok, enc_model):
    from longbench.longsd.encoding import SegmentEncoder

    sentence = ", ".join(f"item{i} in red" for i in range(40)) + "."
    enc = SegmentEncoder(tok, enc_model, token_length=240, splitter="default")
    segments, owners = enc.segments([sentence])
    assert len(segments) > 1 and set(owners) == {0}
    assert all(len(tok(s).input_ids) <= 77 for s in segments)
    ref = SegmentEncoder(tok, enc_model, token_length=240, splitter="longalign").segments([sentence])[0]
    assert len(ref) == 1  # the reference splitter keeps one (truncated) segment


def test_bad_configuration(tok, enc_model):
    from longbench.longsd.encoding import SegmentEncoder

    with pytest.raises(LongbenchError, match="token_length=60 is below one segment"):
        SegmentEncoder(tok, enc_model, token_length=60)
    with pytest.raises(LongbenchError, match=r"unknown splitter 'nltk' \(known: longalign, default\)"):
        SegmentEncoder(tok, enc_model, splitter="nltk")
    with pytest.raises(TypeError):
        SegmentEncoder(tok, enc_model)("a single string")


def test_t5_branch_concatenated_after_clip(tok, enc_model):
    from transformers import T5Config, T5EncoderModel

    from longbench.longsd.encoding import SegmentEncoder
    from longbench.longsd.t5_adapter import T5Adapter

    torch.manual_seed(0)
    t5 = T5EncoderModel(T5Config(vocab_size=49408, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)).eval()
    adapter = T5Adapter(in_dim=16, int_dim=24, out_dim=32, dropout=0.0).eval()
    enc = SegmentEncoder(tok, enc_model, token_length=80, t5_tokenizer=tok, t5_encoder=t5, adapter=adapter)
    prompts = ["A cat. A dog on a mat.", ""]
    out = enc(prompts)
    assert out.shape == (2, 160, 32) and enc.output_length == 160
    clip_only = SegmentEncoder(tok, enc_model, token_length=80)(prompts)
    assert torch.allclose(out[:, :80], clip_only)
    ids = tok(prompts, max_length=80, padding="max_length", truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = adapter(t5(ids)[0])
    assert torch.allclose(out[:, 80:], expected, atol=1e-6)
    assert enc.unconditional(2).shape == out.shape
    assert torch.allclose(enc.unconditional(1)[0], out[1], atol=1e-6)
    # the adapter keeps its gradient (it is trained in the align stage)
    adapter.train()
    assert enc(prompts).requires_grad


def test_adapter_roundtrip(tmp_path):
    from longbench.longsd.t5_adapter import T5Adapter

    torch.manual_seed(0)
    a = T5Adapter(in_dim=8, int_dim=12, out_dim=6).eval()
    a.save_pretrained(tmp_path / "ad")
    assert (tmp_path / "ad" / "diffusion_pytorch_model.safetensors").exists()
    b = T5Adapter.from_pretrained(tmp_path / "ad").eval()
    x = torch.randn(2, 5, 8)
    assert torch.equal(a(x), b(x))
    names = set(a.state_dict())
    assert {"norm1.weight", "ff1.net.0.proj.weight", "ff1.net.2.weight", "norm2.bias", "ff2.net.2.bias"} <= names


def test_segment_prompt_embeds_on_a_pipeline(tok):
    from longbench.longsd.encoding import segment_prompt_embeds

    pipe = tiny_sd_pipeline()
    prompts = [" ".join(SENTENCES), "A cat."]
    kw = segment_prompt_embeds(pipe, prompts, {"token_length": "154", "splitter": "default"})
    assert kw["prompt_embeds"].shape == kw["negative_prompt_embeds"].shape == (2, 154, 32)
    again = segment_prompt_embeds(pipe, prompts, {"token_length": 154, "splitter": "default"})
    assert torch.equal(again["prompt_embeds"], kw["prompt_embeds"])
    neg = segment_prompt_embeds(pipe, prompts, {"negative_prompt": "blurry. ugly."})
    assert neg["negative_prompt_embeds"].shape == (2, 240, 32)
    assert not torch.allclose(neg["negative_prompt_embeds"], segment_prompt_embeds(pipe, prompts, {})[
        "negative_prompt_embeds"])
    with pytest.raises(LongbenchError, match="long_prompt=segment has no option 'tokens'"):
        segment_prompt_embeds(pipe, prompts, {"tokens": 3})
    # the pipeline accepts the embeddings as they are
    out = pipe(**kw, num_inference_steps=2, guidance_scale=7.5, output_type="pt",
               generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (2, 3, 16, 16)


# ------------------------------------------------------------------------------------------ naive concatenation
def _sd_encoding(tok, enc_model, text: str) -> torch.Tensor:
    """Stable Diffusion's own 77-row encoding of ``text``, built by hand: start, words, end, end-token padding."""
    words = tok(text, add_special_tokens=False).input_ids[:75]
    ids = [tok.bos_token_id, *words, tok.eos_token_id]
    ids += [tok.pad_token_id] * (77 - len(ids))
    with torch.no_grad():
        return enc_model(torch.tensor([ids]))[0][0]


def test_naive_concatenation_keeps_whole_segments(tok, enc_model):
    """Every segment's start, words and end token, in order; the last segment's padding states; its last row
    repeated to token_length. Rows are compared with 1e-5: the same text encoder, but one batched pass against
    one pass per segment (float32 sums may round differently)."""
    from longbench.longsd.encoding import SegmentEncoder

    enc = SegmentEncoder(tok, enc_model, token_length=240, merge="naive")
    out = enc(["A cat. A red dog."])  # longalign splitter: "A cat." and " A red dog."
    assert out.shape == (1, 240, 32)
    first, last = _sd_encoding(tok, enc_model, "A cat."), _sd_encoding(tok, enc_model, " A red dog.")
    # "A cat." is start + a, cat, . + end = 5 rows (end token kept); then " A red dog." whole, padding included
    assert len(tok("A cat.").input_ids) == 5
    assert torch.allclose(out[0, :5], first[:5], atol=1e-5)
    assert torch.allclose(out[0, 5:82], last, atol=1e-5)
    assert torch.allclose(out[0, 82:], last[76].expand(240 - 82, -1), atol=1e-5)
    # the end token of the first segment is there: row 4 is its state, not the start of the next segment
    assert not torch.allclose(out[0, 4], out[0, 5], atol=1e-3)
    # no padding embedding anywhere
    pad = SegmentEncoder(tok, enc_model, token_length=240).pad_embedding()
    assert not torch.isclose(out[0], pad, atol=1e-4).all(dim=-1).any()
    # a one-sentence prompt: its first 77 rows are Stable Diffusion's own encoding
    assert torch.allclose(enc(["A red dog."])[0, :77], _sd_encoding(tok, enc_model, "A red dog."), atol=1e-5)


def test_naive_cut_truncation_batching_and_unconditional(tok, enc_model):
    from longbench.longsd.encoding import SegmentEncoder

    enc = SegmentEncoder(tok, enc_model, token_length=77, merge="naive")
    sentence = " ".join(f"word{i}" for i in range(120))  # one segment of > 77 tokens: truncated, end token kept
    whole = _sd_encoding(tok, enc_model, sentence)
    out = enc([sentence + ". A cat."])
    assert torch.allclose(out[0], whole, atol=1e-5)  # cut to 77 rows: the second segment does not fit
    # 10 segments of 5 rows + the last one's 77 rows > 77: cut, never padded
    many = " ".join(["A cat."] * 11)
    got = enc([many])[0]
    cat = _sd_encoding(tok, enc_model, "A cat.")
    assert torch.allclose(got[:5], cat[:5], atol=1e-5) and torch.allclose(got[5:10], _sd_encoding(
        tok, enc_model, " A cat.")[:5], atol=1e-5)
    # batching does not change a prompt's rows (tolerance: float32 sums in other batch shapes)
    wide = SegmentEncoder(tok, enc_model, token_length=240, merge="naive")
    prompts = prompts_of_lengths()
    assert torch.allclose(wide(prompts), torch.cat([wide([p]) for p in prompts]), atol=1e-5)
    # unconditional: the encoding of "", i.e. SD's own empty-prompt encoding, its last row repeated
    empty = _sd_encoding(tok, enc_model, "")
    uncond = wide.unconditional(2)
    assert uncond.shape == (2, 240, 32)
    assert torch.allclose(uncond[1, :77], empty, atol=1e-5)
    assert torch.allclose(uncond[0, 77:], empty[76].expand(240 - 77, -1), atol=1e-5)
    assert wide([]).shape == (0, 240, 32)


def test_naive_token_rows_and_description(tok, enc_model):
    """Rows of "red dog" in "A cat. A red dog.": LongAlign drops the end token of "A cat." (start 0, words
    1-3, next start 4, a 5, red 6, dog 7); naive keeps it (end 4, next start 5, a 6, red 7, dog 8)."""
    from longbench.longsd.encoding import SegmentEncoder

    prompt = "A cat. A red dog."
    span = (prompt.index("red"), prompt.index("dog") + 3)
    naive = SegmentEncoder(tok, enc_model, token_length=240, merge="naive")
    ours = SegmentEncoder(tok, enc_model, token_length=240)
    assert ours.token_rows(prompt, [span]) == [[6, 7]]
    assert naive.token_rows(prompt, [span]) == [[7, 8]]
    last = _sd_encoding(tok, enc_model, " A red dog.")
    assert torch.allclose(naive([prompt])[0, [7, 8]], last[[2, 3]], atol=1e-5)
    assert naive.describe() == {"token_length": 240, "splitter": "longalign", "merge": "naive", "t5": False}
    assert ours.describe()["merge"] == "longalign" and ours.describe()["pad_embed_positions"] == 60
    with pytest.raises(LongbenchError, match=r"merge='concat': expected one of longalign, naive"):
        SegmentEncoder(tok, enc_model, merge="concat")


def test_text_grad_trains_the_text_encoder_and_never_caches(tok):
    """``text_grad``: the context keeps the text encoder's graph (a gradient reaches its weights) and the padding
    embedding and unconditional context follow the weights as they change; without it, no graph and both are
    cached."""
    from longbench.longsd.encoding import SegmentEncoder

    model = tiny_text_encoder(seed=5)
    frozen = SegmentEncoder(tok, model, token_length=154)
    assert not frozen(["A cat. A dog."]).requires_grad
    before = frozen.unconditional(1)
    trained = SegmentEncoder(tok, model, token_length=154, text_grad=True)
    cond = trained(["A cat. A dog."])
    assert cond.requires_grad
    (cond.square().mean() + trained.unconditional(2).square().mean()).backward()
    emb = model.get_input_embeddings().weight
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    with torch.no_grad():
        assert not trained(["A cat."]).requires_grad  # evaluation under no_grad stays graph-free
        emb.add_(torch.randn(emb.shape, generator=torch.Generator().manual_seed(0)))  # LayerNorm absorbs a shift
    assert torch.equal(frozen.unconditional(1), before)  # cached: the stale encoding of the old weights
    fresh = trained.unconditional(1)
    assert not torch.allclose(fresh, before, atol=1e-3)
    with torch.no_grad():
        assert torch.allclose(fresh, SegmentEncoder(tok, model, token_length=154).unconditional(1), atol=1e-6)
