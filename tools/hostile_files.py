"""Hostile images, videos and models for ``tools.hostile_corpus``, made from real digits or a real
model at run time (datasets: ``tools.hostile_data``).

Every builder writes into a folder and returns ``{name: (path, exit codes)}``: the exit codes
that count as handled (``(1,)`` for a damaged file: exit 0 would mean it was accepted).
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Images that decode but hold no digit: predict refuses them, classify counts a frame without one.
BLANK_IMAGES = {"png 1x1", "png 1x100000", "png 100000x1 with ink", "16-bit all zero",
                "float NaN tiff"}
Expect = tuple[int, ...]


def nonutf8(latin1: str) -> str:
    """A file name of these bytes (latin-1), as Python sees a name that is not UTF-8."""
    return os.fsdecode(latin1.encode("latin-1"))


def save_digit(path: Path, digit: np.ndarray, size: int = 84) -> Path:
    """A real digit, dark on white, ``size`` pixels square."""
    Image.fromarray(255 - digit).resize((size, size)).save(path)
    return path


def special_files(folder: Path, suffix: str) -> dict[str, Path]:
    """A FIFO, a folder, a device, a dangling link and a link loop, each named ``*suffix``."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {"fifo": folder / f"fifo{suffix}", "folder": folder / f"folder{suffix}",
            "device": folder / f"zero{suffix}", "dangling link": folder / f"dangling{suffix}",
            "link loop": folder / f"loop{suffix}"}
    os.mkfifo(made["fifo"])
    made["folder"].mkdir()
    os.symlink("/dev/zero", made["device"])
    os.symlink(folder / "nothing-here", made["dangling link"])
    os.symlink(made["link loop"], made["link loop"])
    return made


# ---------------------------------------------------------------- images

MODES = (("L", "png"), ("RGB", "jpg"), ("RGBA", "png"), ("P", "png"), ("P", "gif"), ("LA", "png"),
         ("1", "bmp"), ("CMYK", "jpg"), ("CMYK", "tif"), ("RGB", "webp"), ("L", "pgm"),
         ("RGB", "ppm"), ("I;16", "png"), ("I", "tif"), ("F", "tif"), ("YCbCr", "jpg"),
         ("LAB", "tif"))
_FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "bmp": "BMP", "tif": "TIFF", "webp": "WEBP"}


def hostile_images(folder: Path, digits) -> dict[str, tuple[Path, Expect]]:
    """Images of every mode (valid: exit 0), damaged, bombs by header, degenerate, not images."""
    folder.mkdir(parents=True, exist_ok=True)
    page = _page(digits.x_test[7])
    out: dict[str, tuple[Path, Expect]] = {}
    for mode, fmt in MODES:
        path = folder / f"mode-{mode.replace(';', '')}.{fmt}"
        _mode(page, mode).save(path)
        out[f"{mode} {fmt}"] = (path, (1,) if mode == "LAB" else (0,))  # Pillow: no LAB to gray
    rgba = np.zeros((56, 56, 4), np.uint8)
    rgba[..., 3] = np.asarray(Image.fromarray(digits.x_test[8]).resize((56, 56)))
    Image.fromarray(rgba, "RGBA").save(folder / "ink-in-alpha.png")
    out["ink only in alpha"] = (folder / "ink-in-alpha.png", (0,))
    frames = [Image.fromarray(page), Image.fromarray(255 - page)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    out["animated gif"] = (folder / "animated.gif", (0,))
    out.update(_damaged_images(folder, page))
    out.update(_header_bombs(folder))
    out.update(_degenerate_images(folder, digits))
    for name, path in special_files(folder / "special", ".png").items():
        out[f"special: {name}"] = (path, (1,))
    out["/proc/self/mem"] = (Path("/proc/self/mem"), (1,))
    out["/dev/stdin"] = (Path("/dev/stdin"), (1,))
    return out


def _page(digit: np.ndarray) -> np.ndarray:
    big = Image.fromarray(digit).resize((120, 120), Image.Resampling.BICUBIC)
    page = np.full((200, 260), 225.0, np.float32)
    page[40:160, 70:190] -= np.asarray(big, dtype=np.float32) * 205 / 255
    return np.clip(page, 0, 255).astype(np.uint8)


def _mode(page: np.ndarray, mode: str) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(page.astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(page.astype(np.int32) * 1000 - 5000)
    if mode == "F":
        return Image.fromarray(page.astype(np.float32) / 255)
    return Image.fromarray(page).convert(mode) if mode != "L" else Image.fromarray(page)


def _damaged_images(folder: Path, page: np.ndarray) -> dict[str, tuple[Path, Expect]]:
    rng = random.Random(3)
    out = {}
    for fmt, pillow in _FORMATS.items():
        good = io.BytesIO()
        Image.fromarray(page).convert("RGB" if fmt == "jpg" else "L").save(good, format=pillow)
        data = good.getvalue()
        for name, blob, expect in (("half", data[: len(data) // 2], (1,)),
                                   ("20 bytes", data[:20], (1,)),
                                   ("flipped", _flip(data, rng, 8), (0, 1))):
            path = folder / f"damaged-{name.replace(' ', '')}.{fmt}"
            path.write_bytes(blob)
            out[f"{fmt} {name}"] = (path, expect)
    ztxt = folder / "ztxt-bomb.png"
    Image.fromarray(page).save(ztxt)
    blob = ztxt.read_bytes()
    text = zlib.compress(b"\x00" * 20_000_000, 9)
    ztxt.write_bytes(blob[:33] + _png_chunk(b"zTXt", b"Comment\x00\x00" + text) + blob[33:])
    out["png text chunk inflating to 20 MB"] = (ztxt, (0, 1))
    garbage = b"Exif\x00\x00" + bytes(rng.randrange(256) for _ in range(300))
    for name, exif in (("EXIF orientation 9", _exif(9)), ("EXIF orientation 65535", _exif(65535)),
                       ("EXIF garbage", garbage)):
        path = folder / f"{name.replace(' ', '-')}.jpg"
        Image.fromarray(page).save(path, exif=exif)
        out[name] = (path, (0,))
    return out


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _flip(data: bytes, rng: random.Random, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        out[rng.randrange(min(16, len(out) - 1), len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png(width: int, height: int, depth: int = 8, color: int = 0, body: bytes = b"") -> bytes:
    """A PNG whose header says ``width`` x ``height``, with ``body`` as its pixel data."""
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    idat = _png_chunk(b"IDAT", zlib.compress(body))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + _png_chunk(b"IEND", b"")


def _header_bombs(folder: Path) -> dict[str, tuple[Path, Expect]]:
    """Files whose headers declare enormous images; none may be decoded."""
    jpeg = io.BytesIO()
    Image.new("L", (16, 16), 200).save(jpeg, format="JPEG")
    sof = bytearray(jpeg.getvalue())
    at = sof.find(b"\xff\xc0")
    sof[at + 5 : at + 9] = struct.pack(">HH", 65000, 65000)
    gif = (b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b","
           + struct.pack("<4HB", 0, 0, 65535, 65535, 0))
    bmp = io.BytesIO()
    Image.new("L", (8, 8)).save(bmp, format="BMP")
    bmp = bytearray(bmp.getvalue())
    bmp[18:26] = struct.pack("<ii", 200_000, 200_000)
    big = io.BytesIO()
    Image.new("1", (12000, 12000)).save(big, format="PNG", optimize=True)
    cases = {"png 100000x100000": _png(100_000, 100_000), "jpeg 65000x65000": bytes(sof),
             "gif 65535x65535": gif, "bmp 200000x200000": bytes(bmp),
             "png 12000x12000 1-bit (real)": big.getvalue(),
             "png 7000x7000 16-bit without pixels": _png(7000, 7000, 16),  # 98 MB, no data
             "png 60000x60000 RGBA": _png(60_000, 60_000, 8, 6)}
    out = {}
    for k, (name, data) in enumerate(cases.items()):
        path = folder / f"bomb-{k}.{name.split()[0]}"
        path.write_bytes(data)
        out[f"bomb: {name}"] = (path, (1,))
    return out


def _degenerate_images(folder: Path, digits) -> dict[str, tuple[Path, Expect]]:
    stripes = np.tile(np.r_[np.full(50, 255), np.zeros(50)], 1000).astype(np.uint8)[None]
    poles = np.where(_page(digits.x_test[9]) < 128, np.inf, -np.inf).astype(np.float32)
    made = {
        "png 0x0 by header": (_png(0, 0), (1,)),
        "png 1x1": (_save(Image.new("L", (1, 1), 0)), (1,)),
        "png 1x100000": (_save(Image.new("L", (1, 100_000), 255)), (1,)),
        "png 100000x1 with ink": (_save(Image.fromarray(stripes)), (0, 1)),
        "16-bit all zero": (_save(Image.fromarray(np.zeros((40, 40), np.uint16))), (1,)),
        "float NaN tiff": (_save(Image.fromarray(np.full((40, 40), np.nan, np.float32)), "TIFF"),
                           (1,)),
        "float infinities tiff": (_save(Image.fromarray(poles), "TIFF"), (0, 1)),
        "28x28 digit": (_save(Image.fromarray(digits.x_test[10])), (0,)),
        "text named .png": (b"this is not an image\n" * 20, (1,)), "empty .png": (b"", (1,)),
        "html named .jpg": (b"<html><body>404</body></html>", (1,)),
        "random bytes": (bytes(random.Random(5).randrange(256) for _ in range(4000)), (1,)),
        "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', (1,)),
        "tga (not an accepted format)": (_save(Image.new("L", (20, 20)), "TGA"), (1,)),
    }
    out = {}
    for k, (name, (data, expect)) in enumerate(made.items()):
        path = folder / f"odd-{k}.png"
        path.write_bytes(data)
        out[name] = (path, expect)
    return out


def _save(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def large_images(folder: Path, digits) -> dict[str, Path]:
    """Real digits in very large images, for peak memory: a 7000x7000 16-bit PNG (a small file that
    decodes to 98 MB), an 8000x6000 JPEG, a 5000x5000 RGBA PNG near the decode limit."""
    folder.mkdir(parents=True, exist_ok=True)
    digit = Image.fromarray(255 - digits.x_test[0]).resize((3000, 3000), Image.Resampling.BICUBIC)
    digit = np.asarray(digit)
    wide = np.full((7000, 7000), 60000, np.uint16)
    wide[2000:5000, 2000:5000] = digit.astype(np.uint16) * 235
    rgb = np.full((6000, 8000, 3), 220, np.uint8)
    rgb[1500:4500, 2500:5500] = digit[..., None]
    rgba = np.zeros((5000, 5000, 4), np.uint8)
    rgba[1000:4000, 1000:4000, 3] = 255 - digit  # ink in the alpha channel
    made = {"png-16bit-7000x7000": (Image.fromarray(wide), "png"),
            "jpeg-8000x6000": (Image.fromarray(rgb), "jpg"),
            "png-rgba-5000x5000": (Image.fromarray(rgba, "RGBA"), "png")}
    out = {}
    for name, (img, suffix) in made.items():
        out[name] = folder / f"{name}.{suffix}"
        img.save(out[name], **({"quality": 90} if suffix == "jpg" else {}))
    return out


# ---------------------------------------------------------------- videos

def hostile_videos(folder: Path, digits) -> dict[str, tuple[Path, Expect]]:
    """A real MJPG clip of digits, then truncated, damaged, lying about its length, and fakes."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for digit in digits.x_test[:30]:
        frame = np.full((120, 160, 3), 225, np.uint8)
        frame[18:102, 38:122] = np.asarray(Image.fromarray(255 - digit).resize((84, 84)))[..., None]
        writer.write(frame)
    writer.release()
    data = clip.read_bytes()
    damaged = bytearray(data)
    for k in range(len(data) // 3, len(data) // 3 + 4000, 97):
        damaged[k] ^= 0xFF
    lying = bytearray(data)
    at = lying.find(b"avih")
    lying[at + 24 : at + 28] = struct.pack("<I", 100_000)  # dwTotalFrames
    cases = {"valid clip": (data, (0,)), "truncated to half": (data[: len(data) // 2], (1,)),
             "truncated to 90%": (data[: len(data) * 9 // 10], (1,)),
             "header only": (data[:4000], (1,)), "damaged frames": (bytes(damaged), (0, 1)),
             "header says 100000 frames": (bytes(lying), (0, 1)), "empty .mp4": (b"", (1,)),
             "text .mp4": (b"not a video\n" * 100, (1,)),
             "png named .avi": (_save(Image.new("L", (30, 30), 128)), (0, 1))}  # FFmpeg: 1 frame
    out = {}
    for k, (name, (blob, expect)) in enumerate(cases.items()):
        path = folder / f"video-{k}.{'mp4' if '.mp4' in name else 'avi'}"
        path.write_bytes(blob)
        out[name] = (path, expect)
    for name, path in special_files(folder / "special", ".mp4").items():
        out[f"special: {name}"] = (path, (1,))
    return out


# ---------------------------------------------------------------- models

def hostile_trailers(folder: Path, good: bytes) -> dict[str, tuple[Path, dict[str, Expect]]]:
    """The model with its appended labels and facts damaged or hostile.

    Returns {name: (path, {command: exit codes})} (exit 0 where not named): the model
    itself stays usable, so inspect and predict succeed (with a note when the labels are
    lost); evaluate refuses facts that name other classes.
    """
    from runtime.modelfile.reader import append_associated_files, read_associated_files

    folder.mkdir(parents=True, exist_ok=True)
    files, size = read_associated_files(good)
    flat = good[: len(good) - size]
    labels, facts = files["labels.txt"], json.loads(files["mnist_edge.json"])

    def model(**kw) -> bytes:
        changed = json.dumps({**facts, **kw}).encode()
        return append_associated_files(flat, {"labels.txt": labels, "mnist_edge.json": changed})

    def only(name: str, data: bytes) -> bytes:
        return append_associated_files(flat, {name: data})

    directory, member = bytearray(good), bytearray(good)
    directory[directory.rfind(b"labels.txt") + 12] ^= 0x01  # the zip's central directory
    name, extra = struct.unpack("<HH", good[len(flat) + 26 : len(flat) + 30])
    member[len(flat) + 30 + name + extra + 2] ^= 0x01  # the first member's compressed data
    cases = {
        "trailer cut short": (good[:-40], {}), "trailer directory damaged": (bytes(directory), {}),
        "first member damaged": (bytes(member), {}), "no trailer": (flat, {}),
        "facts nested 100000 deep": (only("mnist_edge.json", b"[" * 100_000), {}),
        "facts are a list": (only("mnist_edge.json", b"[1, 2]"), {}),
        "facts not UTF-8": (only("mnist_edge.json", b"\xff\xfe{}"), {}),
        "labels are a dict": (model(labels={"a": 1}), {}),
        "labels are numbers": (model(labels=list(range(10))), {}),
        "3 labels": (model(labels=["a", "b", "c"]), {"evaluate": (1,)}),
        "dataset 'cifar'": (model(dataset="cifar"), {}),  # evaluate names its dataset here
        "dataset is a dict": (model(dataset={"x": 1}), {}),
        "accuracy is text": (model(verified={"accuracy": "high", "test_images": []}), {}),
        "variant is huge": (model(variant="v" * 100_000), {}),
        "labels.txt empty": (only("labels.txt", b""), {}),
    }
    out = {}
    for k, (case, (blob, expect)) in enumerate(cases.items()):
        target = folder / f"t{k}"
        target.mkdir(parents=True, exist_ok=True)
        (target / "model.tflite").write_bytes(blob)
        out[f"trailer: {case}"] = (target / "model.tflite", expect)
    return out


def hostile_labels(folder: Path, good: bytes) -> dict[str, tuple[Path, dict[str, Expect]]]:
    """A model without embedded labels beside a hostile labels.txt.

    Returns {name: (path, {command: exit codes})}:

    inspect reads only the model; predict and evaluate need the names and
    refuse a labels file they cannot use.
    """
    from runtime.modelfile.reader import read_associated_files

    flat = good[: len(good) - read_associated_files(good)[1]]
    cases = {"binary": bytes(range(128, 256)) * 4, "empty": b"\n\n", "3 names": b"a\nb\nc\n",
             "2 MB": b"x" * 2_000_000, "11 names": "\n".join("abcdefghijk").encode(),
             "unicode names": "\n".join("٠١٢٣٤٥٦٧٨٩").encode(), "a FIFO": None}
    out = {}
    for k, (name, data) in enumerate(cases.items()):
        target = folder / f"l{k}"
        target.mkdir(parents=True, exist_ok=True)
        (target / "model.tflite").write_bytes(flat)
        if data is None:
            os.mkfifo(target / "labels.txt")
        else:
            (target / "labels.txt").write_bytes(data)
        usable = (0,) if name == "unicode names" else (1,)
        expect = {"inspect": (0,), "predict": usable, "evaluate": usable}
        out[f"labels.txt: {name}"] = (target / "model.tflite", expect)
    return out
