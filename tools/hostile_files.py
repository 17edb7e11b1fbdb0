"""Hostile files for ``tools.hostile_corpus``, each made from real digits or a real model at run time.

Every builder writes into a folder and returns ``{name: (path, what it should do)}``:
for datasets whether it is damaged (so every reader must refuse it), for images, videos
and models the exit codes that count as handled.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Images that decode but hold no digit: predict refuses them, classify counts them as frames without one.
BLANK_IMAGES = {"png 1x1", "png 1x100000", "png 100000x1 with ink", "16-bit all zero", "float NaN tiff"}
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TRAIN, TEST = 60, 30  # digits in the small real datasets the damaged ones start from


def nonutf8(latin1: str) -> str:
    """A file name made of these bytes (latin-1), as Python sees a name that is not UTF-8 (surrogate-escaped)."""
    return os.fsdecode(latin1.encode("latin-1"))


def save_digit(path: Path, digit: np.ndarray, size: int = 84) -> Path:
    """A real digit, dark on white, ``size`` pixels square."""
    Image.fromarray(255 - digit).resize((size, size)).save(path)
    return path


def special_files(folder: Path, suffix: str) -> dict[str, Path]:
    """A FIFO, a folder, a device, a dangling link and a link loop, each named like a ``suffix`` file."""
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


# ---------------------------------------------------------------- datasets

def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file: magic (type ``code``), dimensions, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).astype(np.uint8).tobytes()


def small_split(digits) -> tuple[np.ndarray, ...]:
    return digits.x_train[:TRAIN], digits.y_train[:TRAIN], digits.x_test[:TEST], digits.y_test[:TEST]


def idx_folder(folder: Path, digits, gz: bool = False, replace: dict[int, bytes] | None = None) -> Path:
    """The four IDX files of a small real split; ``replace`` swaps file k's bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, (name, array) in enumerate(zip(IDX_NAMES, small_split(digits))):
        data = (replace or {}).get(k, idx_bytes(array))
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return folder


def hostile_datasets(folder: Path, digits) -> dict[str, tuple[Path, bool]]:
    """Damaged IDX folders (raw and gzip), npz files and digits CSVs: {name: (path, damaged)}."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y, xt, yt = small_split(digits)
    good = idx_bytes(x)
    out: dict[str, tuple[Path, bool]] = {}
    raw = {
        "empty file": b"", "3-byte header": good[:3], "wrong magic": b"\x12\x34" + good[2:],
        "float type code": idx_bytes(x, 0x0D), "zero dimensions": b"\x00\x00\x08\x00" + good[16:],
        "nine dimensions": b"\x00\x00\x08\x09" + good[4:],
        "dimensions overflow int64": struct.pack(">BBBB4I", 0, 0, 8, 4, *[0xFFFFFFFF] * 4) + good[16:],
        "4 billion images": struct.pack(">BBBB3I", 0, 0, 8, 3, 0xFFFFFFFF, 28, 28) + good[16:],
        "extra bytes after the body": good + b"\x00" * 100, "half the body": good[: len(good) // 2],
        "14x56 images": idx_bytes(x.reshape(TRAIN, 14, 56)), "1-D images": idx_bytes(x.reshape(-1)),
        "no images": idx_bytes(x[:0]), "header only": good[:16],
    }
    for name, data in raw.items():
        out[f"idx: {name}"] = (idx_folder(folder / f"idx-{len(out)}", digits, replace={0: data}), True)
    out["idx: label 200"] = (idx_folder(folder / f"idx-{len(out)}", digits,
                                        replace={1: idx_bytes(np.full_like(y, 200))}), True)
    out["idx: 50 labels for 60 images"] = (idx_folder(folder / f"idx-{len(out)}", digits,
                                                      replace={1: idx_bytes(y[:50])}), True)
    flipped = bytearray(good)
    flipped[2000] ^= 0x40
    out["idx: a flipped pixel"] = (idx_folder(folder / f"idx-{len(out)}", digits, replace={0: bytes(flipped)}), False)
    out.update(_gzip_datasets(folder, digits, good))
    for name, make in (("missing test labels", lambda f: (f / IDX_NAMES[3]).unlink()),
                       ("labels file is a folder", lambda f: ((f / IDX_NAMES[1]).unlink(), (f / IDX_NAMES[1]).mkdir())),
                       ("images file is a FIFO", lambda f: ((f / IDX_NAMES[0]).unlink(), os.mkfifo(f / IDX_NAMES[0]))),
                       ("images file is /dev/zero", lambda f: ((f / IDX_NAMES[0]).unlink(),
                                                               os.symlink("/dev/zero", f / IDX_NAMES[0]))),
                       ("dangling link", lambda f: ((f / IDX_NAMES[2]).unlink(),
                                                    os.symlink(f / "gone", f / IDX_NAMES[2])))):
        target = idx_folder(folder / f"idx-{len(out)}", digits)
        make(target)
        out[f"idx: {name}"] = (target, True)
    (folder / "empty-folder").mkdir()
    out["empty folder"] = (folder / "empty-folder", True)
    out.update(_npz_datasets(folder, x, y, xt, yt))
    out.update(_csv_datasets(folder, x, y))
    for name, path in special_files(folder / "special", ".npz").items():
        out[f"npz: {name}"] = (path, True)
    os.mkfifo(folder / "fifo-no-suffix")
    out.update({"a FIFO as --data-dir": (folder / "fifo-no-suffix", True), "/dev/null": (Path("/dev/null"), True),
                "/dev/zero": (Path("/dev/zero"), True), "missing": (folder / "no-such-dir", True)})
    return out


def _gzip_datasets(folder: Path, digits, good: bytes) -> dict[str, tuple[Path, bool]]:
    packed = gzip.compress(good, mtime=0)
    crc = bytearray(packed)
    crc[-6] ^= 0xFF  # inside the CRC-32 trailer: the data inflates, the check fails
    size = bytearray(packed)
    size[-2] ^= 0x01  # the stored length
    deflate = bytearray(packed)
    deflate[40:60] = b"\xff" * 20
    lying = struct.pack(">BBBB3I", 0, 0, 8, 3, 100_000, 28, 28) + b"\x00" * 28 * 28 * 10
    cases = {"corrupt deflate stream": bytes(deflate), "CRC error": bytes(crc), "length error": bytes(size),
             "truncated": packed[: len(packed) // 2], "not gzip": good, "empty": b"",
             "header claims 100,000 images": gzip.compress(lying, mtime=0), "two members": packed + packed,
             "trailing garbage": packed + b"garbage"}
    out = {}
    for k, (name, data) in enumerate(cases.items()):
        target = idx_folder(folder / f"gz-{k}", digits, gz=True)
        (target / f"{IDX_NAMES[0]}.gz").write_bytes(data)
        out[f"gzip: {name}"] = (target, True)
    return out


def _npz_bytes(compress: bool = False, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


def _npz_datasets(folder: Path, x, y, xt, yt) -> dict[str, tuple[Path, bool]]:
    base = {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}
    good, packed = _npz_bytes(**base), _npz_bytes(True, **base)
    stored_flip, packed_flip = bytearray(good), bytearray(packed)
    stored_flip[len(good) // 2] ^= 0x01  # a pixel of x_test: only the zip's CRC can tell
    packed_flip[len(packed) // 3] ^= 0x01
    huge = bytearray(good)
    at = huge.rfind(b"PK\x01\x02")  # the last central directory entry: claim 2 GiB uncompressed
    huge[at + 24 : at + 28] = struct.pack("<I", 0x80000000)
    encrypted = bytearray(good)
    encrypted[good.find(b"PK\x01\x02") + 8] |= 0x01  # the "encrypted" flag
    cases = {
        "truncated": good[: len(good) // 2], "empty": b"", "text": b"x_train,y_train\n" * 20,
        "stored member, flipped byte": bytes(stored_flip), "deflated member, flipped byte": bytes(packed_flip),
        "member claims 2 GiB": bytes(huge), "encrypted flag": bytes(encrypted),
        "strings": _npz_bytes(**{**base, "x_train": np.array(["a"] * TRAIN)}),
        "objects (pickle)": _npz_bytes(**{**base, "y_train": np.array([object()] * TRAIN, dtype=object)}),
        "normalized floats": _npz_bytes(**{**base, "x_train": x / 255.0}),
        "NaN pixels": _npz_bytes(**{**base, "x_train": np.full(x.shape, np.nan, np.float32)}),
        "negative pixels": _npz_bytes(**{**base, "x_train": x.astype(np.int16) - 300}),
        "pixels above 255": _npz_bytes(**{**base, "x_test": xt.astype(np.uint16) * 300}),
        "complex pixels": _npz_bytes(**{**base, "x_train": x.astype(np.complex64)}),
        "bool pixels": _npz_bytes(**{**base, "x_train": x > 128}),
        "fractional labels": _npz_bytes(**{**base, "y_train": y + 0.5}),
        "negative labels": _npz_bytes(**{**base, "y_test": yt.astype(np.int64) - 10}),
        "labels 256 (wrap to 0)": _npz_bytes(**{**base, "y_test": yt.astype(np.int64) + 256}),
        "one-hot labels": _npz_bytes(**{**base, "y_train": np.eye(10)[y]}),
        "missing arrays": _npz_bytes(x_train=x), "RGB images": _npz_bytes(**{**base, "x_train": np.stack([x] * 3, -1)}),
        "0-d arrays": _npz_bytes(**{k: np.array(1) for k in base}),
        "x_train header claims 10 million images": _npz_members({**base, "x_train": _npy(x, (10_000_000, 28, 28))}),
        "y_test header claims 2**62 labels": _npz_members({**base, "y_test": _npy(yt, (2**62,))}),
    }
    out = {}
    for k, (name, data) in enumerate(cases.items()):
        path = folder / f"npz-{k}.npz"
        path.write_bytes(data)
        out[f"npz: {name}"] = (path, True)
    (folder / "in-folder").mkdir()
    (folder / "in-folder" / "d.npz").write_bytes(good[:100])
    out["npz: damaged, found in its folder"] = (folder / "in-folder", True)
    return out


def _npy(array: np.ndarray, shape: tuple[int, ...]) -> bytes:
    """``array`` as .npy bytes whose header declares ``shape`` instead (the data stays as it is)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    data = buf.getvalue()
    length = struct.unpack("<H", data[8:10])[0]
    header = data[10 : 10 + length].decode("latin-1")
    lied = header.replace(repr(tuple(array.shape)), repr(shape)).rstrip(" \n")
    return data[:10] + (lied + " " * (length - len(lied) - 1) + "\n").encode("latin-1") + data[10 + length :]


def _npz_members(arrays: dict) -> bytes:
    """An .npz (a zip of .npy files) from arrays or ready .npy bytes, with correct CRCs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for key, value in arrays.items():
            if not isinstance(value, bytes):
                npy = io.BytesIO()
                np.lib.format.write_array(npy, value)
                value = npy.getvalue()
            archive.writestr(f"{key}.npy", value)
    return buf.getvalue()


def _csv_datasets(folder: Path, x, y) -> dict[str, tuple[Path, bool]]:
    rows = np.concatenate([x.reshape(len(x), -1).astype(np.int64), y[:, None]], axis=1)

    def text(table) -> bytes:
        return "\n".join(",".join(str(v) for v in row) for row in table).encode() + b"\n"

    above, negative, label = rows.copy(), rows.copy(), rows.copy()
    above[3, 100], negative[4, 50], label[5, -1] = 300, -1, 12
    good = text(rows)
    packed = bytearray(gzip.compress(good, mtime=0))
    packed[-6] ^= 0xFF
    cases = {
        "pixel 300": (text(above), ".csv"), "pixel -1": (text(negative), ".csv"), "label 12": (text(label), ".csv"),
        "fractions": (good.replace(b",0,", b",0.5,", 3), ".csv"), "NaN": (good.replace(b",0,", b",nan,", 1), ".csv"),
        "1e30": (good.replace(b",0,", b",1000000000000000000000000000000,", 1), ".csv"),
        "783 columns": (text(rows[:, 1:]), ".csv"), "empty": (b"", ".csv"), "text": (b"hello, world\n" * 10, ".csv"),
        "binary": (bytes(range(256)) * 10, ".csv"), "one row": (text(rows[:1]), ".csv"),
        "CRC error": (bytes(packed), ".csv.gz"), "truncated gzip": (gzip.compress(good)[:500], ".csv.gz"),
    }
    out = {}
    for k, (name, (data, suffix)) in enumerate(cases.items()):
        path = folder / f"digits-{k}{suffix}"
        path.write_bytes(data)
        out[f"csv: {name}"] = (path, True)
    return out


# ---------------------------------------------------------------- images

def hostile_images(folder: Path, digits) -> dict[str, tuple[Path, tuple[int, ...]]]:
    """Images of every mode (valid: exit 0), damaged, bombs by header, degenerate, and not images at all."""
    folder.mkdir(parents=True, exist_ok=True)
    page = _page(digits.x_test[7])
    out: dict[str, tuple[Path, tuple[int, ...]]] = {}

    def put(name, path, expect):
        out[name] = (path, expect)

    for mode, fmt in (("L", "png"), ("RGB", "jpg"), ("RGBA", "png"), ("P", "png"), ("P", "gif"), ("LA", "png"),
                      ("1", "bmp"), ("CMYK", "jpg"), ("CMYK", "tif"), ("RGB", "webp"), ("L", "pgm"), ("RGB", "ppm"),
                      ("I;16", "png"), ("I", "tif"), ("F", "tif"), ("YCbCr", "jpg"), ("LAB", "tif")):
        img = _mode(page, mode)
        path = folder / f"mode-{mode.replace(';', '')}.{fmt}"
        img.save(path)
        put(f"{mode} {fmt}", path, (1,) if mode == "LAB" else (0,))  # Pillow cannot convert LAB to gray
    rgba = np.zeros((56, 56, 4), np.uint8)
    rgba[..., 3] = np.asarray(Image.fromarray(digits.x_test[8]).resize((56, 56)))
    Image.fromarray(rgba, "RGBA").save(folder / "ink-in-alpha.png")
    put("ink only in alpha", folder / "ink-in-alpha.png", (0,))
    frames = [Image.fromarray(page), Image.fromarray(255 - page)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    put("animated gif", folder / "animated.gif", (0,))
    out.update(_damaged_images(folder, page))
    out.update(_header_bombs(folder))
    out.update(_degenerate_images(folder, digits))
    for name, path in special_files(folder / "special", ".png").items():
        put(f"special: {name}", path, (1,))
    put("/proc/self/mem", Path("/proc/self/mem"), (1,))
    put("/dev/stdin", Path("/dev/stdin"), (1,))
    return out


def _page(digit: np.ndarray) -> np.ndarray:
    big = np.asarray(Image.fromarray(digit).resize((120, 120), Image.Resampling.BICUBIC), dtype=np.float32)
    page = np.full((200, 260), 225.0, np.float32)
    page[40:160, 70:190] -= big * 205 / 255
    return np.clip(page, 0, 255).astype(np.uint8)


def _mode(page: np.ndarray, mode: str) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(page.astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(page.astype(np.int32) * 1000 - 5000)
    if mode == "F":
        return Image.fromarray(page.astype(np.float32) / 255)
    return Image.fromarray(page).convert(mode) if mode != "L" else Image.fromarray(page)


def _damaged_images(folder: Path, page: np.ndarray) -> dict[str, tuple[Path, tuple[int, ...]]]:
    rng = random.Random(3)
    out = {}
    for fmt in ("png", "jpg", "gif", "bmp", "tif", "webp"):
        good = io.BytesIO()
        Image.fromarray(page).convert("RGB" if fmt == "jpg" else "L").save(good, format=_FORMATS[fmt])
        data = good.getvalue()
        for name, blob, expect in (("half", data[: len(data) // 2], (1,)), ("20 bytes", data[:20], (1,)),
                                   ("flipped", _flip(data, rng, 8), (0, 1))):
            path = folder / f"damaged-{name.replace(' ', '')}.{fmt}"
            path.write_bytes(blob)
            out[f"{fmt} {name}"] = (path, expect)
    ztxt = folder / "ztxt-bomb.png"
    Image.fromarray(page).save(ztxt)
    blob = ztxt.read_bytes()
    chunk = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * 20_000_000, 9))
    ztxt.write_bytes(blob[:33] + chunk + blob[33:])
    out["png text chunk inflating to 20 MB"] = (ztxt, (0, 1))
    for name, exif in (("EXIF orientation 9", _exif(9)), ("EXIF orientation 65535", _exif(65535)),
                       ("EXIF garbage", b"Exif\x00\x00" + bytes(rng.randrange(256) for _ in range(300)))):
        path = folder / f"{name.replace(' ', '-')}.jpg"
        Image.fromarray(page).save(path, exif=exif)
        out[name] = (path, (0,))
    return out


_FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "bmp": "BMP", "tif": "TIFF", "webp": "WEBP"}


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
    """A PNG whose header says ``width`` x ``height``, with ``body`` as its (compressed) pixel data."""
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _png_chunk(b"IDAT", zlib.compress(body)) + _png_chunk(b"IEND", b"")


def _header_bombs(folder: Path) -> dict[str, tuple[Path, tuple[int, ...]]]:
    """Files whose headers declare enormous images; none may be decoded."""
    jpeg = io.BytesIO()
    Image.new("L", (16, 16), 200).save(jpeg, format="JPEG")
    sof = bytearray(jpeg.getvalue())
    at = sof.find(b"\xff\xc0")
    sof[at + 5 : at + 9] = struct.pack(">HH", 65000, 65000)
    gif = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b"," + struct.pack("<4HB", 0, 0, 65535, 65535, 0)
    bmp = io.BytesIO()
    Image.new("L", (8, 8)).save(bmp, format="BMP")
    bmp = bytearray(bmp.getvalue())
    bmp[18:26] = struct.pack("<ii", 200_000, 200_000)
    big = io.BytesIO()
    Image.new("1", (12000, 12000)).save(big, format="PNG", optimize=True)
    wide16 = _png(7000, 7000, 16, 0, b"")  # 98 MB to decode, but no pixel data follows
    cases = {"png 100000x100000": (_png(100_000, 100_000), (1,)), "jpeg 65000x65000": (bytes(sof), (1,)),
             "gif 65535x65535": (gif, (1,)), "bmp 200000x200000": (bytes(bmp), (1,)),
             "png 12000x12000 1-bit (real)": (big.getvalue(), (1,)),
             "png 7000x7000 16-bit without pixels": (wide16, (1,)),
             "png 60000x60000 RGBA": (_png(60_000, 60_000, 8, 6), (1,))}
    out = {}
    for k, (name, (data, expect)) in enumerate(cases.items()):
        path = folder / f"bomb-{k}.{name.split()[0]}"
        path.write_bytes(data)
        out[f"bomb: {name}"] = (path, expect)
    return out


def _degenerate_images(folder: Path, digits) -> dict[str, tuple[Path, tuple[int, ...]]]:
    made = {
        "png 0x0 by header": (_png(0, 0), (1,)), "png 1x1": (_save(Image.new("L", (1, 1), 0)), (1,)),
        "png 1x100000": (_save(Image.new("L", (1, 100_000), 255)), (1,)),
        "png 100000x1 with ink": (_save(Image.fromarray(np.tile(np.r_[np.full(50, 255), np.zeros(50)], 1000)
                                                        .astype(np.uint8)[None])), (0, 1)),
        "16-bit all zero": (_save(Image.fromarray(np.zeros((40, 40), np.uint16))), (1,)),
        "float NaN tiff": (_save(Image.fromarray(np.full((40, 40), np.nan, np.float32)), "TIFF"), (1,)),
        "float infinities tiff": (_save(Image.fromarray(np.where(_page(digits.x_test[9]) < 128, np.inf, -np.inf)
                                                        .astype(np.float32)), "TIFF"), (0, 1)),
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


# ---------------------------------------------------------------- videos

def hostile_videos(folder: Path, digits) -> dict[str, tuple[Path, tuple[int, ...]]]:
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
             "truncated to 90%": (data[: len(data) * 9 // 10], (1,)), "header only": (data[:4000], (1,)),
             "damaged frames": (bytes(damaged), (0, 1)), "header says 100000 frames": (bytes(lying), (0, 1)),
             "empty .mp4": (b"", (1,)), "text .mp4": (b"not a video\n" * 100, (1,)),
             "png named .avi": (_save(Image.new("L", (30, 30), 128)), (0, 1))}  # FFmpeg reads it as one frame
    out = {}
    for k, (name, (blob, expect)) in enumerate(cases.items()):
        path = folder / f"video-{k}.{'mp4' if '.mp4' in name else 'avi'}"
        path.write_bytes(blob)
        out[name] = (path, expect)
    for name, path in special_files(folder / "special", ".mp4").items():
        out[f"special: {name}"] = (path, (1,))
    return out


# ---------------------------------------------------------------- models

def hostile_trailers(folder: Path, good: bytes) -> dict[str, tuple[Path, dict[str, tuple[int, ...]]]]:
    """The model with its appended labels and facts damaged or hostile: {name: (path, {command: exit codes})}.

    The model itself stays usable, so inspect and predict succeed (with a note when the
    labels are lost); evaluate refuses facts that name another dataset or other classes.
    """
    from runtime.modelfile.reader import append_associated_files, read_associated_files

    folder.mkdir(parents=True, exist_ok=True)
    files, size = read_associated_files(good)
    flat = good[: len(good) - size]
    labels, facts = files["labels.txt"], json.loads(files["mnist_edge.json"])

    def model(**kw):
        return append_associated_files(flat, {"labels.txt": labels,
                                              "mnist_edge.json": json.dumps({**facts, **kw}).encode()})

    directory, member = bytearray(good), bytearray(good)
    directory[directory.rfind(b"labels.txt") + 12] ^= 0x01  # the zip's central directory
    name, extra = struct.unpack("<HH", good[len(flat) + 26 : len(flat) + 30])
    member[len(flat) + 30 + name + extra + 2] ^= 0x01  # the first member's compressed data
    cases = {
        "trailer cut short": (good[:-40], {}), "trailer directory damaged": (bytes(directory), {}),
        "first member damaged": (bytes(member), {}),
        "no trailer": (flat, {}),
        "facts nested 100000 deep": (append_associated_files(flat, {"mnist_edge.json": b"[" * 100_000}), {}),
        "facts are a list": (append_associated_files(flat, {"mnist_edge.json": b"[1, 2]"}), {}),
        "facts not UTF-8": (append_associated_files(flat, {"mnist_edge.json": b"\xff\xfe{}"}), {}),
        "labels are a dict": (model(labels={"a": 1}), {}),
        "labels are numbers": (model(labels=list(range(10))), {}),
        "3 labels": (model(labels=["a", "b", "c"]), {"evaluate": (1,)}),
        "dataset 'cifar'": (model(dataset="cifar"), {}),  # evaluate names its dataset here
        "dataset is a dict": (model(dataset={"x": 1}), {}),
        "accuracy is text": (model(verified={"accuracy": "high", "test_images": []}), {}),
        "variant is huge": (model(variant="v" * 100_000), {}),
        "labels.txt empty": (append_associated_files(flat, {"labels.txt": b""}), {}),
    }
    out = {}
    for k, (name, (blob, expect)) in enumerate(cases.items()):
        target = folder / f"t{k}"
        target.mkdir(parents=True, exist_ok=True)
        (target / "model.tflite").write_bytes(blob)
        out[f"trailer: {name}"] = (target / "model.tflite", expect)
    return out


def hostile_labels(folder: Path, good: bytes) -> dict[str, tuple[Path, dict[str, tuple[int, ...]]]]:
    """A model without embedded labels beside a hostile labels.txt: {name: (path, {command: exit codes})}.

    inspect reads only the model; predict and evaluate need the names and refuse a labels
    file they cannot use.
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
        out[f"labels.txt: {name}"] = (target / "model.tflite", {"inspect": (0,), "predict": usable,
                                                                "evaluate": usable})
    return out


# ---------------------------------------------------------------- large images (memory)

def large_images(folder: Path, digits) -> dict[str, Path]:
    """Real digits in very large images, for peak memory: a 7000x7000 16-bit PNG (a small file that
    decodes to 98 MB), an 8000x6000 JPEG, a 5000x5000 RGBA PNG near the decode limit."""
    folder.mkdir(parents=True, exist_ok=True)
    digit = np.asarray(Image.fromarray(255 - digits.x_test[0]).resize((3000, 3000), Image.Resampling.BICUBIC))
    wide = np.full((7000, 7000), 60000, np.uint16)
    wide[2000:5000, 2000:5000] = digit.astype(np.uint16) * 235
    rgb = np.full((6000, 8000, 3), 220, np.uint8)
    rgb[1500:4500, 2500:5500] = digit[..., None]
    rgba = np.zeros((5000, 5000, 4), np.uint8)
    rgba[1000:4000, 1000:4000, 3] = 255 - digit  # ink in the alpha channel
    made = {"png-16bit-7000x7000": (Image.fromarray(wide), "png"), "jpeg-8000x6000": (Image.fromarray(rgb), "jpg"),
            "png-rgba-5000x5000": (Image.fromarray(rgba, "RGBA"), "png")}
    out = {}
    for name, (img, suffix) in made.items():
        out[name] = folder / f"{name}.{suffix}"
        img.save(out[name], **({"quality": 90} if suffix == "jpg" else {}))
    return out
