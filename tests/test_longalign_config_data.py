"""longalign configs (YAML + --set, unknown keys, types) and data (formats, checks, order)."""

from __future__ import annotations

import json

import pytest

from longbench.errors import LongbenchError


# ---------------------------------------------------------------------------------------------- config
def test_yaml_and_set_overrides(tmp_path):
    from longalign.config import load_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("stage: reward\nmodel:\n  base: ./sd\ndata:\n  path: p.jsonl\nreward:\n  omega: 0.5\n")
    cfg = load_config("reward", cfg_file, ["reward.omega=0.2", "train.max_steps=7", "lora.target_modules=to_q,to_v",
                                           "train.cpu=true", "reward.crop_fraction=1"])
    assert cfg.reward.omega == 0.2 and cfg.train.max_steps == 7 and cfg.train.cpu is True
    assert cfg.lora.target_modules == ["to_q", "to_v"] and cfg.reward.crop_fraction == 1.0
    assert cfg.model.base == "./sd" and cfg.reward.rollout_steps == 50 and cfg.optim.max_grad_norm == 0.3
    assert cfg.optim.learning_rate == 3e-5 and cfg.reward.guidance_scale == 7.5


def test_a_key_given_twice_in_the_yaml_is_an_error_naming_both_lines(tmp_path):
    from longalign.config import load_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model:\n  base: ./sd\nreward:\n  omega: 0.5\n  omega: 0.9\n")
    with pytest.raises(LongbenchError, match=r"c\.yaml: line 5: key 'omega' given twice \(first on line 4\)$"):
        load_config("reward", cfg_file)
    cfg_file.write_text("reward:\n  omega: 0.5\nmodel:\n  base: ./sd\nreward:\n  omega: 0.9\n")
    with pytest.raises(LongbenchError, match=r"line 5: key 'reward' given twice \(first on line 1\)"):
        load_config("reward", cfg_file)
    # YAML merge keys still work: an explicit key overrides a merged one without being a duplicate
    cfg_file.write_text("model:\n  base: ./sd\ndata:\n  path: p.jsonl\nreward:\n  <<: {omega: 0.5, guidance_scale: 3.0}\n"
                        "  omega: 0.2\n")
    cfg = load_config("reward", cfg_file)
    assert cfg.reward.omega == 0.2 and cfg.reward.guidance_scale == 3.0


@pytest.mark.parametrize("override, message", [
    ("reward.omgea=0.1", "unknown config key 'reward.omgea'; did you mean 'reward.omega'"),
    ("trian.max_steps=3", "unknown config key 'trian'"),
    ("train.max_steps=abc", "config key 'train.max_steps': expected an integer"),
    ("train.max_steps=2.5", "expected an integer"),
    ("train.cpu=maybe", "expected true/false"),
    ("model.token_length=60", "model.token_length=60 is below one segment"),
    ("model.splitter=nltk", "model.splitter='nltk'"),
    ("reward.dtype=int8", "reward.dtype='int8'"),
    ("train", "expected KEY=VALUE"),
])
def test_bad_config_values(override, message):
    from longalign.config import load_config

    base = ["model.base=./sd", "data.path=p.jsonl"]
    with pytest.raises(LongbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config("reward", None, base + [override])


def test_config_file_errors(tmp_path):
    from longalign.config import load_config

    with pytest.raises(LongbenchError, match="does not exist"):
        load_config("align", tmp_path / "none.yaml")
    bad = tmp_path / "b.yaml"
    bad.write_text("stage: lcm\nmodel: {base: x}\ndata: {path: y}\n")
    with pytest.raises(LongbenchError, match="the file says stage 'lcm' but --stage is 'align'"):
        load_config("align", bad)
    with pytest.raises(LongbenchError, match="model.base is required"):
        load_config("align", None, ["data.path=x"])
    with pytest.raises(LongbenchError, match="unknown stage"):
        load_config("dpo")
    with pytest.raises(LongbenchError, match="scorer.init is required"):
        load_config("denscore", None, ["pairs.path=x"])
    with pytest.raises(LongbenchError, match="decreasing"):
        load_config("reward-lcm", None, ["model.base=x", "data.path=y", "reward_lcm.timesteps=[249,999]"])


def test_config_roundtrip():
    from longalign.config import config_from_dict, config_to_dict, load_config

    cfg = load_config("lcm", None, ["model.base=x", "data.path=y", "lcm.guidance_scale=3"])
    assert config_from_dict("lcm", config_to_dict(cfg)) == cfg


@pytest.mark.parametrize("stage, override, message", [
    ("reward", "lora.dropout=1", "lora.dropout=1.0 must lie in [0, 1)"),
    ("reward", "lora.dropout=-0.1", "lora.dropout=-0.1 must lie in [0, 1)"),
    ("reward", "reward.omega=1.5", ("reward.omega=1.5 must lie in [0, 1] (1: the plain score; set "
                                    "reward.allow_any_omega=true")),
    ("reward", "reward.omega=-0.1", "reward.omega=-0.1 must lie in [0, 1]"),
    ("reward", "reward.guidance_scale=-1", "reward.guidance_scale=-1.0 must lie in [0, inf)"),
    ("reward", "reward.rollout_steps=0", "reward.rollout_steps=0 must lie in [1, inf)"),
    ("reward", "reward.crop_fraction=0", "reward.crop_fraction=0.0 must lie in (0, 1]"),
    ("lcm", "lcm.guidance_scale=-2", "lcm.guidance_scale=-2.0 must lie in [0, inf)"),
    ("lcm", "lcm.num_ddim_timesteps=0", "lcm.num_ddim_timesteps=0 must lie in [1, inf)"),
    ("lcm", "lcm.timestep_scaling=0", "lcm.timestep_scaling=0.0 must lie in (0, inf)"),
    ("align", "align.huber_c=0", "align.huber_c=0.0 must lie in (0, inf)"),
    ("align", "align.caption_dropout=1.5", "align.caption_dropout=1.5 must lie in [0, 1]"),
    ("align", "optim.adam_beta2=1", "optim.adam_beta2=1.0 must lie in [0, 1)"),
    ("align", "optim.adam_epsilon=0", "optim.adam_epsilon=0.0 must lie in (0, inf)"),
    ("align", "optim.weight_decay=-1", "optim.weight_decay=-1.0 must lie in [0, inf)"),
    ("align", "optim.learning_rate=nan", "optim.learning_rate=nan must lie in (0, inf)"),
    ("align", "train.seed=-1", "train.seed=-1 must lie in [0, 9223372036854775807]"),
    ("align", "lora.alpha=-4", "lora.alpha=-4.0 must lie in [0, inf) (0: alpha = rank)"),
    ("align", "lora.rank=0", "lora.rank=0 must lie in [1, inf)"),
    ("align", "lora.recipe=peft", "lora.recipe='peft': expected one of default, longalign"),
    ("align", "lora.dropout_on=middle", "lora.dropout_on='middle': expected one of input, output"),
    ("align", "data.limit=-1", "data.limit=-1 must lie in [0, inf)"),
    ("align", "model.adapter_dropout=1", "model.adapter_dropout=1.0 must lie in [0, 1)"),
])
def test_range_checks_name_the_key(stage, override, message):
    import re

    from longalign.config import load_config

    with pytest.raises(LongbenchError, match=re.escape(message)):
        load_config(stage, None, ["model.base=./sd", "data.path=p.jsonl", override])


def test_denscore_ranges():
    from longalign.config import load_config

    base = ["scorer.init=x", "pairs.path=y"]
    with pytest.raises(LongbenchError, match=r"denscore\.crop_fraction=1\.5 must lie in \(0, 1\]"):
        load_config("denscore", None, [*base, "denscore.crop_fraction=1.5"])
    with pytest.raises(LongbenchError, match=r"pairs\.num_workers=-1 must lie in \[0, inf\)"):
        load_config("denscore", None, [*base, "pairs.num_workers=-1"])


def test_omega_outside_unit_needs_the_allow_flag():
    from longalign.config import load_config

    cfg = load_config("reward", None, ["model.base=x", "data.path=y", "reward.omega=1.5", "reward.allow_any_omega=true"])
    assert cfg.reward.omega == 1.5


def test_schedule_dependent_checks():
    from longalign.config import load_config

    cfg = load_config("lcm", None, ["model.base=x", "data.path=y", "lcm.num_ddim_timesteps=2000"])
    load_config("lcm", None, ["model.base=x", "data.path=y"]).check_schedule(1000)
    with pytest.raises(LongbenchError, match=r"lcm\.num_ddim_timesteps=2000 must lie in \[1, 1000\] \(the base "
                                             r"scheduler has 1000 training timesteps"):
        cfg.check_schedule(1000)
    cfg = load_config("lcm", None, ["model.base=x", "data.path=y", "lcm.min_timestep=100"])
    with pytest.raises(LongbenchError, match=r"lcm\.min_timestep=100 must lie in \[0, 100\)"):
        cfg.check_schedule(100)
    cfg = load_config("reward", None, ["model.base=x", "data.path=y", "reward.rollout_steps=1001"])
    with pytest.raises(LongbenchError, match=r"reward\.rollout_steps=1001 must lie in \[1, 1000\]"):
        cfg.check_schedule(1000)
    cfg = load_config("reward-lcm", None, ["model.base=x", "data.path=y", "reward_lcm.timesteps=[1200,10]"])
    with pytest.raises(LongbenchError, match=r"reward_lcm\.timesteps=\[1200, 10\]: every timestep must be < 1000"):
        cfg.check_schedule(1000)


def test_warmup_warnings(caplog):
    import logging

    from longalign.config import load_config

    base = ["model.base=x", "data.path=y"]
    with caplog.at_level(logging.WARNING, logger="longalign.sections"):
        load_config("align", None, base)  # the defaults are consistent
        assert not caplog.records
        load_config("align", None, [*base, "train.max_steps=10"])
        assert "optim.warmup_steps=2000 exceeds train.max_steps=10: the learning rate reaches only 0.005 of " \
               "optim.learning_rate=3e-05" in caplog.text
        caplog.clear()
        load_config("align", None, [*base, "optim.lr_scheduler=constant"])
        assert "optim.warmup_steps=2000 is ignored by optim.lr_scheduler=constant" in caplog.text
        caplog.clear()
        load_config("align", None, [*base, "optim.lr_scheduler=constant", "optim.warmup_steps=0"])
        assert not caplog.records


def test_lora_recipe_fills_its_settings():
    from longalign.config import load_config

    base = ["model.base=x", "data.path=y"]
    lo = load_config("align", None, base).lora
    assert (lo.recipe, lo.dropout, lo.dropout_on, lo.target_modules) == ("default", 0.0, "input", [])
    lo = load_config("align", None, [*base, "lora.recipe=longalign"]).lora
    assert (lo.dropout, lo.dropout_on) == (0.1, "output")
    lo = load_config("align", None, [*base, "lora.recipe=longalign", "lora.dropout=0", "lora.dropout_on=input"]).lora
    assert (lo.dropout, lo.dropout_on) == (0.0, "input")
    with pytest.raises(LongbenchError, match="lora.target_modules cannot be combined with lora.recipe=longalign"):
        load_config("align", None, [*base, "lora.recipe=longalign", "lora.target_modules=to_q"])


def test_same_setting_compares_paths(tmp_path, monkeypatch):
    from longalign.config import path_keys, same_setting
    from longalign.stages.align import AlignConfig
    from longalign.stages.denscore import DenscoreConfig
    from longalign.stages.reward import RewardConfig

    # the path keys are declared by the sections (metadata=PATH), the same set as the former hand-written list
    assert path_keys(AlignConfig) == {"model.base", "model.init_from", "model.t5", "model.t5_adapter", "data.path",
                                      "data.image_root"}
    assert path_keys(RewardConfig) - path_keys(AlignConfig) == {"reward.model", "reward.processor"}
    assert path_keys(DenscoreConfig) == {"scorer.init", "scorer.processor", "pairs.path", "pairs.image_root"}
    paths = path_keys(AlignConfig)
    (tmp_path / "sd").mkdir()
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    assert same_setting("model.base", "sd", str(tmp_path / "sd"), paths)
    assert same_setting("model.base", "./sd/", "sd", paths)
    assert not same_setting("model.base", "sd", "other", paths)
    assert not same_setting("model.base", "org/model-a", "org/model-b", paths)
    assert not same_setting("model.splitter", "sd", str(tmp_path / "sd"), paths)  # not a path key


# ---------------------------------------------------------------------------------------------- data
def _img(path, color=(200, 10, 10), size=(20, 12)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def _data_cfg(**kw):
    from longalign.sections import DataSection

    return DataSection(**{"resolution": 8, **kw})


def test_table_formats_agree(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from longalign.data.captions import build_dataset

    rows = [{"image": f"im/{i}.png", "caption": f"Caption {i}. Second sentence."} for i in range(3)]
    for i in range(3):
        _img(tmp_path / f"im/{i}.png", (50 * i, 20, 200))
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "d.csv").write_text("image,caption\n" + "".join(f"{r['image']},\"{r['caption']}\"\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    sets = [build_dataset(_data_cfg(path=str(tmp_path / f"d.{ext}"))) for ext in ("jsonl", "csv", "parquet")]
    for ds in sets:
        assert len(ds) == 3
        item = ds[1]
        assert item["caption"] == "Caption 1. Second sentence." and item["pixel_values"].shape == (3, 8, 8)
        assert torch.equal(item["pixel_values"], sets[0][1]["pixel_values"])
    # the image is resized (shorter side) and centre-cropped into [-1, 1]
    px = sets[0][2]["pixel_values"]
    assert torch.allclose(px[:, 4, 4], torch.tensor([100, 20, 200]) / 127.5 - 1, atol=1e-5)


def test_folder_formats(tmp_path):
    from longalign.data.captions import build_dataset

    _img(tmp_path / "f" / "a.png")
    (tmp_path / "f" / "a.txt").write_text("A red thing.\n")
    _img(tmp_path / "f" / "sub" / "b.jpg")
    (tmp_path / "f" / "sub" / "b.txt").write_text("Another one.")
    ds = build_dataset(_data_cfg(path=str(tmp_path / "f")))
    assert [ds[i]["caption"] for i in range(len(ds))] == ["A red thing.", "Another one."]
    _img(tmp_path / "g" / "x.png")
    (tmp_path / "g" / "metadata.jsonl").write_text(json.dumps({"file_name": "x.png", "caption": "Meta."}) + "\n")
    assert build_dataset(_data_cfg(path=str(tmp_path / "g")))[0]["caption"] == "Meta."
    _img(tmp_path / "h" / "y.png")
    with pytest.raises(LongbenchError, match="no caption file y.txt"):
        build_dataset(_data_cfg(path=str(tmp_path / "h")))


def test_longalign_layout(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from longalign.data.captions import build_dataset

    _img(tmp_path / "images" / "0001.jpg")
    _img(tmp_path / "images" / "0002.jpg")
    (tmp_path / "ds" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([
        {"path": "0001.jpg", "caption": "First paragraph.\n\nSecond paragraph.  "},
        {"path": "0002.jpg", "caption": "Only one."}]), tmp_path / "ds" / "data" / "train-0.parquet")
    ds = build_dataset(_data_cfg(format="longalign", path=str(tmp_path / "ds"), image_root=str(tmp_path / "images")))
    assert len(ds) == 2 and ds[0]["caption"] == "First paragraph.Second paragraph."


def test_missing_image_and_empty_caption_name_the_row(tmp_path):
    from longalign.data.captions import build_dataset

    _img(tmp_path / "ok.png")
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"image": "ok.png", "caption": "fine"}) + "\n"
                 + json.dumps({"image": "gone.png", "caption": "lost"}) + "\n"
                 + json.dumps({"image": "gone2.png", "caption": "lost"}) + "\n")
    with pytest.raises(LongbenchError, match=r"d.jsonl:2: image file .*gone.png not found \(and 1 more\)"):
        build_dataset(_data_cfg(path=str(f)))
    # captions-only stages (reward) do not need the images
    assert len(build_dataset(_data_cfg(path=str(f)), load_images=False)) == 3
    f.write_text(json.dumps({"image": "ok.png", "caption": "fine"}) + "\n"
                 + json.dumps({"image": "ok.png", "caption": "   "}) + "\n")
    with pytest.raises(LongbenchError, match="d.jsonl:2: empty caption"):
        build_dataset(_data_cfg(path=str(f)))
    f.write_text(json.dumps({"picture": "ok.png", "caption": "fine"}) + "\n")
    with pytest.raises(LongbenchError, match="needs column"):
        build_dataset(_data_cfg(path=str(f)))
    with pytest.raises(LongbenchError, match="does not exist"):
        build_dataset(_data_cfg(path=str(tmp_path / "nope.jsonl")))


def test_synth_dataset_matches_the_synth_world():
    import random

    from longalign.data.captions import build_dataset
    from longbench.synth.grammar import make_prompt
    from longbench.synth.sampler import sample_scene

    ds = build_dataset(_data_cfg(format="synth", synth_size=3, synth_seed=5, resolution=16))
    rng = random.Random("5:2")
    scene = sample_scene(rng)
    item = ds[2]
    assert item["caption"] == make_prompt(scene, rng).text
    assert item["pixel_values"].shape == (3, 16, 16) and -1 <= float(item["pixel_values"].min())


def test_stream_sampler_is_resumable_and_wraps():
    from longalign.data.order import StreamBatchSampler

    full = list(StreamBatchSampler(5, 3, seed=1, num_batches=7))
    assert all(len(b) == 3 for b in full)
    flat = [i for b in full for i in b]
    assert sorted(flat[:5]) == list(range(5)) and sorted(flat[5:10]) == list(range(5))  # epochs are permutations
    assert list(StreamBatchSampler(5, 3, seed=1, num_batches=7, start=4)) == full[4:]
    assert list(StreamBatchSampler(5, 3, seed=2, num_batches=7)) != full


def test_preference_pairs(tmp_path):
    from longalign.data.preferences import PreferenceDataset, load_preference_pairs
    from longalign.stages.denscore import PairsSection

    _img(tmp_path / "a.png")
    _img(tmp_path / "b.png", (0, 0, 255))
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"caption": "A cat. A dog.", "image_0": "a.png", "image_1": "b.png", "label": 0.5}) + "\n")
    pairs = load_preference_pairs(PairsSection(path=str(f)))
    item = PreferenceDataset(pairs)[0]
    assert item["label"] == 0.5 and item["image_1"].getpixel((0, 0)) == (0, 0, 255)
    for row, msg in [({"caption": "x", "image_0": "a.png", "image_1": "b.png", "label": 2}, "label must be 0, 1"),
                     ({"caption": "", "image_0": "a.png", "image_1": "b.png", "label": 1}, "empty caption"),
                     ({"caption": "x", "image_0": "a.png", "image_1": "c.png", "label": 1}, "c.png not found"),
                     ({"caption": "x", "image_0": "a.png", "label": 1}, "missing 'image_1'")]:
        f.write_text(json.dumps(row) + "\n")
        with pytest.raises(LongbenchError, match=f"p.jsonl:1: .*{msg}"):
            load_preference_pairs(PairsSection(path=str(f)))
