"""Transformers judges built from configs (tiny random-weight BLIP-VQA and Qwen2-VL), saved and loaded through
the real path; python: judges; bad inputs.

Tolerance: the batched path computes each question in a batch of other questions of the same length, the
one-at-a-time path alone; float32 sums then differ in their last bits (~1e-7 relative), so soft scores are
compared to 1e-5. Answers are argmaxes of logits whose gaps are far larger, so they must be identical.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from longbench.errors import LongbenchError, MissingWeightsError
from tests.helpers_vqa import noise_images, tiny_blip_dir, tiny_qwen_dir  # noqa: F401 - fixtures

QUESTIONS = ["Is there a red circle?", "Are there exactly two blue stars?", "Is the circle at the top of the image?",
             "Is there a cat?", "Are the dogs small?"]


def _requests(n_images: int = 3):
    from longbench.judges.base import JudgeRequest
    from longbench.judges.questions import VQAQuestion

    qs = [VQAQuestion(str(k + 1), t) for k, t in enumerate(QUESTIONS)]
    # Different question sets per image (2, 3, 2 questions), two images of one size and one of another.
    images = noise_images(n_images - 1, 40) + noise_images(1, 48, seed=1)
    return [JudgeRequest(im, tuple(qs[k % 2: 2 + k % 2 + (k == 1)])) for k, im in enumerate(images)]


def _judge(path: Path, **kw):
    from longbench.judges.base import JudgeOptions, build_judge

    return build_judge(str(path), JudgeOptions(**kw))


@pytest.mark.parametrize("which", ["blip", "qwen"])
def test_batched_answers_equal_one_at_a_time(which, tiny_blip_dir, tiny_qwen_dir):  # noqa: F811
    judge = _judge(tiny_blip_dir if which == "blip" else tiny_qwen_dir, batch_size=3, max_new_tokens=4)
    reqs = _requests()
    fast = judge.answer_batched(reqs)
    slow = judge.answer_one_at_a_time(reqs)
    assert [len(a) for a in fast] == [len(r.questions) for r in reqs]
    for fa, sa in zip(fast, slow):
        assert [a.text for a in fa] == [a.text for a in sa]
        for a, b in zip(fa, sa):
            assert 0.0 <= a.p_yes <= 1.0 and math.isfinite(a.p_yes)
            assert a.p_yes == pytest.approx(b.p_yes, abs=1e-5)
    proto = judge.protocol()
    assert proto["weights_sha256"] and all(len(v) == 64 for v in proto["weights_sha256"].values())
    assert proto["decoding"] == {"strategy": "greedy", "do_sample": False, "num_beams": 1, "max_new_tokens": 4}
    if which == "qwen":
        assert judge.features_reused and proto["image_encoding"].startswith("vision tower once per image")
        assert proto["chat_template_sha256"] and proto["family"] == "image-text-to-text"
    else:
        assert proto["family"] == "blip-vqa"


def test_blip_encodes_each_image_once(tiny_blip_dir):  # noqa: F811
    judge = _judge(tiny_blip_dir, max_new_tokens=2)
    calls = []
    vision = judge.model.vision_model
    hook = vision.register_forward_hook(lambda mod, args, out: calls.append(out[0].shape[0]))
    try:
        judge.answer_batched(_requests())
    finally:
        hook.remove()
    assert sum(calls) == 3  # three images, 2 + 3 + 2 questions


def test_qwen_encodes_each_image_once(tiny_qwen_dir):  # noqa: F811
    judge = _judge(tiny_qwen_dir, max_new_tokens=2)
    calls = []
    hook = judge.model.model.visual.register_forward_hook(lambda mod, args, out: calls.append(1))
    try:
        judge.answer_batched(_requests())
    finally:
        hook.remove()
    # Questions of one length and image size share a generate call; each call encodes its distinct images
    # once. Without the reuse there would be one encoding per question (7).
    assert 0 < len(calls) < 7


def test_yes_no_tokens_with_and_without_leading_space(tiny_blip_dir, tiny_qwen_dir):  # noqa: F811
    blip, qwen = _judge(tiny_blip_dir), _judge(tiny_qwen_dir)
    assert [blip.tokenizer.decode([i]) for i in blip.yes_ids] == ["yes"]  # uncased WordPiece: one id
    words = sorted(qwen.tokenizer.convert_ids_to_tokens(i) for i in qwen.yes_ids)
    assert "Yes" in words and "yes" in words and "Ġyes" in words  # BPE: capitalised and leading-space pieces


def test_tokenizer_without_yes_is_refused():
    from transformers import BertTokenizerFast

    from longbench.judges.transformers import yes_no_token_ids

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "maybe"]
    with pytest.raises(LongbenchError, match="no single token for 'yes'"):
        yes_no_token_ids(BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}))


@pytest.mark.parametrize("which", ["blip", "qwen"])
def test_eval_end_to_end(tmp_path: Path, which, tiny_blip_dir, tiny_qwen_dir):  # noqa: F811
    """`longbench eval --metric vqa --metric-arg vqa.judge=DIR` on synth-v0: the tiny judges answer garbage,
    which counts as no and is reported; soft scores are probabilities; answers are in samples.jsonl."""
    from click.testing import CliRunner

    from cli import main

    path = tiny_blip_dir if which == "blip" else tiny_qwen_dir
    r = CliRunner().invoke(main, ["eval", "--suite", "synth-v0", "--model", "synth:oracle", "--metric", "vqa", "--limit", "1",
                                  "--metric-arg", f"vqa.judge={path}", "--metric-arg", "vqa.max_new_tokens=3",
                                  "--output", str(tmp_path), "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)[0]
    m = res["metrics"]
    assert 0.0 <= m["vqa-soft"]["value"] <= 1.0
    assert 0.0 <= m["vqa-hard"]["value"] <= 1.0
    samples = [json.loads(x) for x in next(tmp_path.rglob("samples.jsonl")).read_text().splitlines()]
    qs = [q for s in samples for q in s["details"]["vqa"]["questions"]]
    assert all(0.0 <= q["p_yes"] <= 1.0 for q in qs)
    assert all(0.0 <= q["soft"] <= q["p_yes"] + 1e-12 for q in qs)  # ancestors only lower it
    report = res["reports"]["vqa"]
    neither = sum(1 for q in qs if q.get("neither"))
    assert report["answers"]["other"] == neither and sum(report["answers"].values()) == len(qs)
    assert m["vqa-neither"]["value"] == pytest.approx(neither / len(qs))  # one image
    proto = res["protocols"]["vqa"]["judge"]
    assert proto["model"] == str(path) and proto["revision"] is None
    assert proto["decoding"]["max_new_tokens"] == 3


def test_missing_or_broken_judge_weights(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingWeightsError, match="no loadable config") as e:
        _judge(empty)
    assert "\n" not in str(e.value)
    with pytest.raises(MissingWeightsError, match="not found offline"):
        _judge(Path("nobody-here/no-such-vqa-model"))
    with pytest.raises(MissingWeightsError, match="revision 'main' applies to Hugging Face ids"):
        _judge(empty, revision="main")


def test_truncated_checkpoint_is_refused(tmp_path: Path, tiny_blip_dir):  # noqa: F811
    """A judge whose checkpoint lacks tensors would answer with random weights: refused in one line."""
    import shutil

    from safetensors.torch import load_file, save_file

    d = tmp_path / "broken"
    shutil.copytree(tiny_blip_dir, d)
    sd = load_file(str(d / "model.safetensors"))
    sd.pop(next(k for k in sd if k.startswith("vision_model.")))
    save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(LongbenchError, match="does not match the model") as e:
        _judge(d)
    assert "\n" not in str(e.value)


BAD_JUDGES = '''
def wrong_count(images, questions):
    return [["yes"] for _ in images]

def bad_p(images, questions):
    return [[("yes", 1.5) for _ in qs] for qs in questions]

def bad_type(images, questions):
    return [[42 for _ in qs] for qs in questions]

def good(images, questions):
    return [[{"answer": "Yes.", "p_yes": 0.75} if k % 2 else "no" for k, _ in enumerate(qs)] for qs in questions]
'''


@pytest.fixture
def judge_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "lb_bad_judges.py").write_text(BAD_JUDGES)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("lb_bad_judges", None)
    return "lb_bad_judges"


@pytest.mark.parametrize("fn, message", [("wrong_count", "1 answers for the 2 questions of image 0"),
                                         ("bad_p", "p_yes must lie in [0, 1], got 1.5"),
                                         ("bad_type", "expected a string, (text, p_yes)"),
                                         ("missing", "has no attribute 'missing'")])
def test_python_judge_bad_output(judge_module, fn, message):
    import re

    from longbench.judges.base import build_judge

    with pytest.raises(LongbenchError, match=re.escape(message)):
        build_judge(f"python:{judge_module}:{fn}").answer(_requests(1))


def test_python_judge_answers(judge_module):
    from longbench.judges.base import build_judge

    out = build_judge(f"python:{judge_module}:good").answer(_requests(1))
    assert [(a.text, a.p_yes) for a in out[0]] == [("no", None), ("Yes.", 0.75)]


def test_judge_dtype_is_loaded_and_recorded(tiny_blip_dir):  # noqa: F811
    judge = _judge(tiny_blip_dir, dtype="bfloat16", max_new_tokens=2)
    assert next(judge.model.parameters()).dtype.is_floating_point and judge.protocol()["dtype"] == "bfloat16"
    [answers] = judge.answer_batched(_requests(1))
    assert all(0.0 <= a.p_yes <= 1.0 for a in answers)
    with pytest.raises(LongbenchError, match="dtype 'fp8': expected one of float32"):
        _judge(tiny_blip_dir, dtype="fp8")
