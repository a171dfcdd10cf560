"""fid and fid-clip: parity with torch-fidelity / open_clip / numpy, streaming invariance, caching, bad input.

The Inception network is torch-fidelity's own class with random (batch-norm calibrated) weights saved to a
file and loaded back through the metric's real loading path. Inception forwards are the slow part, so the
tests share one metric instance (reset per test) and use few images.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from longbench.errors import LongbenchError, MissingWeightsError
from longbench.metrics.base import MetricContext, build_metric
from longbench.metrics.fid import BUCKET_LABELS, FID, FrechetMetric
from longbench.metrics.fid_clip import CLIPFID
from longbench.metrics.fid_features import INCEPTION_WEIGHTS_FILE, OpenClipFeatures
from longbench.metrics.functional import fid as F
from longbench.suites.base import Item, Suite
from tests.helpers_fid import TINY_OPEN_CLIP_CFG, make_inception_weights, make_tiny_open_clip, random_images

SHORT = "A red cube on a table."
LONG = " ".join(["A small green bird sits on the branch of an old oak tree near the river."] * 8)  # > 77 tokens

# Tolerance for FID values whose float32 network features were computed in differently composed batches
# (another chunk size, other images in the chunk) or with another thread count. The GEMM/conv kernels choose
# their blocking and reduction order from the batch shape and the threads, so a feature moves by a few float32
# ulps (eps 1.2e-7) and FID by about as much relative (up to 3e-7 observed). float64 statistics cannot
# undo that, so 1e-5 is what float32 can promise, with margin; a wrong bucket or a missing image moves these
# FIDs by more than 1e-2. Where both sides run the network on identical chunks, the tests keep 1e-9 (only the
# float64 summation order differs) or exact equality.
CROSS_BATCH_REL = 1e-5


# ---------------------------------------------------------------------- independent references
def exact_fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID from two feature sets without any d×d square root: with centred data Ac, Bc,
    tr sqrt(S1 S2) = sum of singular values of Ac Bcᵀ / sqrt((n1-1)(n2-1)) (exact also when n < d)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    ac, bc = a - a.mean(0), b - b.mean(0)
    n1, n2 = len(a), len(b)
    tr_sqrt = np.linalg.svd(ac @ bc.T, compute_uv=False).sum() / math.sqrt((n1 - 1) * (n2 - 1))
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + (ac ** 2).sum() / (n1 - 1) + (bc ** 2).sum() / (n2 - 1) - 2 * tr_sqrt)


def random_spd(d: int, seed: int, top: float = 10.0, bottom: float = 1e-4) -> np.ndarray:
    """A covariance with a log-spaced spectrum (as Inception's), random eigenvectors."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.logspace(np.log10(top), np.log10(bottom), d)) @ q.T


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The CPUs are shared by parallel test runs: one thread avoids oversubscription (3x faster here)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_inception_weights(tmp_path_factory.mktemp("inception") / INCEPTION_WEIGHTS_FILE)


@pytest.fixture(scope="module")
def images() -> dict[str, list[torch.Tensor]]:
    return {"gen": random_images(3, seed=1, size=20), "ref": random_images(4, seed=2, size=24)}


@pytest.fixture(scope="module")
def tf_features(weights: Path, images: dict) -> dict[str, torch.Tensor]:
    """torch-fidelity's extractor, loaded by torch-fidelity itself from the same weights file."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights))
    with torch.no_grad():
        return {k: net(torch.stack(v))[0] for k, v in images.items()}


@pytest.fixture(scope="module")
def fid_metric(weights: Path) -> FID:
    return FID(weights=str(weights), by_bucket=False, batch_size=4)


@pytest.fixture
def fid(fid_metric: FID) -> FID:
    fid_metric.reset()
    return fid_metric


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_open_clip(tmp_path_factory.mktemp("openclip") / "tiny")


def suite_with_references(root: Path, n: int, seed: int = 0) -> Suite:
    from PIL import Image

    (root / "ref").mkdir(parents=True, exist_ok=True)
    items = []
    for i, img in enumerate(random_images(n, seed=seed, size=16)):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(root / "ref" / f"{i}.png")
        items.append(Item(id=f"it{i}", prompt=SHORT, reference_image=f"ref/{i}.png"))
    return Suite("refsuite", "1", items, root=str(root))


# ---------------------------------------------------------------------- Inception features and FID
def test_features_identical_to_torch_fidelity(fid: FID, images: dict, tf_features: dict) -> None:
    ours = fid.extractor(images["gen"])
    assert ours.dtype == torch.float64 and ours.shape == (3, 2048)
    assert torch.equal(ours, tf_features["gen"].double())
    assert tf_features["gen"].std(0).mean() > 1e-3  # the random network gives informative features


def test_fid_equals_independent_computation(fid: FID, images: dict, tf_features: dict) -> None:
    from torch_fidelity.metric_fid import fid_features_to_statistics

    fid.update(images["gen"][:2])
    fid.update(images["gen"][2:])
    mu, sigma, n = fid.reference_from_images(images["ref"])
    stats = fid_features_to_statistics(tf_features["ref"].double())  # numpy mean and np.cov (float64)
    np.testing.assert_allclose(mu.numpy(), stats["mu"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sigma.numpy(), stats["sigma"], rtol=1e-9, atol=1e-9)
    assert n == 4
    expected = exact_fid_from_features(tf_features["gen"].numpy(), tf_features["ref"].numpy())
    value = fid.compute()["fid"]
    assert value == pytest.approx(expected, rel=1e-6)


def test_npz_reference_pytorch_fid_format(fid: FID, tf_features: dict, tmp_path: Path) -> None:
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(tf_features["ref"].double())
    path = tmp_path / "ref.npz"
    np.savez(path, mu=stats["mu"], sigma=stats["sigma"])  # exactly what pytorch-fid --save-stats writes
    fid.update_features(tf_features["gen"].double())
    fid.load_reference(path)
    expected = exact_fid_from_features(tf_features["gen"].numpy(), tf_features["ref"].numpy())
    assert fid.compute()["fid"] == pytest.approx(expected, rel=1e-6)
    ref = fid.protocol()["reference"]
    assert ref["source"] == "npz" and len(ref["sha256"]) == 64


def test_npz_reference_errors(fid: FID, tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, m=np.zeros(3))
    with pytest.raises(LongbenchError, match="missing mu and sigma"):
        fid.load_reference(bad)
    small = tmp_path / "small.npz"
    np.savez(small, mu=np.zeros(8), sigma=np.eye(8))
    with pytest.raises(LongbenchError, match="dimension 8, the features 2048"):
        fid.load_reference(small)
    with pytest.raises(LongbenchError, match="no such file"):
        fid.load_reference(tmp_path / "nope.npz")


def test_single_image_is_an_error(fid: FID, images: dict) -> None:
    fid.set_reference(torch.zeros(2048), torch.eye(2048))
    fid.update(images["gen"][:1])
    with pytest.raises(LongbenchError, match="at least 2 images"):
        fid.compute()


def test_nan_image_is_an_error(fid: FID) -> None:
    img = torch.rand(3, 16, 16)
    img[0, 3, 3] = float("nan")
    with pytest.raises(LongbenchError, match=r"fid image 1 \(item 'b'\).*NaN"):
        fid.update([torch.rand(3, 16, 16), img], [{"id": "a"}, {"id": "b"}])
    assert not fid._pending  # nothing of the bad batch was queued


def test_all_black_images_defined(fid: FID, tf_features: dict) -> None:
    black = [torch.zeros(3, 16, 16, dtype=torch.uint8)] * 2
    fid.update(black)
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(tf_features["ref"].double())
    fid.set_reference(torch.from_numpy(stats["mu"]), torch.from_numpy(stats["sigma"]))
    value = fid.compute()["fid"]
    assert math.isfinite(value) and value > 0
    # against its own (zero-covariance) statistics: exactly 0, not NaN or a tiny negative number
    mu, sigma = F.gaussian_from_moments(fid.feature_sum.sum(0), fid.feature_outer.sum(0), 2)
    fid.set_reference(mu, sigma)
    fid._computed = None
    assert fid.compute()["fid"] == 0.0


def test_float_images_are_quantised_like_uint8(fid: FID, images: dict) -> None:
    img = images["gen"][0]
    as_float = img.double() / 255.0  # exact after round(x*255)
    a = fid.extractor([img, img])  # the batch the metric forwards: exact equality needs the same composition
    fid.update([as_float, as_float])
    fid.flush()
    assert torch.equal(fid.feature_sum[0], a.sum(0))


def test_protocol_records_weights_and_preprocessing(fid: FID, weights: Path) -> None:
    from longbench.weights import file_sha256

    p = fid.protocol()
    assert p["weights_sha256"] == file_sha256(weights)
    assert p["weights_file"] == INCEPTION_WEIGHTS_FILE
    assert p["resize"] == "tf1-bilinear" and p["resize_antialias"] is False and p["image_size"] == 299
    assert "float64" in p["statistics"] and "uint8" in p["input"]


def test_missing_weights_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingWeightsError, match=r"nope\.pth.*weights=PATH") as e:
        FID(weights=str(tmp_path / "nope.pth"))
    assert "\n" not in str(e.value)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(MissingWeightsError) as e:
        FID()
    msg = str(e.value)
    assert INCEPTION_WEIGHTS_FILE in msg and str(tmp_path / "hub" / "checkpoints") in msg and "https://" in msg
    assert FID.weights_status()[0]["available"] is False


def test_weights_from_hub_cache_and_bad_file(weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from longbench.metrics.fid_features import resolve_inception_weights

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / INCEPTION_WEIGHTS_FILE).symlink_to(weights)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert resolve_inception_weights(None) == tmp_path / "checkpoints" / INCEPTION_WEIGHTS_FILE
    assert FID.weights_status()[0]["available"] is True
    junk = tmp_path / "junk.pth"
    torch.save({"conv.weight": torch.zeros(2)}, junk)
    with pytest.raises(LongbenchError, match=r"junk\.pth: the checkpoint does not match the model: .*1 unexpected key \(conv\.weight\)"):
        FID(weights=str(junk))
    with pytest.raises(LongbenchError, match="unknown resize"):
        FID(weights=str(weights), resize="lanczos")


def test_suite_reference_cached_with_inception(weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = suite_with_references(tmp_path / "s", 3)
    ctx = MetricContext(suite=suite, cache_dir=tmp_path / "cache")
    metric = build_metric("fid", ctx, {"weights": str(weights), "by_bucket": "false", "batch_size": "2"})
    assert metric.batch_size == 2 and metric.by_bucket is False
    reads = count_image_reads(monkeypatch)
    metric.update_features(torch.randn(3, 2048, dtype=torch.float64))
    first = metric.compute()["fid"]
    assert len(reads) == 3
    cached = list((tmp_path / "cache" / "fid-reference").glob("*.npz"))
    assert len(cached) == 1 and suite.sha256[:16] in cached[0].name
    metric.use_suite_reference(suite, ctx.cache_dir)  # forget the in-memory statistics: a second run
    metric._computed = None
    assert metric.compute()["fid"] == first
    assert len(reads) == 3  # no reference image read again
    assert metric.protocol()["reference"]["cached"] is True


def count_image_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from PIL import Image

    reads: list[str] = []
    real_open = Image.open

    def counting_open(fp, *a, **k):
        reads.append(str(fp))
        return real_open(fp, *a, **k)

    monkeypatch.setattr(Image, "open", counting_open)
    return reads


# ---------------------------------------------------------------------- functional FID
@pytest.mark.parametrize("d", [64, 256])
def test_frechet_distance_equals_torch_fidelity(d: int) -> None:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    rng = np.random.default_rng(d)
    s1, s2 = random_spd(d, 1), random_spd(d, 2, top=5.0)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    expected = expected["frechet_inception_distance"]
    ours = F.frechet_distance(*(torch.from_numpy(x) for x in (mu1, s1, mu2, s2)))
    assert ours == pytest.approx(expected, rel=1e-6)
    assert abs(ours - expected) / expected < 1e-10  # in practice far tighter than the 1e-6 bar


def test_frechet_distance_singular_covariances_exact() -> None:
    """n < d on both sides (no Cholesky factor): matches the exact low-rank computation."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 96)) @ random_spd(96, 3)
    b = rng.standard_normal((30, 96)) @ random_spd(96, 4) + 0.5
    stats = [(torch.from_numpy(x.mean(0)), torch.from_numpy(np.cov(x, rowvar=False))) for x in (a, b)]
    ours = F.frechet_distance(*stats[0], *stats[1])
    assert ours == pytest.approx(exact_fid_from_features(a, b), rel=1e-9)
    # one side full rank (the usual case: a large reference set) takes the Cholesky path
    c = rng.standard_normal((500, 96)) @ random_spd(96, 5)
    stats_c = (torch.from_numpy(c.mean(0)), torch.from_numpy(np.cov(c, rowvar=False)))
    assert F.frechet_distance(*stats[0], *stats_c) == pytest.approx(exact_fid_from_features(a, c), rel=1e-9)
    assert F.frechet_distance(*stats_c, *stats[0]) == pytest.approx(exact_fid_from_features(c, a), rel=1e-9)


def test_frechet_distance_degenerate_and_bad_input() -> None:
    z = torch.zeros(5, dtype=torch.float64)
    assert F.frechet_distance(z, torch.zeros(5, 5), z, torch.zeros(5, 5)) == 0.0
    assert F.frechet_distance(z, torch.zeros(5, 5), z + 1, torch.eye(5)) == pytest.approx(5 + 5)
    with pytest.raises(LongbenchError, match="NaN or inf"):
        F.frechet_distance(z, torch.full((5, 5), float("nan")), z, torch.eye(5))
    with pytest.raises(LongbenchError, match="different dimensions"):
        F.frechet_distance(z, torch.eye(5), torch.zeros(4), torch.eye(4))
    with pytest.raises(LongbenchError, match="at least 2 images"):
        F.gaussian_from_moments(z, torch.zeros(5, 5), 1)


def test_gaussian_npz_round_trip(tmp_path: Path) -> None:
    mu, sigma = torch.randn(6, dtype=torch.float64), torch.from_numpy(random_spd(6, 0))
    F.save_gaussian_npz(tmp_path / "s.npz", mu, sigma, n=12, protocol={"features": {"x": 1}})
    mu2, sigma2, extra = F.load_gaussian_npz(tmp_path / "s.npz")
    assert torch.equal(mu, mu2) and torch.equal(sigma, sigma2)
    assert extra == {"n": 12, "protocol": {"features": {"x": 1}}}
    assert not list(tmp_path.glob(".*tmp"))


# ---------------------------------------------------------------------- streaming, buckets, sync
class _StubExtractor(torch.nn.Module):
    feature_dim = 256

    def describe(self) -> dict:
        return {"network": "stub"}


class FrechetStub(FrechetMetric):
    """The shared machinery with a stand-in extractor (features are fed with ``update_features``)."""

    name = "fid-stub"
    columns: ClassVar[dict[str, bool]] = {"fid-stub": False}

    def __init__(self, **kwargs):
        super().__init__(_StubExtractor(), **kwargs)


def test_update_features_batch_size_invariant() -> None:
    """The float64 statistics path: batches of 1/7/64 give the same FID to ~1e-10."""
    torch.manual_seed(0)
    feats = torch.rand(300, 256, dtype=torch.float64) * 3 + torch.rand(256, dtype=torch.float64)
    ref_mu, ref_sigma = torch.rand(256, dtype=torch.float64), torch.from_numpy(random_spd(256, 7, top=1.0))
    values = []
    for bs in (1, 7, 64):
        m = FrechetStub(by_bucket=False)
        m.set_reference(ref_mu, ref_sigma)
        for i in range(0, len(feats), bs):
            m.update_features(feats[i:i + bs])
        values.append(m.compute()["fid-stub"])
    assert values[1] == pytest.approx(values[0], rel=1e-10)
    assert values[2] == pytest.approx(values[0], rel=1e-10)


def test_clip_fid_batch_size_invariant(clip_dir: Path) -> None:
    imgs = random_images(64, seed=5, size=40)
    ref = random_images(20, seed=6, size=36)
    values = []
    for bs in (1, 7, 64):
        m = CLIPFID(model=str(clip_dir), by_bucket=False, batch_size=16)
        m.reference_from_images(ref)
        for i in range(0, len(imgs), bs):
            m.update(imgs[i:i + bs])
        values.append(m.compute()["fid-clip"])
    assert values[0] == values[1] == values[2]  # the network always sees the same chunks
    assert values[0] > 0


def test_clip_fid_features_equal_open_clip(clip_dir: Path) -> None:
    import open_clip
    from PIL import Image

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{clip_dir}")
    model.eval()
    imgs = random_images(3, seed=8, size=48)
    pils = [Image.fromarray(t.permute(1, 2, 0).numpy()) for t in imgs]
    with torch.no_grad():
        expected = model.encode_image(torch.stack([preprocess(p) for p in pils])).double()
    feats = OpenClipFeatures(f"local-dir:{clip_dir}")(imgs)
    torch.testing.assert_close(feats, expected, rtol=0, atol=0)


def test_clip_fid_builtin_arch_with_pretrained_file(clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import open_clip.factory

    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "tiny-test-clip", dict(TINY_OPEN_CLIP_CFG))
    ckpt = clip_dir / "open_clip_model.safetensors"
    a = OpenClipFeatures("tiny-test-clip", pretrained=str(ckpt))
    b = OpenClipFeatures(str(clip_dir))
    imgs = random_images(2, seed=9, size=32)
    assert torch.equal(a(imgs), b(imgs))
    assert a.describe()["weights_sha256"] and a.describe()["preprocess"]["size"] == [32, 32]
    with pytest.raises(LongbenchError, match="neither a file nor an open_clip tag"):
        OpenClipFeatures("tiny-test-clip", pretrained="no-such-tag")
    with pytest.raises(LongbenchError, match="carries its own weights"):
        OpenClipFeatures(str(clip_dir), pretrained=str(ckpt))


def test_clip_fid_tag_not_cached_is_missing_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=r"ViT-B-32/openai not found offline.*pretrained=PATH") as e:
        OpenClipFeatures("ViT-B-32", None)
    assert "\n" not in str(e.value)
    assert CLIPFID.weights_status()[0]["available"] is False


def test_clip_fid_per_bucket_groups(clip_dir: Path) -> None:
    imgs = random_images(10, seed=10, size=32)
    items = [Item(id=f"i{i}", prompt=LONG if i % 3 == 0 else SHORT) for i in range(10)]
    ref = random_images(12, seed=11, size=32)
    m = CLIPFID(model=str(clip_dir), batch_size=4)
    m.reference_from_images(ref)
    m.update(imgs[:6], items[:6])
    m.update(imgs[6:], items[6:])
    labels = ["78-154" if i % 3 == 0 else "<=77" for i in range(10)]
    groups = m.compute_groups(labels)
    assert set(groups) == {"<=77", "78-154"}
    for label in groups:  # each bucket equals a metric fed only that bucket's images
        sub = CLIPFID(model=str(clip_dir), by_bucket=False, batch_size=4)
        sub.reference_from_images(ref)
        sub.update([im for im, g in zip(imgs, labels) if g == label])  # other chunks than m's: see CROSS_BATCH_REL
        assert groups[label]["fid-clip"] == pytest.approx(sub.compute()["fid-clip"], rel=CROSS_BATCH_REL)
    whole = CLIPFID(model=str(clip_dir), by_bucket=False, batch_size=4)
    whole.reference_from_images(ref)
    whole.update(imgs)
    assert m.compute()["fid-clip"] == pytest.approx(whole.compute()["fid-clip"], rel=1e-9)  # same chunks of 4
    # a grouping that is not the buckets the images were added with cannot come from the statistics
    with pytest.raises(LongbenchError, match="only for the prompt-length buckets"):
        m.compute_groups(["x"] * 5 + ["y"] * 5)
    with pytest.raises(LongbenchError, match="only for the prompt-length buckets"):
        m.compute_groups(labels[1:] + labels[:1])
    with pytest.raises(LongbenchError, match="3 group labels for 10 images"):
        m.compute_groups(["<=77"] * 3)
    with pytest.raises(LongbenchError, match="need the items"):
        m.update(imgs[:1])


def test_clip_fid_suite_cache_and_invalidation(clip_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    suite = suite_with_references(tmp_path / "s", 5)
    ctx = MetricContext(suite=suite, cache_dir=tmp_path / "cache")
    gen = random_images(4, seed=14, size=16)
    items = [Item(id=f"g{i}", prompt=SHORT) for i in range(4)]
    reads = count_image_reads(monkeypatch)

    def run() -> float:
        m = build_metric("fid-clip", ctx, {"model": str(clip_dir)})
        m.update(gen, items)
        return m.compute()["fid-clip"]

    first = run()
    assert len(reads) == 5
    assert run() == first and len(reads) == 5  # second run: statistics from the cache
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "s" / "ref" / "0.png")
    changed = run()  # a reference image changed on disk: recomputed
    assert len(reads) == 10 and changed != first


def test_save_reference_round_trip(clip_dir: Path, tmp_path: Path) -> None:
    gen, ref = random_images(5, seed=15, size=32), random_images(6, seed=16, size=32)
    a = CLIPFID(model=str(clip_dir), by_bucket=False)
    a.reference_from_images(ref)
    a.update(gen)
    a.save_reference(tmp_path / "ref.npz")
    b = CLIPFID(model=str(clip_dir), by_bucket=False, ref=str(tmp_path / "ref.npz"))
    b.update(gen)
    assert b.compute()["fid-clip"] == a.compute()["fid-clip"]
    assert b.protocol()["reference"]["protocol_matches"] is True and b.protocol()["reference"]["n"] == 6
    c = CLIPFID(model=str(clip_dir), by_bucket=False, normalize=True, ref=str(tmp_path / "ref.npz"))
    assert c.protocol()["reference"]["protocol_matches"] is False  # other features: flagged (and logged)


def test_no_reference_is_a_clear_error(clip_dir: Path, tmp_path: Path) -> None:
    suite = Suite("plain", "1", [Item(id="a", prompt=SHORT), Item(id="b", prompt=SHORT)])
    ctx = MetricContext(suite=suite, cache_dir=tmp_path)
    with pytest.raises(LongbenchError, match=r"no reference images.*ref=PATH\.npz"):
        build_metric("fid-clip", ctx, {"model": str(clip_dir)})
    missing = Suite("m", "1", [Item(id="a", prompt=SHORT, reference_image="x.png"),
                               Item(id="b", prompt=SHORT, reference_image="y.png")], root=str(tmp_path))
    with pytest.raises(LongbenchError, match=r"item 'a' not found: .*x\.png \(2 missing\)"):
        build_metric("fid-clip", MetricContext(suite=missing, cache_dir=tmp_path), {"model": str(clip_dir)})
    m = CLIPFID(model=str(clip_dir), by_bucket=False)
    m.update(random_images(2, seed=0))
    with pytest.raises(LongbenchError, match="no reference statistics"):
        m.compute()
    with pytest.raises(LongbenchError, match="has no option 'colour'"):
        build_metric("fid-clip", ctx, {"model": str(clip_dir), "colour": "red"})
    with pytest.raises(LongbenchError, match="option 'by_bucket': expected true/false, got 'maybe'"):
        build_metric("fid-clip", ctx, {"model": str(clip_dir), "by_bucket": "maybe"})


def test_bucket_labels_match_runner_buckets() -> None:
    from longbench.results import BUCKETS

    assert BUCKET_LABELS == BUCKETS


def test_runner_end_to_end_fid_clip(clip_dir: Path, tmp_path: Path) -> None:
    """`longbench eval --model images:DIR --metric fid-clip` on a suite with reference images: the value and
    the per-length-bucket values equal a direct computation; the second run reads the cached statistics."""
    import json

    from PIL import Image

    from longbench.runner import EvalConfig, run_eval

    root, gen_dir = tmp_path / "suite", tmp_path / "gen"
    (root / "ref").mkdir(parents=True)
    gen_dir.mkdir()
    rows, gen, ref = [], random_images(8, seed=20, size=24), random_images(8, seed=21, size=24)
    for i in range(8):
        Image.fromarray(ref[i].permute(1, 2, 0).numpy()).save(root / "ref" / f"{i}.png")
        Image.fromarray(gen[i].permute(1, 2, 0).numpy()).save(gen_dir / f"it{i}.png")
        rows.append({"id": f"it{i}", "prompt": LONG if i < 3 else SHORT, "reference_image": f"ref/{i}.png"})
    suite_file = root / "suite.jsonl"
    suite_file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    config = EvalConfig(models=[f"images:{gen_dir}"], suite=str(suite_file), metrics=["fid-clip"],
                        metric_args={"fid-clip": {"model": str(clip_dir), "batch_size": "3"}},
                        output=str(tmp_path / "runs"), n_bootstrap=10)
    entry = run_eval(config)[0].results["metrics"]["fid-clip"]
    direct = CLIPFID(model=str(clip_dir), by_bucket=False)
    direct.reference_from_images(ref)
    direct.update(gen)
    # the runner scores in chunks of 3, the direct metrics in one chunk: see CROSS_BATCH_REL
    assert entry["value"] == pytest.approx(direct.compute()["fid-clip"], rel=CROSS_BATCH_REL)
    assert entry["higher_is_better"] is False and entry["ci"] is None and entry["n"] == 8
    assert set(entry["by_bucket"]) == {"<=77", "78-154"}
    short = CLIPFID(model=str(clip_dir), by_bucket=False)
    short.reference_from_images(ref)
    short.update(gen[3:])
    assert entry["by_bucket"]["<=77"]["value"] == pytest.approx(short.compute()["fid-clip"], rel=CROSS_BATCH_REL)
    assert entry["by_bucket"]["<=77"]["n"] == 5
    assert list((tmp_path / "runs" / "cache" / "metrics" / "fid-reference").glob("fid-clip-*.npz"))


def test_small_sample_warning_only_for_the_whole_set(caplog: pytest.LogCaptureFixture) -> None:
    """FID from no more images than feature dimensions warns once for the run's value; a small length bucket of
    an otherwise large run (mini-v0's 25 prompts within 77 tokens) only logs at INFO."""
    import logging

    torch.manual_seed(0)
    ref_mu, ref_sigma = torch.zeros(256, dtype=torch.float64), torch.eye(256, dtype=torch.float64)
    m = FrechetStub()
    m.set_reference(ref_mu, ref_sigma)
    labels = ["<=77"] * 10 + ["78-154"] * 290
    m.update_features(torch.rand(300, 256, dtype=torch.float64), buckets=labels)
    with caplog.at_level(logging.INFO, logger="longbench.metrics.fid"):
        m.compute()
        groups = m.compute_groups(labels)
    assert set(groups) == {"<=77", "78-154"}
    assert [r.levelname for r in caplog.records] == ["INFO"] and "'<=77' from 10 images" in caplog.records[0].message
    caplog.clear()
    small = FrechetStub(by_bucket=False)
    small.set_reference(ref_mu, ref_sigma)
    small.update_features(torch.rand(12, 256, dtype=torch.float64))
    with caplog.at_level(logging.INFO, logger="longbench.metrics.fid"):
        small.compute()
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "from 12 images" in caplog.records[0].message
