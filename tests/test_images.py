"""Image files of every common kind become the 28x28 MNIST form, or a clear ImageError."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from runtime.common.errors import ImageError
from runtime.imaging.image_files import MAX_OUTPUT_PIXELS, load_image, read_image
from runtime.imaging.preprocess import find_digits, to_grayscale, to_mnist


def paper_digit(digit: np.ndarray, size: int = 140, paper: int = 225) -> np.ndarray:
    """A digit drawn dark on light grey paper, scaled up and placed off-centre in a larger page."""
    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    page = np.full((size * 2, size * 3), float(paper), dtype=np.float32)
    page[40 : 40 + size, 70 : 70 + size] -= big * (paper - 20) / 255.0
    return np.clip(page, 0, 255).astype(np.uint8)


def test_28x28_mnist_image_is_used_as_is(digits):
    np.testing.assert_array_equal(to_mnist(digits.x_test[0]), digits.x_test[0])


def test_28x28_dark_on_light_is_inverted(digits):
    np.testing.assert_array_equal(to_mnist(255 - digits.x_test[0]), digits.x_test[0])


def test_large_paper_digit_lands_like_mnist(digits):
    digit = digits.x_test[3]
    out = to_mnist(paper_digit(digit))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() >= 250 and out[:2].max() == 0 and out[:, :2].max() == 0  # bright ink, black margins
    rows, cols = np.nonzero(out > 64)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    assert max(bottom - top, right - left) in (19, 20, 21)  # fitted into the 20x20 box
    assert np.corrcoef(out.ravel().astype(float), digit.ravel().astype(float))[0, 1] > 0.8


def test_blank_images_have_no_digit():
    for blank in (np.zeros((60, 80), np.uint8), np.full((60, 80), 255, np.uint8), np.full((60, 80), 90, np.uint8)):
        with pytest.raises(ImageError, match="no digit"):
            to_mnist(blank)


def test_grayscale_shapes():
    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[..., 1] = 200
    assert to_grayscale(rgb).shape == (5, 6) and to_grayscale(rgb)[0, 0] == round(0.587 * 200)
    assert to_grayscale(np.zeros((5, 6, 4), np.uint8)).shape == (5, 6)
    with pytest.raises(ImageError, match="shape"):
        to_grayscale(np.zeros((5, 6, 2)))
    for empty in ((0, 400, 3), (400, 0, 3)):  # a colour frame with no rows or columns: one line, not a traceback
        with pytest.raises(ImageError, match="shape"):
            find_digits(np.zeros(empty, np.uint8))


def test_camera_frames_read_alike_in_any_channel_layout(digits):
    """A camera's B, G, R memory seen through bgr_to_rgb (read without a copy), an RGB array, its
    RGBA twin and a region of each: the same digits, box and pixels."""
    from runtime.streaming.sources import bgr_to_rgb
    from tools.frames import digit_frames

    for rgb in digit_frames(digits.x_test[:6], seed=3):
        bgr_view = bgr_to_rgb(np.ascontiguousarray(rgb[:, :, ::-1]))
        rgba = np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])
        assert (to_grayscale(bgr_view) == to_grayscale(rgb)).all()
        for region in (None, (40, 30, 560, 420)):
            want = find_digits(rgb, region=region)
            for layout in (bgr_view, rgba, bgr_to_rgb(rgba[:, :, [2, 1, 0, 3]])):
                got = find_digits(layout, region=region)
                assert [d.box for d in got] == [d.box for d in want]
                assert all((g.image == w.image).all() for g, w in zip(got, want))


@pytest.mark.parametrize("mode,fmt", [("L", "PNG"), ("RGB", "JPEG"), ("RGBA", "PNG"), ("P", "PNG"),
                                      ("I;16", "PNG"), ("CMYK", "JPEG"), ("1", "BMP")])
def test_image_modes_load_as_grayscale(tmp_path, digits, mode, fmt):
    page = paper_digit(digits.x_test[5])
    img = Image.fromarray(page)
    if mode == "I;16":
        img = Image.fromarray(page.astype(np.uint16) * 257)
    elif mode != "L":
        img = img.convert(mode)
    path = tmp_path / f"digit.{fmt.lower()}"
    img.save(path, format=fmt)
    gray = load_image(path)
    assert gray.shape == page.shape and gray.dtype == np.uint8
    assert abs(float(gray.mean()) - float(page.mean())) < 12


def test_transparent_png_is_ink_on_white(tmp_path, digits):
    rgba = np.zeros((56, 56, 4), np.uint8)
    rgba[..., 3] = np.asarray(Image.fromarray(digits.x_test[1]).resize((56, 56)))  # ink only in alpha
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    gray = load_image(tmp_path / "t.png")
    assert gray[0, 0] == 255 and gray.min() < 40


def test_exif_orientation_is_honoured(tmp_path):
    page = np.full((20, 40), 255, np.uint8)
    page[:, :5] = 0  # a dark bar on the left
    img = Image.fromarray(page)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "r.jpg", exif=exif)
    gray = load_image(tmp_path / "r.jpg")
    assert gray.shape == (40, 20) and gray[:5].mean() < 60 and gray[-5:].mean() > 200


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((10, 10), v, np.uint8)) for v in (30, 220)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert abs(int(load_image(tmp_path / "a.gif")[0, 0]) - 30) < 5


def test_bad_files_raise_image_error(tmp_path, digits):
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(paper_digit(digits.x_test[0])).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:300])
    for name in ("text.png", "cut.png", "missing.png"):
        with pytest.raises(ImageError, match=name):
            load_image(tmp_path / name)


def test_large_jpeg_is_decoded_at_a_smaller_scale(tmp_path, digits):
    page = np.full((4000, 6000), 225, np.uint8)
    digit = Image.fromarray(255 - digits.x_test[3]).resize((2000, 2000))
    page[1000:3000, 2000:4000] = np.asarray(digit)
    Image.fromarray(page).save(tmp_path / "big.jpg", quality=85)
    gray, scale = read_image(tmp_path / "big.jpg")  # 24 Mpx: libjpeg decodes it at 1/4 (1/2: 6 Mpx)
    assert gray.size <= MAX_OUTPUT_PIXELS and scale == 4 and gray.shape == (1000, 1500)
    assert abs(float(gray[250:750, 500:1000].mean()) - float(page[1000:3000, 2000:4000].mean())) < 4


def test_large_png_is_shrunk_and_too_large_refused(tmp_path, monkeypatch):
    Image.fromarray(np.full((2100, 2000), 200, np.uint8)).save(tmp_path / "big.png")
    gray, scale = read_image(tmp_path / "big.png")  # 4.2 Mpx: shrunk by 2, strip by strip
    assert gray.shape == (1050, 1000) and scale == 2 and int(gray.min()) == 200
    monkeypatch.setattr("runtime.imaging.image_files.MAX_DECODED_BYTES", 1 << 20)
    with pytest.raises(ImageError, match=r"needs 4 MiB to decode, more than the 1 MiB"):
        load_image(tmp_path / "big.png")


def test_wide_modes_keep_their_levels_in_strips(tmp_path):
    ramp = (np.arange(600 * 500, dtype=np.float64).reshape(600, 500) / (600 * 500 - 1))
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(tmp_path / "ramp.png")  # 2 strips
    gray = load_image(tmp_path / "ramp.png")
    np.testing.assert_allclose(gray, np.rint(ramp * 255), atol=1)


def test_special_files_are_image_errors(tmp_path):
    (tmp_path / "folder.png").mkdir()
    os.symlink("/dev/zero", tmp_path / "zero.png")
    for name, match in (("folder.png", "is a folder"), ("zero.png", "is a device"),
                        ("none.png", "no such file")):
        with pytest.raises(ImageError, match=match):
            load_image(tmp_path / name)
