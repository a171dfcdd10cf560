"""The miniature zoo's consumers: ``longbench train mini-ship``, the ``mini:<generator>`` specs, ``mini:clip`` /
``mini:denscore`` as metric weights, fid-clip against rendered references, and the miniature offline default.

Every test runs on a zoo shipped from one smoke reproduction per session (``tests/conftest.py``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from longbench.errors import LongbenchError
from tests.helpers_longalign import one_thread

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # the session's smoke reproduction takes minutes


@pytest.fixture(autouse=True)
def _threads():
    yield from one_thread()


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------ mini-ship
def test_ship_fp16_files_manifest_and_base_probe(mini_smoke_repro, mini_smoke_zoo):
    from safetensors.torch import load_file

    from longalign.mini_ship import BASE_SPEC, MAX_BYTES, SHIP_FORMAT
    from longbench.longsd.checkpoint import LORA_DELTA_NAME, LORA_WEIGHT_NAME, read_manifest
    from longbench.longsd.lora import read_lora

    repro, zoo = mini_smoke_repro, mini_smoke_zoo
    source = json.loads((repro / "manifest.json").read_text())
    m = json.loads((zoo / "manifest.json").read_text())
    assert m["format"] == SHIP_FORMAT and m["dtype"] == "float16" and m["size"] == "smoke"
    assert m["source_manifest_sha256"] == _sha(repro / "manifest.json")
    from longbench.mini.zoo import GENERATORS, NAMES

    present = [n for n in NAMES if (repro / n / "final").is_dir()]
    assert {"clip", "denscore", "base", "sd", "longsd"} <= set(present)
    assert sorted(m["models"]) == sorted(present)
    assert not (zoo / "vae").exists()  # the VAE ships inside base
    total = 0
    deltas = []
    for name, entry in m["models"].items():
        src = source["models"][name]
        for key in ("stage", "config", "config_sha256", "data_seed", "train_seed", "steps", "check"):
            assert entry[key] == src[key], (name, key)
        on_disk = sorted(p.relative_to(zoo / name).as_posix() for p in (zoo / name).rglob("*") if p.is_file())
        expected = sorted(src["files"])
        if (zoo / name / LORA_DELTA_NAME).is_file():  # a reward model: its parent's ranks ship once, with the parent
            deltas.append(name)
            expected = sorted(LORA_DELTA_NAME if r == LORA_WEIGHT_NAME else r for r in expected)
        assert sorted(entry["files"]) == on_disk == expected
        for rel, f in entry["files"].items():
            p = zoo / name / rel
            assert f == {"sha256": _sha(p), "bytes": p.stat().st_size}
            if rel == LORA_DELTA_NAME:  # the trained rank-stacked LoRA without the parent's leading ranks, fp16
                ck = read_manifest(zoo / name)
                assert ck["lora_parent"] == "mini:longsd"
                r = ck["lora_parent_rank"]
                parent = load_file(str(repro / "longsd" / "final" / LORA_WEIGHT_NAME))
                shipped, trained = load_file(str(p)), load_file(str(repro / name / "final" / LORA_WEIGHT_NAME))
                assert shipped.keys() == trained.keys() == parent.keys()
                for k, t in trained.items():
                    dim = 0 if ".lora_A." in k else 1
                    assert torch.equal(t.narrow(dim, 0, r), parent[k])
                    assert torch.equal(shipped[k], t.narrow(dim, r, t.shape[dim] - r).to(torch.float16)), (name, k)
                # read back: the whole trained LoRA, rounded to fp16
                whole = read_lora(zoo / name)
                assert whole.keys() == {k.removeprefix("unet.") for k in trained}
                for k, t in trained.items():
                    assert torch.equal(whole[k.removeprefix("unet.")], t.to(torch.float16).float()), (name, k)
            elif rel.endswith(".safetensors"):  # every float tensor is the fp32 one rounded to fp16, exactly
                shipped, trained = load_file(str(p)), load_file(str(repro / name / "final" / rel))
                assert shipped.keys() == trained.keys()
                for k, t in trained.items():
                    want = t.to(torch.float16) if t.is_floating_point() else t
                    assert shipped[k].dtype == want.dtype and torch.equal(shipped[k], want), (name, k)
            elif not (name in GENERATORS and rel == "manifest.json"):
                assert (zoo / name / rel).read_bytes() == (repro / name / "final" / rel).read_bytes()
        assert entry["bytes"] == sum(f["bytes"] for f in entry["files"].values())
        total += entry["bytes"]
    assert m["total_bytes"] == total <= MAX_BYTES
    assert deltas == [n for n in ("reward-w0", "reward-w03", "reward-w1") if n in present] and deltas

    # the generators: base mini:base, probed on the shipped (fp16-rounded) base, loadable there
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    from longbench.longsd.checkpoint import base_probe, check_base

    unet = UNet2DConditionModel.from_pretrained(str(zoo / "base" / "unet"))
    text = CLIPTextModel.from_pretrained(str(zoo / "base" / "text_encoder"), dtype=torch.float32)
    assert unet.dtype == text.dtype == torch.float32  # fp16 files load into the float32 models
    probe = base_probe(unet, text)
    for name in (n for n in present if n in GENERATORS):
        ck = read_manifest(zoo / name)
        trained = json.loads((repro / name / "final" / "manifest.json").read_text())
        assert ck["base"]["spec"] == ck["base"]["path"] == BASE_SPEC
        assert ck["base"]["probe"] == probe and str(repro) not in json.dumps({**ck, "config": None})
        check_base(ck, probe, BASE_SPEC)
        assert ck["encoder"] == trained["encoder"] and ck["config"] == trained["config"]


def test_shipped_zoo_was_trained_with_the_configs_in_the_repository():
    """Every model of the shipped zoo records the config it was trained with and that file's sha256: the file in
    docs/examples/mini must still hash to it, so `mini-reproduce` with the shipped configs retrains this zoo
    (editing a config, even a comment, means reshipping)."""
    from longbench.mini.zoo import zoo_root

    manifest = json.loads((zoo_root() / "manifest.json").read_text())
    repo = Path(__file__).resolve().parents[1]
    assert manifest["size"] == "full" and len(manifest["models"]) == 9
    layout = manifest.get("layout", "free")
    for name, entry in manifest["models"].items():
        if layout != "free":  # every model of the zoo trained on its layout (mini-reproduce --layout)
            assert any(o.endswith(f".mini_layout={layout}") for o in entry["overrides"]), (name, entry["overrides"])
        config = repo / entry["config"]
        assert config.parent == repo / "docs" / "examples" / "mini", (name, entry["config"])
        assert _sha(config) == entry["config_sha256"], f"{entry['config']} changed since {name} was shipped"


def test_ship_cli_refusals_leave_the_zoo_alone(mini_smoke_repro, tmp_path, monkeypatch):
    import cli
    from longalign import mini_ship

    runner = CliRunner()
    zoo = tmp_path / "zoo"
    res = runner.invoke(cli.main, ["train", "mini-ship", "--from", str(mini_smoke_repro), "--to", str(zoo)])
    assert res.exit_code == 0, res.output
    before = {p: p.read_bytes() for p in zoo.rglob("*") if p.is_file()}

    def refused(args: list[str], match: str) -> None:
        res = runner.invoke(cli.main, ["train", "mini-ship", *args])
        assert res.exit_code == 2, res.output
        line = res.stderr.strip()  # stdout has the progress lines
        assert "\n" not in line and line.startswith("error:") and match in line, line
        assert {p: p.read_bytes() for p in zoo.rglob("*") if p.is_file()} == before

    # over the budget (the budget lowered to just below this zoo's size): nothing written
    monkeypatch.setattr(mini_ship, "MAX_BYTES", json.loads((zoo / "manifest.json").read_text())["total_bytes"] - 1)
    refused(["--from", str(mini_smoke_repro), "--to", str(zoo)], "MB budget")
    monkeypatch.undo()
    # a file of a model missing, or changed after training
    broken = tmp_path / "broken"
    shutil.copytree(mini_smoke_repro, broken, ignore=shutil.ignore_patterns("state"))
    (broken / "longsd" / "final" / "pytorch_lora_weights.safetensors").unlink()
    refused(["--from", str(broken), "--to", str(zoo)], "longsd")
    shutil.copyfile(mini_smoke_repro / "longsd" / "final" / "pytorch_lora_weights.safetensors",
                    broken / "longsd" / "final" / "pytorch_lora_weights.safetensors")
    (broken / "clip" / "final" / "config.json").write_text("{}")
    refused(["--from", str(broken), "--to", str(zoo)], "differs from its sha256")
    # generators without their base
    shutil.copytree(mini_smoke_repro / "clip" / "final", broken / "clip" / "final", dirs_exist_ok=True)
    shutil.rmtree(broken / "base")
    refused(["--from", str(broken), "--to", str(zoo)], "need the base pipeline")
    # not a reproduction; a --to that holds something else
    refused(["--from", str(tmp_path), "--to", str(zoo)], "no manifest.json")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    res = runner.invoke(cli.main, ["train", "mini-ship", "--from", str(mini_smoke_repro), "--to", str(other)])
    assert res.exit_code == 2 and "not a shipped zoo" in res.output and (other / "notes.txt").is_file()


def test_package_data_ships_every_zoo_file(mini_smoke_zoo, tmp_path):
    """Every file a zoo holds matches a package-data glob of pyproject.toml (what a non-editable install
    copies from ``longbench/mini/weights``), with setuptools' glob semantics (``**`` recursive)."""
    import glob

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["longbench"]
    pkg = tmp_path / "longbench"
    shutil.copytree(mini_smoke_zoo, pkg / "mini" / "weights")
    matched = {Path(p) for pat in patterns for p in glob.glob(pat, root_dir=pkg, recursive=True)}
    files = {p.relative_to(pkg) for p in pkg.rglob("*") if p.is_file()}
    assert files and files <= matched, sorted(str(f) for f in files - matched)


# ------------------------------------------------------------------------------------------ specs
def test_generators_load_by_spec_like_plain_diffusers(mini_smoke_zoo):
    """``mini:longsd`` = the zoo's base + ``load_lora_weights(<zoo>/longsd)`` in plain diffusers, fed the segment
    encoder's embeddings, with the sampler of the base stage's check."""
    from diffusers import StableDiffusionPipeline

    from longbench.longsd.encoding import SegmentEncoder
    from longbench.mini.suite import mini_v0
    from longbench.models.base import Request, build_model

    zoo = mini_smoke_zoo
    items = mini_v0().items[:2]
    reqs = [Request(it, 11 + i) for i, it in enumerate(items)]
    model = build_model("mini:longsd", {"zoo": str(zoo), "fuse": "false"})
    check = json.loads((zoo / "base" / "manifest.json").read_text())["eval"]
    assert model.call_kwargs() == {"num_inference_steps": check["steps"], "guidance_scale": check["guidance"]}
    got = np.stack([np.asarray(im) for im in model.generate(reqs)]).astype(int)

    pipe = StableDiffusionPipeline.from_pretrained(str(zoo / "base"))
    pipe.load_lora_weights(str(zoo / "longsd"))
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe.scheduler).__name__ == "DDIMScheduler"
    enc = SegmentEncoder(pipe.tokenizer, pipe.text_encoder, 240, "longalign")
    with torch.no_grad():
        out = pipe(prompt_embeds=enc([it.prompt for it in items]), negative_prompt_embeds=enc.unconditional(2),
                   num_inference_steps=check["steps"], guidance_scale=check["guidance"], output_type="np",
                   generator=[torch.Generator().manual_seed(r.seed) for r in reqs]).images
    want = (out * 255).round().astype(int)
    # same arithmetic except batching and LoRA bookkeeping: float32 rounding may move a pixel by one level
    assert got.shape == want.shape == (2, 32, 32, 3) and np.abs(got - want).max() <= 1

    # scale: pixel repetition; the identity (cache key) ignores where the zoo lies
    big = build_model("mini:longsd", {"zoo": str(zoo), "scale": 2, "fuse": "false"}).generate(reqs[:1])[0]
    assert big.size == (64, 64) and np.array_equal(np.asarray(big)[::2, ::2], got[0])
    ident = model.identity()
    assert ident["spec"] == "mini:longsd" and ident["base"] == "mini:base" and "zoo" not in ident["args"]
    assert ident["sampling"] == {"steps": check["steps"], "guidance": check["guidance"]}
    assert build_model("mini:sd", {"zoo": str(zoo)}).identity_hash() != model.identity_hash()

    # the shipped checkpoint also loads as longsd:DIR, its mini:base resolving to the zoo it sits in
    assert build_model(f"longsd:{zoo / 'longsd'}").base_path() == str(zoo / "base")

    # a reward model ships as a delta on mini:longsd: by spec = plain diffusers with both adapters on
    from longbench.longsd.checkpoint import LORA_DELTA_NAME

    got = np.stack([np.asarray(im) for im in build_model("mini:reward-w03", {"zoo": str(zoo), "fuse": "false"})
                    .generate(reqs)]).astype(int)
    pipe = StableDiffusionPipeline.from_pretrained(str(zoo / "base"))
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises((OSError, ValueError)):  # no part of the LoRA loads by mistake: the slice sits one level down
        pipe.load_lora_weights(str(zoo / "reward-w03"))
    pipe.load_lora_weights(str(zoo / "longsd"), adapter_name="longsd")
    pipe.load_lora_weights(str((zoo / "reward-w03" / LORA_DELTA_NAME).parent), adapter_name="reward")
    pipe.set_adapters(["longsd", "reward"])
    with torch.no_grad():
        out = pipe(prompt_embeds=enc([it.prompt for it in items]), negative_prompt_embeds=enc.unconditional(2),
                   num_inference_steps=check["steps"], guidance_scale=check["guidance"], output_type="np",
                   generator=[torch.Generator().manual_seed(r.seed) for r in reqs]).images
    want_reward = (out * 255).round().astype(int)
    assert np.abs(got - want_reward).max() <= 1
    # and the slice acts: without it (mini:longsd's images) some pixel moves by more than that tolerance
    assert np.abs(want_reward - want).max() > 1


def test_mini_spec_dispatch_errors_and_listing(mini_smoke_repro, monkeypatch, tmp_path):
    from longbench.mini import zoo as zoo_mod
    from longbench.models.base import build_model
    from longbench.models.mini import MiniGeneratorModel, MiniSceneModel

    monkeypatch.setattr(zoo_mod, "ZOO_DIR", tmp_path / "nothing-shipped")
    with pytest.raises(LongbenchError, match=r"mini model 'longsd' is not in the shipped miniature weights"):
        build_model("mini:longsd")
    # the reproduction layout (<name>/final) loads as well
    assert isinstance(build_model("mini:sd", {"zoo": str(mini_smoke_repro)}), MiniGeneratorModel)
    with pytest.raises(LongbenchError, match=r"mini:clip is not a generator"):
        build_model("mini:clip")
    with pytest.raises(LongbenchError, match=r"did you mean 'mini:longsd'"):
        build_model("mini:longsdd")
    # the message quotes the spec as typed, so a doubled prefix reads as the mistake it is
    with pytest.raises(LongbenchError, match=r"^unknown mini model 'mini:mini:longsd'; did you mean 'mini:longsd'\?"):
        build_model("mini:mini:longsd")
    with pytest.raises(LongbenchError, match=r"did you mean 'mini:oracle'"):
        build_model("mini:orcle")
    # nothing close: both families are listed, so a new user learns that the generators exist
    for spec in ("mini:nope", "mini:"):
        with pytest.raises(LongbenchError) as e:
            build_model(spec)
        assert "did you mean" not in str(e.value)
        assert "(generators: sd, longsd, naive, reward-w0, reward-w03, reward-w1; scene models: oracle" in str(e.value)
    # scene models read scale only; the generators' options (one --model-arg list per run) change nothing
    oracle = build_model("mini:oracle", {"zoo": "/elsewhere", "steps": "3"})
    assert isinstance(oracle, MiniSceneModel) and oracle.identity() == build_model("mini:oracle").identity()
    with pytest.raises(LongbenchError, match=r"has no option 'scael'; did you mean 'scale'"):
        build_model("mini:oracle", {"scael": "2"})

    import cli

    res = CliRunner().invoke(cli.main, ["models", "list"])
    assert res.exit_code == 0 and "reward-w03" in res.output and "zoo" in res.output and "oracle" in res.output


# ------------------------------------------------------------------------------------------ metrics
def test_zoo_scorers_as_metric_weights(mini_smoke_zoo, monkeypatch):
    from longbench.metrics.clip_models import load_clip_scorer
    from longbench.mini import zoo as zoo_mod

    by_spec = load_clip_scorer("mini:clip", zoo=str(mini_smoke_zoo))
    by_dir = load_clip_scorer(str(mini_smoke_zoo / "clip"))
    monkeypatch.setattr(zoo_mod, "ZOO_DIR", mini_smoke_zoo)
    shipped = load_clip_scorer("mini:denscore")
    assert by_spec.identity["model"] == "mini:clip" and shipped.identity["model"] == "mini:denscore"
    assert by_spec.image_size == 32 and by_spec.identity["model_fingerprint"] == by_dir.identity["model_fingerprint"]
    # 32-px images pass the processor unresized: exactly (x/255 - mean) / std, as the clip stage trained
    img = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    mean, std = torch.tensor(by_spec.image_mean)[:, None, None], torch.tensor(by_spec.image_std)[:, None, None]
    want = (img.double() / 255 - mean.double()) / std.double()
    assert torch.allclose(by_spec.standard_pixels(list(img)).double(), want, atol=1e-6)  # float32 rounding
    a = by_spec.image_features(by_spec.standard_pixels(list(img)))
    b = by_dir.image_features(by_dir.standard_pixels(list(img)))
    assert torch.equal(a, b)


def test_fid_clip_on_mini_clip_against_rendered_oracle(mini_smoke_zoo, tmp_path):
    """Reference statistics = mean / covariance (n-1) of mini-clip features of mini:oracle's images of every
    mini-v0 item, drawn with the reference seed stream; computed once, then read from the cache."""
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.metrics.clip_models import load_clip_scorer
    from longbench.mini.suite import mini_v0
    from longbench.models.base import Request, build_model, request_seed

    suite = mini_v0()
    ctx = MetricContext(suite=suite, cache_dir=tmp_path / "cache", seed=3)
    opts = {"model": "mini:clip", "ref_model": "mini:oracle", "zoo": str(mini_smoke_zoo)}
    metric = build_metric("fid-clip", ctx, opts)
    ref = metric.reference()
    assert ref["info"]["cached"] is False and ref["info"]["n"] == len(suite)

    scorer = load_clip_scorer(str(mini_smoke_zoo / "clip"))
    oracle = build_model("mini:oracle")
    reqs = [Request(it, request_seed(3, "mini-v0/reference", it.id)) for it in suite.items]
    imgs = [torch.from_numpy(np.asarray(im)).permute(2, 0, 1) for im in oracle.generate(reqs)]
    with torch.no_grad():
        feats = torch.cat([scorer.image_features(scorer.standard_pixels(imgs[i:i + 50])) for i in range(0, 200, 50)])
    f = feats.double().numpy()
    # float32 features from other batch compositions: agree to float32 rounding, not bit for bit
    assert np.allclose(ref["mu"].numpy(), f.mean(0), atol=1e-5)
    assert np.allclose(ref["sigma"].numpy(), np.cov(f, rowvar=False), atol=1e-5)

    again = build_metric("fid-clip", ctx, opts).reference()
    assert again["info"]["cached"] is True and torch.equal(again["mu"], ref["mu"])
    with pytest.raises(LongbenchError, match="ref and ref_model both given"):
        build_metric("fid-clip", ctx, {**opts, "ref": str(tmp_path / "x.npz")})
    with pytest.raises(LongbenchError, match="unknown mini model"):
        build_metric("fid-clip", ctx, {**opts, "ref_model": "mini:nope"})


# ------------------------------------------------------------------------------------------ the default
def test_miniature_default_eval_on_a_smoke_zoo(mini_smoke_zoo, monkeypatch, tmp_path):
    """With the miniature default on, `longbench eval` (no options but a limit) runs mini:oracle, mini:sd and
    mini:longsd on mini-v0 with the exact and the learned metrics of the zoo."""
    import cli
    from longbench.mini import zoo as zoo_mod

    assert cli.default_suite() == (zoo_mod.suite_name() if zoo_mod.SHIPPED else "synth-v0")
    monkeypatch.setattr(zoo_mod, "SHIPPED", True)
    monkeypatch.setattr(zoo_mod, "ZOO_DIR", mini_smoke_zoo)
    res = CliRunner().invoke(cli.main, ["eval", "--limit", "6", "--output", str(tmp_path / "runs"), "--json",
                                        "--no-progress"])
    assert res.exit_code == 0, res.output
    runs = json.loads(res.stdout)
    assert [r["model"]["spec"] for r in runs] == ["mini:oracle", "mini:sd", "mini:longsd"]
    want = {"fact_recall", "fact_recall@>77", "denscore", "denscore-o", "segment-align-mean", "clipscore",
            "fid-clip"}
    for r in runs:
        assert r["suite"]["name"] == "mini-v0" and r["n"] == 6
        assert want <= set(r["metrics"]), sorted(want - set(r["metrics"]))
    assert runs[0]["metrics"]["fact_recall"]["value"] == 1.0  # the exact oracle: the ceiling
    proto = runs[1]["protocols"]
    assert proto["denscore"]["model"]["model"] == "mini:denscore"
    assert proto["fid-clip"]["reference"]["source"] == "images of model mini:oracle"


def test_doctor_reports_the_zoo(mini_smoke_zoo, tmp_path, monkeypatch):
    """`longbench doctor` says whether the shipped zoo is complete: every file of its manifest, at its size."""
    from longbench import doctor
    from longbench.mini import zoo as zoo_mod

    copy = tmp_path / "zoo"
    shutil.copytree(mini_smoke_zoo, copy)
    monkeypatch.setattr(zoo_mod, "ZOO_DIR", copy)
    monkeypatch.setattr(zoo_mod, "SHIPPED", True)
    n = len(json.loads((copy / "manifest.json").read_text())["models"])
    assert doctor._zoo_status().startswith(f"[green]ok[/green]: {n} models")
    (copy / "longsd" / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    assert "incomplete[/red]: 1 file(s)" in doctor._zoo_status() and "longsd/pytorch_lora_weights" in doctor._zoo_status()
    monkeypatch.setattr(zoo_mod, "SHIPPED", False)
    assert doctor._zoo_status() == "not shipped in this build"


def test_a_shipped_generator_is_a_parent_the_trainer_takes(mini_smoke_zoo, mini_smoke_repro, tmp_path):
    """A shipped checkpoint names its base ``mini:base``: the trainer (``model.init_from``) resolves it to the base
    of the zoo the checkpoint sits in, as ``mini:longsd`` does, whether the zoo is shipped (``<zoo>/longsd``) or
    laid out like a reproduction (``<zoo>/longsd/final``)."""
    from accelerate import Accelerator

    from longalign.config import load_config
    from longalign.stages.reward import RewardStage
    from longbench.mini.zoo import checkpoint_base

    zoo = mini_smoke_zoo
    assert json.loads((zoo / "longsd" / "manifest.json").read_text())["base"]["spec"] == "mini:base"
    assert checkpoint_base("mini:base", zoo / "longsd") == str(zoo / "base")
    assert checkpoint_base("runs/base", zoo / "longsd") is None
    nested = tmp_path / "nested"
    for name in ("base", "longsd"):
        shutil.copytree(zoo / name, nested / name / "final")
    assert checkpoint_base("mini:base", nested / "longsd" / "final") == str(nested / "base" / "final")
    with pytest.raises(LongbenchError, match="mini model 'base' is not in zoo"):
        checkpoint_base("mini:base", tmp_path / "alone" / "longsd")

    def stage(init_from: Path, *extra: str) -> RewardStage:
        sets = [f"model.init_from={init_from}", f"reward.model={zoo / 'denscore'}", "data.mini_size=8",
                "train.max_steps=1", *extra]
        s = RewardStage(load_config("reward", str(ROOT / "docs/examples/mini/reward-w1.yaml"), sets),
                        Accelerator(cpu=True))
        s.setup()
        return s

    assert stage(zoo / "longsd").base_path == zoo / "base"
    assert stage(nested / "longsd" / "final").base_path == nested / "base" / "final"
