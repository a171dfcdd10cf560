"""Synthetic world: renderer and exact detector."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageFilter

from longbench.synth.detect import Detection, Detector
from longbench.synth.render import Renderer, object_px, shape_mask
from longbench.synth.sampler import sample_scene
from longbench.synth.world import PALETTE, REGIONS, SHAPES, SIZES, Group, Scene, region_cell


@pytest.fixture(scope="module")
def renderer():
    return Renderer(256)


@pytest.fixture(scope="module")
def detector():
    return Detector()


def test_shape_masks_symmetric_and_distinct():
    for d in (9, 18, 32, 64):
        masks = {s: shape_mask(s, d) for s in SHAPES}
        for s, m in masks.items():
            assert m.shape == (d, d) and m.any()
            assert (m == m[:, ::-1]).all(), s  # every shape is mirror-symmetric left/right
        assert len({m.tobytes() for m in masks.values()}) == len(SHAPES)
    # analytic areas at a fine resolution (independent formulas)
    d = 200
    assert abs(shape_mask("square", d).mean() - 1.0) < 1e-9
    assert abs(shape_mask("circle", d).mean() - np.pi / 4) < 0.01
    assert abs(shape_mask("triangle", d).mean() - 0.5) < 0.01
    assert abs(shape_mask("diamond", d).mean() - 0.5) < 0.01
    assert abs(shape_mask("cross", d).mean() - 5 / 9) < 0.01


def test_render_exact_palette_and_deterministic(renderer):
    for seed in range(30):
        scene = sample_scene(seed)
        a = np.asarray(renderer.render(scene, seed))
        b = np.asarray(renderer.render(scene, seed))
        assert a.shape == (256, 256, 3) and a.dtype == np.uint8
        assert (a == b).all()
        packed = (a[..., 0].astype(np.int64) << 16) | (a[..., 1].astype(np.int64) << 8) | a[..., 2]
        values, counts = np.unique(packed, return_counts=True)
        pixels = {((v >> 16) & 255, (v >> 8) & 255, v & 255): n
                  for v, n in zip(values.tolist(), counts.tolist())}
        assert set(pixels) == {PALETTE[scene.background]} | {PALETTE[g.colour] for g in scene.groups}
        # pixel count of each colour = the sum of its objects' template areas (nothing overlaps)
        for g in scene.groups:
            n = pixels[PALETTE[g.colour]]
            expected = sum(int(renderer.template(h.shape, h.size).sum()) * h.count
                           for h in scene.groups if h.colour == g.colour)
            assert n == expected


def test_seed_moves_objects(renderer):
    scene = sample_scene(1)
    images = {renderer.render(scene, s).tobytes() for s in range(8)}
    assert len(images) > 1


def test_layout_inside_regions_and_apart(renderer):
    for seed in range(300):
        scene = sample_scene(seed)
        places = renderer.layout(scene, seed)
        assert len(places) == sum(g.count for g in scene.groups)
        cell = 256 / 3
        for p in places:
            row, col = region_cell(scene.groups[p.group].region)
            assert col * cell <= p.x and p.x + p.d <= (col + 1) * cell
            assert row * cell <= p.y and p.y + p.d <= (row + 1) * cell
        for i, p in enumerate(places):
            for q in places[i + 1:]:
                gap = max(q.x - (p.x + p.d), p.x - (q.x + q.d), q.y - (p.y + p.d), p.y - (q.y + q.d))
                assert gap >= 2, (seed, p, q)


def test_detect_render_roundtrip_exact(renderer, detector):
    rng = random.Random(0)
    for i in range(300):
        scene = sample_scene(rng)
        seed = rng.randrange(2**31)
        det = detector.detect(renderer.render(scene, seed))
        assert det.to_scene() == scene, i
        # boxes agree with the renderer's placements (tight box of each pasted template)
        expected = []
        for p in renderer.layout(scene, seed):
            m = renderer.template(p.shape, p.size)
            assert m.shape == (p.d, p.d) == (object_px(p.size, 256),) * 2
            ys, xs = np.nonzero(m)
            expected.append((p.x + xs.min(), p.y + ys.min(), p.x + xs.max() + 1, p.y + ys.max() + 1))
        assert sorted(o.box for o in det.objects) == sorted(expected)
        assert all(o.distance == 0.0 for o in det.objects)


@pytest.mark.parametrize("size", [128, 200, 512])
def test_roundtrip_other_image_sizes(size, detector):
    r = Renderer(size)
    for seed in range(40):
        scene = sample_scene(seed + 1000)
        assert detector.detect(r.render(scene, seed)).to_scene() == scene


def test_every_shape_size_region_count_roundtrip(renderer, detector):
    for shape in SHAPES:
        for size in SIZES:
            for k, region in enumerate(REGIONS):
                g = Group(shape, "red", size, region, 1 + k % 4)
                scene = Scene("white", (g,))
                assert detector.detect(renderer.render(scene, k)).to_scene() == scene


def _jpeg(im: Image.Image, q: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=q)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _noise(im: Image.Image, sigma: float, seed: int) -> Image.Image:
    a = np.asarray(im).astype(np.float64) + np.random.default_rng(seed).normal(0, sigma, (256, 256, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name, transform, min_groups", [
    ("jpeg q90", lambda im, s: _jpeg(im, 90), 0.9),
    ("jpeg q75", lambda im, s: _jpeg(im, 75), 0.85),
    ("gaussian noise 15", lambda im, s: _noise(im, 15, s), 0.98),
    ("bilinear x2", lambda im, s: im.resize((512, 512), Image.Resampling.BILINEAR), 0.9),
    ("bilinear to 200", lambda im, s: im.resize((200, 200), Image.Resampling.BILINEAR), 0.8),
    ("non-square bicubic", lambda im, s: im.resize((300, 256), Image.Resampling.BICUBIC), 0.9),
    ("blur 1px", lambda im, s: im.filter(ImageFilter.GaussianBlur(1)), 0.8),
])
def test_degrades_gracefully(name, transform, min_groups, renderer, detector):
    found = total = 0
    for seed in range(40):
        scene = sample_scene(seed + 7)
        det = detector.detect(transform(renderer.render(scene, seed), seed)).to_scene()
        found += len(set(det.groups) & set(scene.groups))
        total += len(scene.groups)
    assert found / total >= min_groups, (name, found / total)


def test_arbitrary_images_do_not_crash(detector):
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    gradient = Image.fromarray(np.stack([*np.meshgrid(np.arange(256), np.arange(256)),
                                         np.full((256, 256), 90)], -1).astype(np.uint8))
    blocks = Image.new("RGB", (320, 240), (200, 180, 170))  # non-square, off-palette colours
    for k in range(6):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        blocks.paste(c, (20 + 50 * k, 30 + 20 * k, 60 + 50 * k, 90 + 20 * k))
    inputs = [noise, gradient, blocks, noise.convert("L"), noise.convert("RGBA"), Image.new("RGB", (1, 1)),
              Image.new("RGB", (4000, 30), (250, 140, 0)), np.asarray(gradient),
              np.asarray(gradient).astype(np.float32) / 255.0]
    for im in inputs:
        det = detector.detect(im)
        assert isinstance(det, Detection)
        assert det.background is None or det.background in PALETTE
        det.to_scene()
    assert len(detector.detect(blocks).objects) >= 3
    assert len(detector.detect(gradient).objects) >= 1


def test_torch_tensor_input(renderer, detector):
    torch = pytest.importorskip("torch")
    scene = sample_scene(5)
    arr = np.asarray(renderer.render(scene, 1))
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0
    assert detector.detect(t).to_scene() == scene


def test_touching_objects_merge_gracefully(detector):
    # Two red squares that touch form one component: read as one object, not a crash.
    a = np.full((256, 256, 3), 250, np.uint8)
    a[100:132, 100:132] = PALETTE["red"]
    a[100:132, 132:164] = PALETTE["red"]
    det = detector.detect(Image.fromarray(a))
    assert len(det.objects) == 1 and det.background == "white"
