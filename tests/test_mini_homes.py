"""The miniature world's ``homes`` layout and its suite ``mini-v1``: every shape in its home quadrant, prompts
that state no places, splits that never share scenes, and the scene models that respect the layout."""

from __future__ import annotations

import math
import statistics

import pytest

from longbench.errors import LongbenchError
from longbench.mini import views
from longbench.mini.captions import short_caption
from longbench.mini.grammar import LOCATIONS
from longbench.mini.sampler import sample_scene
from longbench.mini.suite import (
    MAX_TOKENS,
    MINI_V1_SEED,
    MINI_V1_SIZE,
    mini_v1,
    split_scene_keys,
    train_items,
)
from longbench.mini.world import HOMES, MINI, Group, Scene, visible

MINI_V1_SHA256 = "d10215f1f9affe86ac9dc93ea5e08241b80c9862788d0d7cd630e82334e68b98"


@pytest.fixture(scope="module")
def suite():
    return mini_v1()


def test_homes_is_one_quadrant_per_shape_and_crosses_have_none():
    assert sorted(HOMES.values()) == sorted(["top-left", "top-right", "bottom-left", "bottom-right"])
    assert "cross" not in HOMES
    for seed in range(300):
        scene = sample_scene(seed, "homes")
        assert scene.layout == "homes" and 2 <= len(scene.groups) <= 3
        assert all(g.region == HOMES[g.shape] for g in scene.groups)
    # the free layout draws what mini-v0 always drew: the layout argument changes nothing there
    assert sample_scene(11) == sample_scene(11, "free") and sample_scene(11).layout == "free"
    with pytest.raises(LongbenchError, match="unknown mini layout 'grid'"):
        sample_scene(0, "grid")


def test_scene_json_and_validation():
    scene = Scene("gray", (Group("square", "red", "top-left", 2), Group("diamond", "blue", "bottom-right", 1)),
                  "homes")
    d = scene.to_dict()
    assert d["layout"] == "homes" and Scene.from_dict(d) == scene
    free = Scene("gray", scene.groups)
    assert "layout" not in free.to_dict() and Scene.from_dict(free.to_dict()).layout == "free"
    moved = {**d, "groups": [{**d["groups"][0], "region": "top-right"}, d["groups"][1]]}
    with pytest.raises(LongbenchError, match="the squares lie top-right, not in their home top-left"):
        Scene.from_dict(moved, where="item x")
    crosses = {**d, "groups": [{"shape": "cross", "colour": "red", "region": "top-right", "count": 1},
                               d["groups"][1]]}
    with pytest.raises(LongbenchError, match="a homes layout has no crosses"):
        Scene.from_dict(crosses)
    with pytest.raises(LongbenchError, match="unknown layout 'grid'"):
        Scene.from_dict({**d, "layout": "grid"})


def test_short_caption_states_no_place():
    scene = Scene("gray", (Group("square", "red", "top-left", 3), Group("circle", "blue", "top-right", 1)), "homes")
    assert short_caption(scene) == "three red squares. one blue circle. gray background."
    assert short_caption(Scene("gray", scene.groups)) == ("three red squares in the top left corner. one blue circle "
                                                          "in the top right corner. gray background.")


def test_suite_states_no_places_and_keeps_facts_beyond_77(suite):
    assert len(suite) == MINI_V1_SIZE and suite.sha256 == MINI_V1_SHA256
    phrases = [p for ps in LOCATIONS.values() for p in ps]
    for it in suite.items:
        scene = views.item_scene(it)
        assert scene.layout == "homes"
        assert {f.type for f in it.facts} <= {"presence", "attribute", "count"}
        assert len(it.facts) == 3 * len(it.entities)
        assert not any(p in it.prompt.lower() for p in phrases), it.id
        views.check_facts(it, scene)
    n = [it.meta["n_tokens"] for it in suite.items]
    assert max(n) <= MAX_TOKENS and 110 <= statistics.median(n) <= 160
    assert sum(x > 75 for x in n) / len(n) >= 0.9
    lasts = [t for it in suite.items for t in it.meta["fact_last_tokens"]]
    assert 0.35 <= sum(not visible(t) for t in lasts) / len(lasts) <= 0.5


def test_train_and_test_splits_never_share_scenes(suite):
    keys = split_scene_keys("homes")
    assert keys == {views.item_scene(it).key() for it in suite.items}
    train = train_items(300, seed=1, layout="homes")
    assert all(views.item_scene(it).layout == "homes" for it in train)
    assert not {views.item_scene(it).key() for it in train} & keys
    assert train[0].id == "mini1-train1-0000"
    for seed in (MINI_V1_SEED, 20250611):  # both test splits' seeds, for either layout
        for layout in ("free", "homes"):
            with pytest.raises(ValueError, match="test split"):
                train_items(1, seed=seed, layout=layout)


def test_scene_models_keep_the_layout(suite):
    """clip77 puts a group whose place it cannot read in its home (not a random free quadrant); random draws
    homes scenes for homes items; corruption never moves a group."""
    for i, it in enumerate(suite.items):
        scene = views.item_scene(it)
        for drawn in (views.known_scene(it, i, 77), MINI.random_scene(i, like=scene), views.corrupt_scene(it, 3, i)):
            drawn.validate(strict=False)
            assert drawn.layout == "homes" and all(g.region == HOMES[g.shape] for g in drawn.groups)


def test_models_and_metric_on_mini_v1(suite):
    from longbench.mini.metric import MiniFactsMetric
    from longbench.models.base import Request, build_model

    items = suite.items[:60]
    requests = [Request(it, seed=i) for i, it in enumerate(items)]
    values = {}
    for spec in ("mini:oracle", "mini:clip77"):
        model = build_model(spec)
        model.prepare(requests)
        metric = MiniFactsMetric()
        metric.update(model.generate(requests), items)
        values[spec] = metric.compute()
    assert values["mini:oracle"]["fact_recall"] == 1.0 and math.isnan(values["mini:oracle"]["position_acc"])
    clip77 = values["mini:clip77"]
    assert clip77["fact_recall@<=77"] == 1.0 and clip77["fact_recall@>77"] < 0.5


def test_training_data_of_the_homes_layout():
    """data.mini_layout / pairs.mini_layout: the datasets draw homes items, their short captions state no place,
    a twin or a broken render never moves a group, and describe() records the layout (free: as before)."""
    import numpy as np

    from longalign.data.mini import MiniDataset, MiniPreferenceDataset, eval_items
    from longbench.mini.render import Renderer

    data = MiniDataset(6, 3, 32, "short", layout="homes", twins=True)
    assert data.describe()["mini_layout"] == "homes"
    assert "mini_layout" not in MiniDataset(2, 3, 32, "short").describe()
    for k in range(len(data)):
        item = data.items[data.elements[k][0]]
        scene = views.item_scene(item)
        assert scene.layout == "homes" and data.text(k) == short_caption(scene)
        assert data.twin_scene(k).layout == "homes"
    want = Renderer().render_array(views.item_scene(data.items[0]), seed=0)
    got = ((data[0]["pixel_values"].permute(1, 2, 0).numpy() + 1.0) * 127.5).round().astype(np.uint8)
    assert np.array_equal(got, want)
    pairs = MiniPreferenceDataset(8, 3, [1, 2], layout="homes")
    assert pairs.describe()["mini_layout"] == "homes" and all(views.item_scene(it).layout == "homes"
                                                                for it in pairs.items)
    assert [views.item_scene(it).layout for it in eval_items(3, 7, "homes")] == ["homes"] * 3


# --------------------------------------------------------------------------------- the zoo's layout
def _zoo_of_layout(src, dst, layout):
    """A copy of a shipped zoo whose manifest records ``layout`` (None: no ``layout`` key, as before mini-v1)."""
    import json
    import shutil

    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    m.pop("layout", None)
    if layout is not None:
        m["layout"] = layout
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def test_zoo_layout_names_its_test_split(mini_smoke_zoo, tmp_path):
    """The zoo manifest's layout picks the split the zoo is evaluated on; a manifest without one is a free zoo
    (mini-v0), as is a zoo without a manifest; an unknown layout is a one-line error naming the file."""
    import json

    from longbench.mini import zoo

    assert json.loads((mini_smoke_zoo / "manifest.json").read_text())["layout"] == "free"  # mini-ship records it
    assert zoo.suite_name(mini_smoke_zoo) == "mini-v0"
    assert zoo.suite_name(_zoo_of_layout(mini_smoke_zoo, tmp_path / "h", "homes")) == "mini-v1"
    assert zoo.layout(_zoo_of_layout(mini_smoke_zoo, tmp_path / "old", None)) == "free"
    with pytest.raises(LongbenchError, match=r"bad/manifest\.json: layout 'grid' is not one of free, homes"):
        zoo.layout(_zoo_of_layout(mini_smoke_zoo, tmp_path / "bad", "grid"))
    (tmp_path / "by-hand").mkdir()
    assert zoo.layout(tmp_path / "by-hand") == "free"  # no manifest: no record of another layout


def test_a_homes_zoo_moves_the_defaults_to_mini_v1(mini_smoke_zoo, tmp_path, monkeypatch):
    """Shipping a homes zoo makes mini-v1 the offline default (its generators, the learned metrics on its
    scorers) and leaves mini-v0 the exact metric only; a mini: model without --suite points at mini-v1."""
    import cli
    from longbench.mini import suite as suite_mod
    from longbench.mini import zoo

    monkeypatch.setattr(zoo, "SHIPPED", True)
    monkeypatch.setattr(zoo, "ZOO_DIR", _zoo_of_layout(mini_smoke_zoo, tmp_path / "zoo", "homes"))
    assert cli.default_suite() == "mini-v1"
    assert cli.default_models("mini-v1") == cli.default_models("mini-v0") == ("mini:oracle", "mini:sd", "mini:longsd")
    assert cli.default_models("synth-v0") == ("synth:oracle", "synth:clip77")
    assert suite_mod.mini_v1().default_metrics == ("mini", "denscore", "segment-align", "clipscore", "fid-clip")
    assert suite_mod.mini_v0().default_metrics == ("mini",)
    with pytest.raises(LongbenchError, match="add --suite synth-v0"):
        cli.check_world_of_default_suite(("synth:oracle",), "mini-v1")
    cli.check_world_of_default_suite(("mini:oracle",), "mini-v1")
    with pytest.raises(LongbenchError, match="add --suite mini-v1"):
        cli.check_world_of_default_suite(("mini:oracle",), "synth-v0")


def test_meta_eval_defaults_to_the_split_of_its_zoo(mini_smoke_zoo, tmp_path):
    """meta-eval without --suite ranks the metrics on the test split of the --zoo's layout."""
    from longbench.mini.meta_eval import MetaEvalConfig, meta_evaluate

    homes = _zoo_of_layout(mini_smoke_zoo, tmp_path / "zoo", "homes")
    result = meta_evaluate(MetaEvalConfig(zoo=str(homes), levels=1, limit=3, metrics=["clipscore"], n_bootstrap=10))
    assert result["suite"]["name"] == "mini-v1" and result["config"]["suite"] == "mini-v1"


def test_checks_say_none_for_a_kind_the_layout_never_states():
    """The held-out checks' reader scores on homes items: exact renders recall every fact, and the quadrant
    column, which has no fact, is None (it used to be NaN, which made the manifests that record checks invalid
    JSON)."""
    from longalign.data.mini import MiniDataset, reader_scores, to_uint8

    d = MiniDataset(4, 3, 32, "short", layout="homes")
    scores = reader_scores([to_uint8(d.render(i)[None])[0] for i in range(4)], d.items)
    assert scores["fact_recall"] == 1.0 and scores["count_acc"] == 1.0 and scores["position_acc"] is None


def test_ship_writes_strict_json(mini_smoke_repro, tmp_path):
    """A model manifest holding NaN (a check written before reader_scores said None) ships as strict JSON."""
    import json
    import shutil

    from longalign.mini_ship import ship
    from longbench.weights import file_sha256

    repro = tmp_path / "repro"
    shutil.copytree(mini_smoke_repro, repro)
    clip_manifest = repro / "clip" / "final" / "manifest.json"
    m = json.loads(clip_manifest.read_text())
    m["check"] = {**(m.get("check") or {}), "position_acc": float("nan")}
    clip_manifest.write_text(json.dumps(m))
    top = json.loads((repro / "manifest.json").read_text())
    top["models"]["clip"]["files"]["manifest.json"] = file_sha256(clip_manifest)
    (repro / "manifest.json").write_text(json.dumps(top))
    zoo = tmp_path / "zoo"
    ship(repro, zoo)

    def refuse(name):
        raise AssertionError(f"non-finite {name} in a shipped JSON file")

    for path in zoo.rglob("*.json"):
        json.loads(path.read_text(), parse_constant=refuse)
    assert json.loads((zoo / "clip" / "manifest.json").read_text())["check"]["position_acc"] is None


def test_eval_table_leaves_out_columns_without_any_value(capsys):
    """A column no model has a value for on any item (mini-v1's quadrant columns) is one line under the table, not
    a row of n/a; a column one model lacks stays a row."""
    from types import SimpleNamespace

    import cli

    def run(spec, metrics):
        return SimpleNamespace(results={"suite": {"name": "mini-v1", "version": "1", "sha256": "ab" * 32}, "n": 2,
                                        "model": {"spec": spec}, "metrics": metrics})

    empty = {"value": None, "ci": None, "n": 0, "higher_is_better": True}
    full = {"value": 0.5, "ci": [0.25, 0.75], "n": 2, "higher_is_better": True}
    cli.print_comparison([run("mini:sd", {"fact_recall": full, "position_acc": empty, "count_acc": full}),
                          run("mini:longsd", {"fact_recall": full, "position_acc": empty, "count_acc": empty})])
    out = capsys.readouterr().out
    assert "fact_recall ↑" in out and "count_acc ↑" in out and "position_acc ↑" not in out
    assert "no item has a value for position_acc (the suite states no such fact)" in out
