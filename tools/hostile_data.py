"""Hostile datasets for ``tools.hostile_corpus``: IDX folders (raw and gzip), npz files and digits
CSVs, each made from a small split of real digits at run time.

``hostile_datasets`` returns ``{name: (path, damaged)}``: a damaged one must be refused by
every reader; the others may be legal data (a flipped pixel).
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from tools.hostile_files import special_files

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
TRAIN, TEST = 60, 30  # digits in the small real datasets the damaged ones start from
MAX_U32 = 0xFFFFFFFF


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file: magic (type ``code``), dimensions, then the bytes."""
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return struct.pack(">BBBB", 0, 0, code, array.ndim) + dims + array.astype(np.uint8).tobytes()


def small_split(digits) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test): the first TRAIN and TEST real digits."""
    return (digits.x_train[:TRAIN], digits.y_train[:TRAIN],
            digits.x_test[:TEST], digits.y_test[:TEST])


def idx_folder(folder: Path, digits, gz: bool = False,
               replace: dict[int, bytes] | None = None) -> Path:
    """The four IDX files of a small real split; ``replace`` swaps file k's bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, (name, array) in enumerate(zip(IDX_NAMES, small_split(digits))):
        data = (replace or {}).get(k, idx_bytes(array))
        path = folder / (name + ".gz" if gz else name)
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return folder


def hostile_datasets(folder: Path, digits) -> dict[str, tuple[Path, bool]]:
    """Damaged IDX folders (raw and gzip), npz files and digits CSVs: {name: (path, damaged)}."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y, xt, yt = small_split(digits)
    out = _idx_datasets(folder, digits, x, y)
    out.update(_gzip_datasets(folder, digits, idx_bytes(x)))
    out.update(_npz_datasets(folder, x, y, xt, yt))
    out.update(_csv_datasets(folder, x, y))
    for name, path in special_files(folder / "special", ".npz").items():
        out[f"npz: {name}"] = (path, True)
    os.mkfifo(folder / "fifo-no-suffix")
    out.update({"a FIFO as --data-dir": (folder / "fifo-no-suffix", True),
                "/dev/null": (Path("/dev/null"), True), "/dev/zero": (Path("/dev/zero"), True),
                "missing": (folder / "no-such-dir", True)})
    return out


def _idx_datasets(folder: Path, digits, x, y) -> dict[str, tuple[Path, bool]]:
    good = idx_bytes(x)
    flipped = bytearray(good)
    flipped[2000] ^= 0x40
    images = {  # replaces the training images
        "empty file": b"", "3-byte header": good[:3], "wrong magic": b"\x12\x34" + good[2:],
        "float type code": idx_bytes(x, 0x0D), "zero dimensions": b"\x00\x00\x08\x00" + good[16:],
        "nine dimensions": b"\x00\x00\x08\x09" + good[4:],
        "dimensions overflow int64": struct.pack(">BBBB4I", 0, 0, 8, 4, *[MAX_U32] * 4) + good[16:],
        "4 billion images": struct.pack(">BBBB3I", 0, 0, 8, 3, MAX_U32, 28, 28) + good[16:],
        "extra bytes after the body": good + b"\x00" * 100, "half the body": good[: len(good) // 2],
        "14x56 images": idx_bytes(x.reshape(TRAIN, 14, 56)), "1-D images": idx_bytes(x.reshape(-1)),
        "no images": idx_bytes(x[:0]), "header only": good[:16],
    }
    replaced = {**{name: {0: data} for name, data in images.items()},
                "label 200": {1: idx_bytes(np.full_like(y, 200))},
                "50 labels for 60 images": {1: idx_bytes(y[:50])}}
    out = {}
    for name, replace in replaced.items():
        target = idx_folder(folder / f"idx-{len(out)}", digits, replace=replace)
        out[f"idx: {name}"] = (target, True)
    out["idx: a flipped pixel"] = (idx_folder(folder / f"idx-{len(out)}", digits,
                                              replace={0: bytes(flipped)}), False)

    def swap(k: int, make):
        return lambda f: ((f / IDX_NAMES[k]).unlink(), make(f / IDX_NAMES[k]))

    for name, damage in (("missing test labels", lambda f: (f / IDX_NAMES[3]).unlink()),
                         ("labels file is a folder", swap(1, Path.mkdir)),
                         ("images file is a FIFO", swap(0, os.mkfifo)),
                         ("images file is /dev/zero",
                          swap(0, lambda p: os.symlink("/dev/zero", p))),
                         ("dangling link", swap(2, lambda p: os.symlink(p.parent / "gone", p)))):
        target = idx_folder(folder / f"idx-{len(out)}", digits)
        damage(target)
        out[f"idx: {name}"] = (target, True)
    (folder / "empty-folder").mkdir()
    out["empty folder"] = (folder / "empty-folder", True)
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
    cases = {"corrupt deflate stream": bytes(deflate), "CRC error": bytes(crc),
             "length error": bytes(size), "truncated": packed[: len(packed) // 2], "not gzip": good,
             "empty": b"", "header claims 100,000 images": gzip.compress(lying, mtime=0),
             "two members": packed + packed, "trailing garbage": packed + b"garbage"}
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


def _npy(array: np.ndarray, shape: tuple[int, ...]) -> bytes:
    """``array`` as .npy bytes whose header declares ``shape`` instead (the data stays as it is)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    data = buf.getvalue()
    length = struct.unpack("<H", data[8:10])[0]
    header = data[10 : 10 + length].decode("latin-1")
    lied = header.replace(repr(tuple(array.shape)), repr(shape)).rstrip(" \n")
    padded = (lied + " " * (length - len(lied) - 1) + "\n").encode("latin-1")
    return data[:10] + padded + data[10 + length :]


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


def _npz_datasets(folder: Path, x, y, xt, yt) -> dict[str, tuple[Path, bool]]:
    base = {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}

    def npz(**change) -> bytes:
        return _npz_bytes(**{**base, **change})

    good, packed = npz(), _npz_bytes(True, **base)
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
        "stored member, flipped byte": bytes(stored_flip),
        "deflated member, flipped byte": bytes(packed_flip),
        "member claims 2 GiB": bytes(huge), "encrypted flag": bytes(encrypted),
        "strings": npz(x_train=np.array(["a"] * TRAIN)),
        "objects (pickle)": npz(y_train=np.array([object()] * TRAIN, dtype=object)),
        "normalized floats": npz(x_train=x / 255.0),
        "NaN pixels": npz(x_train=np.full(x.shape, np.nan, np.float32)),
        "negative pixels": npz(x_train=x.astype(np.int16) - 300),
        "pixels above 255": npz(x_test=xt.astype(np.uint16) * 300),
        "complex pixels": npz(x_train=x.astype(np.complex64)), "bool pixels": npz(x_train=x > 128),
        "fractional labels": npz(y_train=y + 0.5),
        "negative labels": npz(y_test=yt.astype(np.int64) - 10),
        "labels 256 (wrap to 0)": npz(y_test=yt.astype(np.int64) + 256),
        "one-hot labels": npz(y_train=np.eye(10)[y]), "missing arrays": _npz_bytes(x_train=x),
        "RGB images": npz(x_train=np.stack([x] * 3, -1)),
        "0-d arrays": _npz_bytes(**{k: np.array(1) for k in base}),
        "x_train header claims 10 million images": _npz_members(
            {**base, "x_train": _npy(x, (10_000_000, 28, 28))}),
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
        "pixel 300": text(above), "pixel -1": text(negative), "label 12": text(label),
        "fractions": good.replace(b",0,", b",0.5,", 3), "NaN": good.replace(b",0,", b",nan,", 1),
        "1e30": good.replace(b",0,", b",1000000000000000000000000000000,", 1),
        "783 columns": text(rows[:, 1:]), "empty": b"", "text": b"hello, world\n" * 10,
        "binary": bytes(range(256)) * 10, "one row": text(rows[:1]),
        "CRC error (gz)": bytes(packed), "truncated gzip (gz)": gzip.compress(good)[:500],
    }
    out = {}
    for k, (name, data) in enumerate(cases.items()):
        path = folder / f"digits-{k}{'.csv.gz' if '(gz)' in name else '.csv'}"
        path.write_bytes(data)
        out[f"csv: {name}"] = (path, True)
    return out
