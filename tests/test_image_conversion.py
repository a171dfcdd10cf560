"""Images are converted to 8-bit RGB exactly or refused with an error naming them, whatever their source:
files (images:, cmd:, the cache), python: arrays and tensors, PIL images. Expected pixels are computed by
hand from the input, not with the converter."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from longbench.errors import LongbenchError
from longbench.images import FLOAT_RANGE_TOLERANCE, open_image, to_rgb
from longbench.models.base import Request, build_model
from longbench.suites.base import Item


def _png(im: Image.Image, path: Path, **kw) -> Path:
    im.save(path, **kw)
    return path


def _rgb(im: Image.Image) -> np.ndarray:
    assert im.mode == "RGB"
    return np.asarray(im)


# ---------------------------------------------------------------------- files
def test_16bit_grayscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1, 128, 129], [257, 32768, 65280, 65535]], dtype=np.uint16)
    path = _png(Image.fromarray(values), tmp_path / "g16.png")
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")  # really a 16-bit file
    got = _rgb(open_image(path))
    # by hand: round(v * 255 / 65535) = round(v / 257)
    expected = np.array([[0, 0, 0, 1], [1, 128, 254, 255]], dtype=np.uint8)
    assert np.array_equal(got, np.repeat(expected[:, :, None], 3, axis=2))
    # the old conversion (PIL's convert) clipped: 257 → 255, so a dark 16-bit image read as white
    with Image.open(path) as im:
        assert np.asarray(im.convert("RGB"))[1, 0, 0] == 255


def test_mode_I_png_as_older_pillow_opens_16bit(tmp_path: Path) -> None:
    src = _png(Image.fromarray(np.array([[0, 65535], [257, 514]], dtype=np.uint16)), tmp_path / "a.png")
    with Image.open(src) as im:
        as_i = im.convert("I")
        as_i.format = "PNG"  # what Pillow < 10 returned for a 16-bit PNG
        assert _rgb(to_rgb(as_i))[:, :, 0].tolist() == [[0, 255], [1, 2]]
    tiff_like = Image.fromarray(np.array([[0, 70000]], dtype=np.int32))  # mode I, no file format
    assert tiff_like.mode == "I"
    with pytest.raises(LongbenchError, match=r"mode I is not supported \(a 32-bit integer image"):
        to_rgb(tiff_like, "x.tif")


@pytest.mark.parametrize("mode, value, expected", [
    ("1", 1, (255, 255, 255)),
    ("L", 77, (77, 77, 77)),
    ("RGB", (1, 2, 3), (1, 2, 3)),
    ("RGBA", (1, 2, 3, 255), (1, 2, 3)),
    ("LA", (90, 255), (90, 90, 90)),
    ("RGBX", (4, 5, 6, 0), (4, 5, 6)),
    ("CMYK", (255 - 10, 255 - 200, 255 - 30, 0), (10, 200, 30)),  # PIL's RGB → CMYK, inverted exactly
])
def test_exact_modes(mode: str, value, expected) -> None:
    got = to_rgb(Image.new(mode, (3, 2), value))
    assert got.mode == "RGB" and got.size == (3, 2) and got.getpixel((1, 1)) == expected


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    assert to_rgb(pal).getpixel((0, 0)) == (200, 100, 50)
    path = _png(pal, tmp_path / "t.png", transparency=1)  # index 1 is transparent and used
    with pytest.raises(LongbenchError, match=r"t\.png: 16 transparent pixel\(s\)"):
        open_image(path)
    unused = _png(pal, tmp_path / "u.png", transparency=0)  # transparent index never used: opaque image
    assert open_image(unused).getpixel((0, 0)) == (200, 100, 50)


@pytest.mark.parametrize("mode, fill", [("RGBA", (10, 20, 30, 254)), ("LA", (10, 0)), ("RGBA", (0, 0, 0, 0))])
def test_transparent_pixels_are_refused(mode: str, fill) -> None:
    with pytest.raises(LongbenchError, match=rf"img: 6 transparent pixel\(s\) \(mode {mode}\); flatten"):
        to_rgb(Image.new(mode, (3, 2), fill), "img")


@pytest.mark.parametrize("mode, fill, match", [
    ("F", 0.5, "mode F is not supported"),
    ("LAB", (50, 0, 0), "mode LAB is not supported"),
    ("HSV", (0, 0, 0), "mode HSV is not supported"),
])
def test_ambiguous_modes_are_refused(mode: str, fill, match: str) -> None:
    with pytest.raises(LongbenchError, match=rf"^pic: image {match}"):
        to_rgb(Image.new(mode, (2, 2), fill), "pic")


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((2, 3, 3), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0)  # red top-left, stored; orientation 6 = rotate 90° clockwise on display
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _png(Image.fromarray(arr), tmp_path / "o.png", exif=exif)
    got = open_image(path)
    assert got.size == (2, 3)  # width and height swapped, as viewers show it
    assert got.getpixel((1, 0)) == (255, 0, 0)  # the top-left pixel is now top-right


def test_animation_is_refused(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (4, 4), (i * 80, 0, 0)) for i in range(3)]
    path = tmp_path / "a.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], lossless=True)
    with pytest.raises(LongbenchError, match="animated image with 3 frames"):
        open_image(path)


# ---------------------------------------------------------------------- arrays and tensors
def test_float_arrays_in_range_round_and_out_of_range_refused() -> None:
    x = np.array([[0.0, 0.5, 1.0, -FLOAT_RANGE_TOLERANCE, 1 + FLOAT_RANGE_TOLERANCE, 0.2]], dtype=np.float64)
    got = _rgb(to_rgb(x))[:, :, 0]
    assert got.tolist() == [[0, 128, 255, 0, 255, 51]]  # round(255·x), by hand: 127.5 → 128, 51.0 → 51
    for bad in (np.full((2, 2, 3), 255.0), np.array([[0.5, 1.01]]), np.array([[-0.01, 0.3]])):
        with pytest.raises(LongbenchError, match=r"arr: float image values must lie in \[0, 1\]"):
            to_rgb(bad, "arr")
    for bad in (np.array([[np.nan, 0.1]]), np.array([[np.inf, 0.1]]), np.array([[-np.inf, 0.1]])):
        with pytest.raises(LongbenchError, match="NaN or inf"):
            to_rgb(bad)


def test_integer_bool_and_uint16_arrays() -> None:
    assert to_rgb(np.array([[0, 200]], dtype=np.int64)).getpixel((1, 0)) == (200, 200, 200)
    with pytest.raises(LongbenchError, match=r"integer image values must lie in 0\.\.255 \(got -1\.\.3"):
        to_rgb(np.array([[-1, 3]], dtype=np.int16))
    with pytest.raises(LongbenchError, match=r"got 0\.\.300"):
        to_rgb(np.array([[0, 300]], dtype=np.int32))
    assert to_rgb(np.array([[True, False]])).getpixel((0, 0)) == (255, 255, 255)
    u16 = np.array([[257, 65535, 0]], dtype=np.uint16)  # 16-bit data
    assert _rgb(to_rgb(u16))[0, :, 0].tolist() == [1, 255, 0]


@pytest.mark.parametrize("shape, layout", [((5, 6), "HW"), ((5, 6, 1), "HWC"), ((5, 6, 3), "HWC"), ((3, 5, 6), "CHW"),
                                           ((1, 5, 6), "CHW"), ((5, 6, 4), "HWC"), ((5, 6, 2), "HWC"),
                                           ((4, 5, 6), "CHW")])
def test_array_layouts(shape, layout) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, shape, dtype=np.uint8)
    hwc = arr.transpose(1, 2, 0) if layout == "CHW" else arr
    if hwc.ndim == 2:
        hwc = hwc[:, :, None]
    if hwc.shape[2] in (2, 4):
        hwc[:, :, -1] = 255  # opaque alpha (a view: arr changes too)
    got = _rgb(to_rgb(arr))
    colour = hwc[:, :, :-1] if hwc.shape[2] in (2, 4) else hwc
    expected = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour
    assert got.shape == (5, 6, 3) and np.array_equal(got, expected)


def test_array_alpha_and_bad_shapes() -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    with pytest.raises(LongbenchError, match=r"1 transparent pixel\(s\) \(alpha channel\)"):
        to_rgb(rgba)
    with pytest.raises(LongbenchError, match="not an image"):
        to_rgb(np.zeros((5, 5, 5), dtype=np.uint8))
    with pytest.raises(LongbenchError, match=r"16 transparent pixel\(s\)"):  # gray + alpha, alpha 0
        to_rgb(np.zeros((4, 4, 2), dtype=np.uint8))
    with pytest.raises(LongbenchError, match="not an image"):
        to_rgb(np.zeros((1, 4, 4, 3), dtype=np.uint8))
    with pytest.raises(LongbenchError, match="empty image"):
        to_rgb(np.zeros((0, 4, 3), dtype=np.uint8))
    with pytest.raises(LongbenchError, match="dtype complex128 is not an image"):
        to_rgb(np.zeros((2, 2), dtype=np.complex128))
    with pytest.raises(LongbenchError, match="expected a PIL image"):
        to_rgb([[0, 1]])


def test_tensors_keep_their_dtype() -> None:
    chw = torch.tensor([[[0, 128], [255, 7]]] * 3, dtype=torch.uint8)  # a uint8 CHW tensor: not a float
    assert _rgb(to_rgb(chw))[:, :, 1].tolist() == [[0, 128], [255, 7]]
    assert _rgb(to_rgb(chw.permute(1, 2, 0)[None].squeeze(0).permute(2, 0, 1)))[1, 1, 0] == 7
    half = torch.full((3, 2, 2), 0.5, dtype=torch.float16)
    assert to_rgb(half).getpixel((0, 0)) == (128, 128, 128)
    assert to_rgb(torch.full((3, 2, 2), 0.5, dtype=torch.bfloat16)).getpixel((0, 0)) == (128, 128, 128)
    with pytest.raises(LongbenchError, match=r"t: float image values must lie in \[0, 1\] \(got 0\.\.255\)"):
        to_rgb(torch.arange(0, 256, dtype=torch.float32).reshape(1, 16, 16).expand(3, 16, 16), "t")
    grad = torch.rand(3, 4, 4, requires_grad=True)
    assert to_rgb(grad).size == (4, 4)
    with pytest.raises(LongbenchError, match="NaN"):
        to_rgb(torch.full((3, 2, 2), float("nan")))


# ---------------------------------------------------------------------- through the adapters
def _request(item_id: str) -> Request:
    return Request(Item(id=item_id, prompt="a red cube"), 0)


def test_images_dir_with_two_files_for_one_id_is_an_error(tmp_path: Path) -> None:
    d = tmp_path / "imgs"
    d.mkdir()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(d / "a.png")
    Image.new("RGB", (4, 4), (9, 9, 9)).save(d / "a.jpg")
    Image.new("RGB", (4, 4), (5, 5, 5)).save(d / "b.PnG")  # any case of an extension
    model = build_model(f"images:{d}")
    with pytest.raises(LongbenchError, match=r"item 'a' has 2 image files \(a\.jpg and a\.png\)"):
        model.prepare([_request("a"), _request("b")])
    model.prepare([_request("b")])
    assert model.generate([_request("b")])[0].getpixel((0, 0)) == (5, 5, 5)
    (d / "b.webp").symlink_to(d / "b.PnG")  # a second name for the same id, even via a link
    with pytest.raises(LongbenchError, match=r"'b' has 2 image files \(b\.PnG and b\.webp\)"):
        build_model(f"images:{d}").prepare([_request("b")])


def test_images_dir_16bit_and_float_files(tmp_path: Path) -> None:
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(np.full((4, 4), 32896, dtype=np.uint16)).save(d / "a.png")  # 32896 / 257 = 128
    Image.new("F", (4, 4), 0.5).save(d / "b.tiff")  # not an accepted extension: ignored
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(d / "b.png")
    model = build_model(f"images:{d}")
    model.prepare([_request("a"), _request("b")])
    assert model.generate([_request("a")])[0].getpixel((0, 0)) == (128, 128, 128)
    with pytest.raises(LongbenchError, match=r"b\.png: 16 transparent pixel"):
        model.generate([_request("b")])


def test_python_adapter_refuses_0_255_floats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lb_float_gen.py").write_text(
        "import numpy as np\n"
        "def gen(prompts, seeds, **kw):\n"
        "    return [np.full((8, 8, 3), 200.0) for _ in prompts]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("lb_float_gen", None)
    model = build_model("python:lb_float_gen:gen")
    with pytest.raises(LongbenchError, match=r"python:lb_float_gen:gen image 0: float image values must lie in "
                                             r"\[0, 1\] \(got 200\.\.200\)"):
        model.generate([_request("a")])


def test_cmd_adapter_16bit_output(tmp_path: Path) -> None:
    script = tmp_path / "gen16.py"
    script.write_text("import sys\nimport numpy as np\nfrom PIL import Image\n"
                      "Image.fromarray(np.full((4, 4), 514, dtype=np.uint16)).save(sys.argv[1])\n")
    model = build_model(f"cmd:{sys.executable} {script} {{out}}")
    assert model.generate([_request("a")])[0].getpixel((0, 0)) == (2, 2, 2)  # 514 / 257, not 255


def test_cache_reads_go_through_the_same_conversion(tmp_path: Path) -> None:
    from longbench.cache import ImageCache

    cache = ImageCache(tmp_path, "m")
    req = _request("a")
    cache.path(req).parent.mkdir(parents=True)
    Image.fromarray(np.full((4, 4), 771, dtype=np.uint16)).save(cache.path(req), format="PNG")  # 771/257 = 3
    assert cache.load(req).getpixel((0, 0)) == (3, 3, 3)


def test_eval_cli_reports_a_bad_image_as_exit_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli import main

    d = tmp_path / "imgs"
    d.mkdir()
    Image.new("RGB", (4, 4)).save(d / "a.png")
    Image.new("RGB", (4, 4)).save(d / "a.jpeg")
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"id": "a", "prompt": "A cat."}) + "\n")
    r = CliRunner().invoke(main, ["eval", "--model", f"images:{d}", "--suite", str(suite), "--metric", "synth",
                                  "--output", str(tmp_path / "runs"), "--no-progress"])
    assert r.exit_code == 2, r.output
    assert any(ln.startswith("error: ") and "a.jpeg and a.png" in ln for ln in r.output.splitlines()), r.output


def test_bytes_io_roundtrip_unchanged() -> None:
    """An ordinary 8-bit RGB PNG passes bit-exactly (no conversion touches it)."""
    arr = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    buf.seek(0)
    with Image.open(buf) as im:
        im.load()
        assert np.array_equal(_rgb(to_rgb(im)), arr)


class _RawModel:
    """An adapter that returns whatever it is given (as a plugin might): no conversion of its own."""

    spec = "raw:test"

    def __init__(self, outputs):
        self.outputs = outputs

    def generate(self, requests):
        return self.outputs[: len(requests)]


def test_every_adapter_output_is_converted_once_before_metrics_and_cache(tmp_path: Path) -> None:
    from longbench.cache import BackgroundWriter, ImageCache
    from longbench.generation import CachedModel

    gray = Image.new("L", (4, 4), 7)
    array = np.full((4, 4, 3), 0.5)  # float HWC in [0, 1] → 128 (round half to even of 127.5 → 128)
    reqs = [_request("a"), _request("b")]
    cache = ImageCache(tmp_path, "m")
    with BackgroundWriter() as writer:
        first = CachedModel(_RawModel([gray, array]), cache, writer).images(reqs)
    assert [im.mode for im in first] == ["RGB", "RGB"]
    assert first[0].getpixel((0, 0)) == (7, 7, 7) and first[1].getpixel((0, 0)) == (128, 128, 128)
    with BackgroundWriter() as writer:
        again = CachedModel(_RawModel([]), cache, writer).images(reqs)  # read back: the same pixels
    assert [np.asarray(im).tolist() for im in again] == [np.asarray(im).tolist() for im in first]
    bad = r"model raw:test, item x: float image values must lie in \[0, 1\]"
    with BackgroundWriter() as writer, pytest.raises(LongbenchError, match=bad):
        CachedModel(_RawModel([np.full((4, 4, 3), 3.0)]), None, writer).images([_request("x")])
