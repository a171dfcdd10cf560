"""caption-match: an independent transcription of the score (transformers forward + log-softmax gather), the
reference's label-smoothed batch loss, segments that never truncate, the protocol, loading errors, a real run."""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from longbench.errors import LongbenchError, MissingWeightsError
from longbench.suites.base import Item

PREFIX = "a photography of"
#: one decoder forward per text here against batched, padded forwards in the metric: float32 rounding only
#: (measured < 3e-7 on scores of magnitude ~5)
TOL = 1e-5


@pytest.fixture(scope="module")
def captioner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from longbench.testing import save_tiny_blip_captioner

    return save_tiny_blip_captioner(tmp_path_factory.mktemp("caption") / "blip", seed=0)  # 40 text positions


@pytest.fixture(scope="module")
def metric(captioner_dir: Path):
    from longbench.metrics.caption_match import CaptionMatch

    return CaptionMatch(str(captioner_dir))


@pytest.fixture(scope="module")
def reference(captioner_dir: Path):
    """The tiny captioner loaded with plain transformers (not through the metric's loader)."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    model = BlipForConditionalGeneration.from_pretrained(str(captioner_dir)).eval()
    return model, BlipProcessor.from_pretrained(str(captioner_dir))


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = [(64, 64), (40, 72), (96, 48)]
    return [Image.fromarray(rng.integers(0, 256, (*sizes[i % 3], 3), dtype=np.uint8)) for i in range(n)]


def _reference_pixels(image: Image.Image, size: int) -> torch.Tensor:
    """The reference's transforms: float [0,1] → Resize((S,S), bicubic, antialias) → Normalize(CLIP mean/std)."""
    from torchvision import transforms

    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    t = transforms.Compose([
        transforms.Resize((size, size), interpolation=transforms.InterpolationMode.BICUBIC, antialias=True),
        transforms.Normalize([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])])
    return t(x)[None]


def _direct_score(model, processor, image: Image.Image, prompt: str) -> float:
    """−mean over the label tokens of −log p(token), one unpadded text: the full model forward, then a
    log-softmax and a gather by hand. Labels: every token after [CLS] + prefix words (the reference's
    ``len(tokenizer(prefix).input_ids) - 1`` positions), the end token included."""
    tok = processor.tokenizer
    ids = torch.tensor([tok(f"{PREFIX} {prompt.lower()}").input_ids])
    n_prefix = len(tok(PREFIX).input_ids) - 1
    with torch.no_grad():
        logits = model(pixel_values=_reference_pixels(image, model.config.vision_config.image_size),
                       input_ids=ids).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    per_token = [float(logp[t - 1, ids[0, t]]) for t in range(n_prefix, ids.shape[1])]
    return sum(per_token) / len(per_token)


ITEMS = [
    Item("one", "Two dogs chase a ball"),
    Item("two", "A red fox sits in the snow. The sky is pale blue; a lone pine stands left?"),
    Item("given", "ignored when segments are given", segments=("A boat on a lake.", "The water is calm.")),
    Item("long", "A city at night. " + "Rain falls on the road and on the very wet table " * 3 + "by the window."),
]


def test_scores_equal_direct_computation(metric, reference) -> None:
    model, processor = reference
    images = _images(len(ITEMS))
    m = metric.clone()
    m.update(images[:3], ITEMS[:3])
    m.update(images[3:], ITEMS[3:])
    per, segs = m.per_sample(), m.per_segment()
    for i, (image, item) in enumerate(zip(images, ITEMS)):
        segments = metric.segments_of(item)
        want_segs = [_direct_score(model, processor, image, s) for s in segments]
        assert segs[i] == pytest.approx(want_segs, abs=TOL)
        assert per["caption-match-seg"][i] == pytest.approx(np.mean(want_segs), abs=TOL)
        if item.id == "long":
            assert math.isnan(per["caption-match"][i])  # 40 positions: not scored whole, never truncated
        else:
            assert per["caption-match"][i] == pytest.approx(_direct_score(model, processor, image, item.prompt),
                                                            abs=TOL)
    assert [len(s) for s in segs[:3]] == [1, 3, 2] and len(segs[3]) >= 3  # "." and ";" end sentences
    values = m.compute()
    assert values["caption-match"] == pytest.approx(np.nanmean(per["caption-match"]), abs=1e-12)
    # the scores differ by image and by text, far beyond the tolerance: the comparison can fail
    assert np.ptp([s for ss in segs for s in ss]) > 100 * TOL


def test_label_smoothing_and_batch_mean_against_the_reference_loss(captioner_dir: Path, reference) -> None:
    """With ε = 0.1 the score of one image is the reference's reward ``-outputs.loss`` (its transformers
    4.31 decoder loss smoothed by 0.1; transformers 5 reads ε from the decoder's ``label_smoothing``); for a
    batch, the reference pools label tokens over the batch, i.e. the token-weighted mean of the per-image
    scores — which is why the metric reports per-image means instead."""
    from longbench.metrics.caption_match import CaptionMatch

    model, processor = reference
    ref = copy.deepcopy(model)
    ref.text_decoder.label_smoothing = 0.1
    prompts = ["two dogs chase a ball", "a red fox sits in the snow with a very calm lake and a boat"]
    images = _images(2, seed=3)
    tok = processor.tokenizer
    n_prefix = len(tok(PREFIX).input_ids) - 1

    def reference_reward(idx: list[int]) -> float:
        inputs = tok([f"{PREFIX} {prompts[i].lower()}" for i in idx], padding="longest", return_tensors="pt")
        labels = inputs["input_ids"].masked_fill(inputs["input_ids"] == tok.pad_token_id, -100)
        labels[:, :n_prefix] = -100
        pixels = torch.cat([_reference_pixels(images[i], model.config.vision_config.image_size) for i in idx])
        with torch.no_grad():
            return -float(ref(pixel_values=pixels, input_ids=inputs["input_ids"],
                              attention_mask=inputs["attention_mask"], labels=labels).loss)

    smoothed = CaptionMatch(str(captioner_dir), label_smoothing=0.1)
    items = [Item(str(i), p) for i, p in enumerate(prompts)]
    smoothed.update(images, items)
    scores = smoothed.per_sample()["caption-match"]
    assert scores[0] == pytest.approx(reference_reward([0]), abs=TOL)
    assert scores[1] == pytest.approx(reference_reward([1]), abs=TOL)
    n_labels = [len(tok(p).input_ids) - 1 for p in prompts]  # prompt tokens + [SEP]
    pooled = sum(s * n for s, n in zip(scores, n_labels)) / sum(n_labels)
    assert reference_reward([0, 1]) == pytest.approx(pooled, abs=TOL)
    assert abs(pooled - np.mean(scores)) > 100 * TOL  # the two batch means really differ here
    plain = CaptionMatch(str(captioner_dir))
    plain.update(images, items)
    assert abs(plain.per_sample()["caption-match"][0] - scores[0]) > 100 * TOL  # ε matters


def test_long_prompts_are_split_never_truncated(metric) -> None:
    cap = metric.captioner
    run_on = "The water is " + "very " * 50 + "calm, and the boat waits; "
    item = Item("x", "A boat on a lake. " + run_on + "Rain falls at night.")
    segments = metric.segments_of(item)
    assert all(cap.count_tokens(s) <= cap.segment_budget for s in segments)
    assert " ".join(segments).split() == item.prompt.split()  # every word scored, in order
    assert segments[0] == "A boat on a lake." and segments[-1] == "Rain falls at night." and len(segments) >= 4
    # a suite segment over the budget is cut the same way, not truncated
    given = Item("y", "unused", segments=(run_on.strip(), "Rain falls at night."))
    assert " ".join(metric.segments_of(given)).split() == (run_on + "Rain falls at night.").split()
    m = metric.clone()
    m.update(_images(1), [item])
    assert math.isnan(m.per_sample()["caption-match"][0]) and len(m.per_segment()[0]) == len(segments)
    with pytest.raises(LongbenchError, match="exceeds the captioner's 40 positions"):
        cap.encode([run_on])  # the text path refuses what does not fit instead of cutting it


def test_one_sentence_prompt_scores_the_same_text_in_both_columns(metric) -> None:
    m = metric.clone()
    m.update(_images(2), [Item("a", "Two dogs chase a ball."), Item("b", "a boat")])
    per = m.per_sample()
    assert per["caption-match"] == per["caption-match-seg"]


def test_protocol_records_weights_and_preprocessing(metric, captioner_dir: Path) -> None:
    from longbench.metrics import BUILTIN
    from longbench.weights import file_sha256

    p = metric.protocol()
    c = p["captioner"]
    assert p["name"] == "caption-match" and p["version"] == metric.version
    assert c["weights_sha256"] == {"model.safetensors": file_sha256(captioner_dir / "model.safetensors")}
    assert c["model"] == str(captioner_dir) and c["model_class"] == "BlipForConditionalGeneration"
    assert c["image_size"] == 32 and c["image_mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert c["image_std"] == pytest.approx([0.26862954, 0.26130258, 0.27577711]) and c["dtype"] == "float32"
    assert c["prefix"] == PREFIX and c["prefix_tokens"] == 4 and c["start_token"] == "[CLS]"
    assert c["max_length"] == 40 and c["segment_budget"] == 35
    assert p["label_smoothing"] == 0.0 and "bicubic" in p["image"] and "antialias" in p["image"]
    assert "never truncated" in p["whole_prompt"]
    assert set(BUILTIN["caption-match"].columns) == set(metric.columns)


def test_options_arrive_as_strings(captioner_dir: Path) -> None:
    from longbench.metrics.base import MetricContext, build_metric

    ctx = MetricContext(suite=None)
    m = build_metric("caption-match", ctx, {"model": str(captioner_dir), "label_smoothing": "0.1",
                                            "use_suite_segments": "false", "max_tokens": "64"})
    assert m.label_smoothing == 0.1 and not m.use_suite_segments and m.max_tokens == 64
    assert m.segments_of(ITEMS[2]) == ["ignored when segments are given"]
    for bad, msg in (({"label_smoothing": "1.5"}, "label_smoothing must be in"),
                     ({"max_tokens": "0"}, "max_tokens must be >= 1"),
                     ({"bogus": "1"}, "has no option 'bogus'")):
        with pytest.raises(LongbenchError, match=msg):
            build_metric("caption-match", ctx, {"model": str(captioner_dir), **bad})


def test_small_max_tokens_gives_the_same_scores(metric, captioner_dir: Path) -> None:
    from longbench.metrics.caption_match import CaptionMatch

    images = _images(len(ITEMS), seed=5)
    a, b = metric.clone(), CaptionMatch(str(captioner_dir), max_tokens=1)  # one text per decoder forward
    a.update(images, ITEMS)
    b.update(images, ITEMS)
    for x, y in zip(a.per_segment(), b.per_segment(), strict=True):
        assert x == pytest.approx(y, abs=TOL)


@pytest.mark.parametrize("spec,needle", [("no-such-org/no-such-captioner", "not found offline"),
                                         ("/no/such/dir", "does not exist")])
def test_missing_weights_is_a_one_line_error(spec: str, needle: str) -> None:
    from longbench.metrics.caption_match import CaptionMatch

    with pytest.raises(MissingWeightsError) as err:
        CaptionMatch(spec)
    assert "\n" not in str(err.value) and needle in str(err.value) and spec in str(err.value)


def test_missing_weights_on_the_cli_exits_2(tmp_path: Path) -> None:
    from cli import main

    r = CliRunner().invoke(main, ["eval", "--model", "synth:oracle", "--suite", "synth-v0", "--limit", "1",
                                  "--metric", "caption-match", "--metric-arg",
                                  f"caption-match.model={tmp_path / 'nope'}", "--output", str(tmp_path / "runs"),
                                  "--no-progress"])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "caption-match captioner" in lines[0]


def test_other_checkpoints_are_refused(captioner_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from longbench.metrics.caption_match import CaptionMatch
    from longbench.testing import save_tiny_blip_vqa

    vqa = save_tiny_blip_vqa(tmp_path / "vqa")
    with pytest.raises(LongbenchError, match="not a BlipForConditionalGeneration captioner") as err:
        CaptionMatch(str(vqa))
    assert "\n" not in str(err.value)
    partial = tmp_path / "partial"
    shutil.copytree(captioner_dir, partial)
    sd = {k: v for k, v in load_file(str(partial / "model.safetensors")).items() if not k.startswith("text_decoder.")}
    save_file(sd, str(partial / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(LongbenchError, match="missing key") as err:
        CaptionMatch(str(partial))
    assert "\n" not in str(err.value) and "refusing to run with randomly initialised weights" in str(err.value)


def test_eval_run_reports_cis_buckets_and_segments(captioner_dir: Path, fake_modules: Path, tmp_path: Path) -> None:
    """A real ``longbench eval``: CIs and length buckets from the per-image scores, per-segment scores in
    samples.jsonl, the whole-prompt score null (not truncated) for the prompt that does not fit."""
    from cli import main
    from tests.conftest import write_suite

    long = " ".join(f"Sentence {i} tells of a red circle and a blue square in the snow." for i in range(8))
    suite = write_suite(tmp_path / "s.jsonl", [{"id": "a", "prompt": "A red cube on a table. A blue ball."},
                                               {"id": "long", "prompt": long},
                                               {"id": "b", "prompt": "Two green cats sleep on a mat."}])
    r = CliRunner().invoke(main, ["eval", "--model", "python:lb_fake_gen:gen", "--suite", str(suite), "--metric",
                                  "caption-match", "--metric-arg", f"caption-match.model={captioner_dir}",
                                  "--output", str(tmp_path / "runs"), "--no-progress"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    run_dir = next((tmp_path / "runs").glob("*/*/results.json")).parent
    results = json.loads((run_dir / "results.json").read_text())
    whole, seg = results["metrics"]["caption-match"], results["metrics"]["caption-match-seg"]
    assert whole["n"] == 2 and seg["n"] == 3 and seg["ci"] is not None and len(seg["by_bucket"]) == 2
    assert results["protocols"]["caption-match"]["captioner"]["weights_sha256"]
    rows = {json.loads(ln)["item_id"]: json.loads(ln) for ln in (run_dir / "samples.jsonl").read_text().splitlines()}
    assert rows["long"]["scores"]["caption-match"] is None
    segs = rows["long"]["segments"]["caption-match"]
    assert len(segs) == 8 and rows["long"]["scores"]["caption-match-seg"] == pytest.approx(np.mean(segs), abs=1e-12)
    assert len(rows["a"]["segments"]["caption-match"]) == 2


def test_scores_are_differentiable_in_the_images(metric) -> None:
    """The Python API the trainer's reward builds on: gradients reach the [0,1] images."""
    cap = metric.captioner
    images = torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(0), requires_grad=True)
    scores = cap.text_scores(cap.image_embeds(cap.pixels(images)), ["two dogs", "a red fox.", "a boat"], [0, 0, 1])
    scores.sum().backward()
    assert images.grad is not None and bool((images.grad[0] != 0).any()) and bool((images.grad[1] != 0).any())


def test_image_batch_equals_pil_images(metric) -> None:
    """The runner's converted uint8 batch (:class:`~longbench.images.ImageBatch`) scores like PIL images."""
    from longbench.images import ImageBatch

    images = _images(3, seed=7)
    a, b = metric.clone(), metric.clone()
    a.update(images, ITEMS[:3])
    b.update(ImageBatch.from_images(images), ITEMS[:3])
    for col, vals in a.per_sample().items():
        assert b.per_sample()[col] == pytest.approx(vals, abs=TOL, nan_ok=True)
