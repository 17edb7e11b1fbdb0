"""Read a ``.tflite`` file's structure in pure Python: no interpreter, no TensorFlow.

The flatbuffer is first verified (``runtime.modelfile.structure``: every offset, vector
and string inside the file), then parsed by field name from the schema
(``runtime.modelfile.tables``). Every read error becomes a ModelError, so hostile bytes
(truncated copies, flipped bits) end in one line instead of a crash. ``inspect``, the Edge TPU check and the
embedded labels all come from here.

Labels and export facts travel inside the file the way TFLite Support packs them:
a zip of associated files appended after the flatbuffer (``labels.txt`` and
``mnist_edge.json``). Interpreters read only the flatbuffer and ignore the zip.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.common.convention import LABELS_FILE, METADATA_FILE
from runtime.common.errors import ModelError
from runtime.common.files import open_regular
from runtime.modelfile.schema import BUILTIN_OPERATORS
from runtime.modelfile.structure import FlatbufferError, check_structure
from runtime.modelfile.tables import Table

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite
MAX_ASSOCIATED_BYTES = 1 << 20  # per associated file: refuse zip bombs
CUSTOM_OPERATOR = 32  # BuiltinOperator.CUSTOM: the name is in custom_code
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"  # what edgetpu_compiler puts in place of the ops it maps
MAX_MODEL_BYTES = 1 << 30  # larger files are not digit classifiers; refuse before reading them

# TensorType enum of the schema -> name (tflite.TensorType holds the same numbers).
DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
          8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource",
          14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16"}
ITEMSIZE = {"float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2, "int8": 1,
            "float64": 8, "uint64": 8, "uint32": 4, "uint16": 2, "bfloat16": 2, "complex64": 8, "complex128": 16}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the main subgraph."""

    index: int
    name: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]  # -1 where a dimension is dynamic (e.g. the batch)
    dtype: str
    scales: tuple[float, ...] = ()  # empty when not quantized; one per channel when per-axis
    zero_points: tuple[int, ...] = ()
    axis: int = 0  # quantized dimension (per-axis quantization)
    data_bytes: int = 0  # bytes stored in the file (weights, biases, constant shapes)

    @property
    def constant(self) -> bool:
        """Its value is stored in the file (a weight, bias or constant)."""
        return self.data_bytes > 0

    @property
    def static(self) -> bool:
        """No dynamic dimension."""
        return all(d >= 0 for d in self.signature)

    @property
    def nbytes(self) -> int:
        """Size of the tensor's values at its current shape."""
        return int(np.prod(self.shape, dtype=np.int64)) * ITEMSIZE.get(self.dtype, 1)


@dataclass(frozen=True)
class OperatorInfo:
    """One node of the graph: its operator name, version, input and output tensor indices."""

    name: str  # builtin name (FULLY_CONNECTED) or the custom code (edgetpu-custom-op)
    custom: bool
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class ModelInfo:
    """What a ``.tflite`` file holds, read without running it."""

    path: Path
    size_bytes: int
    schema_version: int
    subgraphs: int
    tensors: list[TensorInfo]
    operators: list[OperatorInfo]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    metadata: dict[str, bytes] = field(default_factory=dict)  # the flatbuffer's metadata entries
    associated: dict[str, bytes] = field(default_factory=dict)  # files of the appended zip
    associated_bytes: int = 0  # size of the appended zip
    content: bytes = field(default=b"", repr=False, compare=False)  # the verified bytes: load these, not the path
    associated_problem: str | None = None  # why appended labels and facts are unreadable (damaged)

    @property
    def weight_bytes(self) -> int:
        """Bytes of constant tensor data (weights, biases, constant shapes)."""
        return sum(t.data_bytes for t in self.tensors)

    @property
    def flatbuffer_bytes(self) -> int:
        """Size of the model proper, without the appended zip of labels and facts."""
        return self.size_bytes - self.associated_bytes

    @property
    def structure_bytes(self) -> int:
        """Bytes of the flatbuffer that are not weights: graph, tensor tables, quantization, names."""
        return self.flatbuffer_bytes - self.weight_bytes

    @property
    def min_runtime_version(self) -> str | None:
        """The oldest TFLite runtime the converter says can run the file ("2.17.0"), if recorded."""
        raw = self.metadata.get("min_runtime_version")
        text = raw.split(b"\0", 1)[0].decode("ascii", "replace").strip() if raw else ""
        return text or None

    @property
    def operator_names(self) -> list[str]:
        """Distinct operator names, in order of first use."""
        return list(dict.fromkeys(op.name for op in self.operators))

    @property
    def custom_operators(self) -> list[str]:
        """Distinct custom operator codes."""
        return list(dict.fromkeys(op.name for op in self.operators if op.custom))

    @property
    def edgetpu_compiled(self) -> bool:
        """The file was compiled by ``edgetpu_compiler`` (needs the Edge TPU delegate)."""
        return EDGETPU_CUSTOM_OP in self.custom_operators

    def tensor(self, index: int) -> TensorInfo:
        """The tensor at an index of the subgraph."""
        return self.tensors[index]

    def project_metadata(self) -> dict:
        """The embedded ``mnist_edge.json``, with ``labels`` from ``labels.txt`` when it has none.

        ``labels`` is kept only when it is a list of strings. Returns {} when the file
        carries neither (or they are unreadable: ``metadata_problem`` says why).
        """
        return self._metadata()[0]

    @property
    def metadata_problem(self) -> str | None:
        """Why the embedded labels and facts could not be (fully) read, or None."""
        return self._metadata()[1]

    def _metadata(self) -> tuple[dict, str | None]:
        problem = self.associated_problem
        value = {}
        if METADATA_FILE in self.associated:
            try:
                value = json.loads(self.associated[METADATA_FILE].decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):  # Recursion: nested too deep
                problem = problem or f"its {METADATA_FILE} is not valid JSON"
            if not isinstance(value, dict):
                problem = problem or f"its {METADATA_FILE} is not a JSON object"
                value = {}
        if "labels" in value and not _names_list(value["labels"]):
            problem = problem or f"the labels in its {METADATA_FILE} are not a list of names"
            del value["labels"]
        if "labels" not in value and LABELS_FILE in self.associated:
            names = self.associated[LABELS_FILE].decode("utf-8", "replace").splitlines()
            value["labels"] = [n.strip() for n in names if n.strip()]
            if not value["labels"]:
                problem = problem or f"its {LABELS_FILE} is empty"
                del value["labels"]
        return value, problem


def _names_list(labels) -> bool:
    return isinstance(labels, list) and bool(labels) and all(isinstance(n, str) for n in labels)


def check_model_file(path: str | os.PathLike) -> Path:
    """Cheap checks before anything parses the file: exists, regular file, size, ``TFL3``.

    Raises:
        ModelError: naming what is wrong.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelError(f"{path}: not a file")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: {size / 2**20:.0f} MiB is too large for a model this toolkit makes")
    with open_regular(path, ModelError, "a .tflite model") as f:
        head = f.read(8)
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{path}: not a TFLite model (no {TFLITE_IDENTIFIER.decode()} identifier)")
    return path


def read_model(path: str | os.PathLike) -> ModelInfo:
    """Parse a ``.tflite`` file's operators, tensors, quantization and metadata.

    Raises:
        ModelError: the file is missing, not a TFLite model, or damaged (a
            truncated copy, flipped bits).
    """
    path = check_model_file(path)
    with open_regular(path, ModelError, "a .tflite model") as f:  # a FIFO swapped in: refused
        buf = f.read(MAX_MODEL_BYTES + 1)
    if len(buf) > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: too large for a model this toolkit makes")
    check_model_bytes(path, buf)
    try:
        return _parse(path, buf)
    except ValueError as exc:  # a value the graph cannot hold (the structure itself is verified)
        raise ModelError(f"{path}: damaged TFLite file ({exc})") from None
    except (struct.error, IndexError, TypeError, OverflowError, MemoryError, RecursionError) as exc:
        raise ModelError(f"{path}: damaged TFLite file ({type(exc).__name__} while reading its structure; "
                         "a truncated or corrupted copy?)") from None


def check_model_bytes(path: str | os.PathLike, buf: bytes) -> None:
    """Check a model's bytes with ``runtime.modelfile.structure``, naming ``path`` in the error.

    Raises:
        ModelError: naming the file and the first rule the bytes break.
    """
    try:
        check_structure(buf)
    except FlatbufferError as exc:
        raise ModelError(f"{path}: damaged TFLite file ({exc}; a truncated or corrupted copy?)") from None


def _parse(path: Path, buf: bytes) -> ModelInfo:
    size = len(buf)
    model = Table.root(buf)
    subgraphs = model.tables("Subgraphs", "SubGraph")
    if not subgraphs:
        raise ModelError(f"{path}: the model has no subgraph")
    buffers = model.tables("Buffers", "Buffer")
    buffer_sizes = [_buffer_bytes(b, size) for b in buffers]
    codes = [_operator_code(c) for c in model.tables("OperatorCodes", "OperatorCode")]
    graph = subgraphs[0]
    tensors = [_tensor(i, t, buffer_sizes) for i, t in enumerate(graph.tables("Tensors", "Tensor"))]
    operators = []
    for op in graph.tables("Operators", "Operator"):
        name, custom, version = codes[_index(op.scalar("OpcodeIndex", "I"), len(codes), "operator code")]
        operators.append(OperatorInfo(name, custom, version, _indices(op.vector("Inputs", "<i4"), len(tensors)),
                                      _indices(op.vector("Outputs", "<i4"), len(tensors))))
    metadata = {}
    for entry in model.tables("Metadata", "Metadata"):
        index = _index(entry.scalar("Buffer", "I"), len(buffers), "buffer")
        metadata[(entry.string("Name") or b"").decode("utf-8", "replace")] = _buffer_data(buffers[index], buf)
    inputs = _indices(graph.vector("Inputs", "<i4"), len(tensors))
    outputs = _indices(graph.vector("Outputs", "<i4"), len(tensors))
    _check_writable(tensors, inputs, operators)
    associated, zip_bytes, problem = _read_associated(buf)
    return ModelInfo(path, size, int(model.scalar("Version", "I")), len(subgraphs), tensors, operators, inputs,
                     outputs, metadata, associated, zip_bytes, buf, problem)


def dense_weights(path: str | os.PathLike) -> list[np.ndarray]:
    """The weight matrix of every FULLY_CONNECTED operator, in graph order, as float32 [out, in].

    Quantized weights are dequantized (per tensor or per output unit).

    Raises:
        ModelError: as ``read_model``, or a weight tensor of another type.
    """
    info = read_model(path)
    model = Table.root(info.content)
    buffers = model.tables("Buffers", "Buffer")
    graph_tensors = model.tables("Subgraphs", "SubGraph")[0].tables("Tensors", "Tensor")
    out = []
    for op in info.operators:
        if op.name != "FULLY_CONNECTED" or len(op.inputs) < 2:
            continue
        t = info.tensors[op.inputs[1]]
        if t.dtype not in ("float32", "int8"):
            raise ModelError(f"{info.path}: dense weights of type {t.dtype} are not supported here")
        data = _buffer_data(buffers[graph_tensors[t.index].scalar("Buffer", "I")], info.content)
        w = np.frombuffer(data, np.dtype(t.dtype)).reshape(t.shape).astype(np.float32)
        if t.scales:
            scales = np.asarray(t.scales, np.float32).reshape(-1, *([1] * (w.ndim - 1)))
            w = (w - np.asarray(t.zero_points or [0], np.float32).reshape(scales.shape)) * scales
        out.append(w)
    return out


def read_associated_files(buf: bytes) -> tuple[dict[str, bytes], int]:
    """The files of a zip appended to a model, and the zip's size ({} and 0 when there is none).

    Members said to be larger than ``MAX_ASSOCIATED_BYTES`` are left unread; a damaged
    zip gives ({}, 0): the model loses its labels, never its use.
    """
    files, size, _ = _read_associated(buf)
    return files, size


def _read_associated(buf: bytes) -> tuple[dict[str, bytes], int, str | None]:
    """``read_associated_files``, and why the appended files could not be read (None when they
    could, or when there are none). A member that fails its CRC is left out and named."""
    stream = io.BytesIO(buf)
    if not zipfile.is_zipfile(stream):
        return {}, 0, _DAMAGED_TRAILER if _has_trailer_headers(buf) else None
    files, bad = {}, []
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
            for m in members:
                if m.is_dir() or m.file_size > MAX_ASSOCIATED_BYTES:
                    continue
                try:
                    files[m.filename] = archive.read(m)
                except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError,
                        ValueError):  # RuntimeError: a flipped "encrypted" flag
                    bad.append(m.filename)
            start = min((m.header_offset for m in members), default=len(buf))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, KeyError, zlib.error,
            ValueError, RuntimeError, OSError):
        return {}, 0, _DAMAGED_TRAILER  # a damaged zip only loses the labels, never the model
    if not 0 <= start <= len(buf):
        return {}, 0, _DAMAGED_TRAILER
    problem = f"{_DAMAGED_TRAILER}: {', '.join(bad)} failed its check" if bad else None
    return files, len(buf) - start, problem


_DAMAGED_TRAILER = "the labels and facts appended to it are damaged"


def _has_trailer_headers(buf: bytes) -> bool:
    """A zip header naming one of the files export appends: the trailer is there but unreadable."""
    for name in (LABELS_FILE, METADATA_FILE):
        encoded = name.encode()
        at = buf.rfind(encoded)
        while at >= 30:
            local, central = buf[at - 30 : at - 26], buf[at - 46 : at - 42] if at >= 46 else b""
            if local == b"PK\x03\x04" or central == b"PK\x01\x02":
                return True
            at = buf.rfind(encoded, 0, at)
    return False


def append_associated_files(model: bytes, files: dict[str, bytes]) -> bytes:
    """The model with ``files`` zipped after it, byte-for-byte reproducible (fixed timestamps)."""
    out = io.BytesIO(model)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _operator_code(code: Table) -> tuple[str, bool, int]:
    # Since schema v3a the code lives in builtin_code; old files use the deprecated int8 field.
    builtin = max(int(code.scalar("BuiltinCode", "i")), int(code.scalar("DeprecatedBuiltinCode", "b")))
    version = int(code.scalar("Version", "i", 1))
    if builtin == CUSTOM_OPERATOR:
        return (code.string("CustomCode") or b"?").decode("utf-8", "replace"), True, version
    return BUILTIN_OPERATORS.get(builtin, f"BUILTIN_{builtin}"), False, version


def _tensor(index: int, t: Table, buffers: list[int]) -> TensorInfo:
    shape = tuple(int(d) for d in t.vector("Shape", "<i4"))
    signature = tuple(int(d) for d in t.vector("ShapeSignature", "<i4")) or shape
    q = t.table("Quantization", "QuantizationParameters")
    scales, zero_points, axis = (), (), 0
    if q is not None and q.vector_length("Scale"):
        scales = tuple(float(s) for s in q.vector("Scale", "<f4"))
        zero_points = tuple(int(z) for z in q.vector("ZeroPoint", "<i8"))
        axis = int(q.scalar("QuantizedDimension", "i"))
    dtype = int(t.scalar("Type", "b"))
    return TensorInfo(index, (t.string("Name") or b"").decode("utf-8", "replace"), shape, signature,
                      DTYPES.get(dtype, f"type{dtype}"), scales, zero_points, axis,
                      buffers[_index(t.scalar("Buffer", "I"), len(buffers), "buffer")])


def _buffer_bytes(b: Table, size: int) -> int:
    """Bytes a buffer holds: inline data, or an (offset, size) region after the flatbuffer."""
    n = b.vector_length("Data") or int(b.scalar("Size", "Q"))
    if n > size:
        raise ValueError("buffer larger than the file")
    return n


def _buffer_data(b: Table, buf: bytes) -> bytes:
    start, n = b.vector_span("Data")
    if n:
        return bytes(buf[start : start + n])
    start, n = int(b.scalar("Offset", "Q")), int(b.scalar("Size", "Q"))
    if start + n > len(buf):
        raise ValueError("buffer beyond the end of the file")
    return bytes(buf[start : start + n])


def _check_writable(tensors: list[TensorInfo], inputs: tuple[int, ...], operators: list[OperatorInfo]) -> None:
    """Tensors written at run time (graph inputs, operator outputs) must not hold constant data.

    Interpreters map constant data read-only: tflite-runtime 2.14 segfaults writing there.
    """
    for i in set(inputs) | {o for op in operators for o in op.outputs}:
        if i >= 0 and tensors[i].constant:
            raise ValueError(f"tensor {i} ({tensors[i].name}) is written at run time but holds constant data")


def _index(i: int, count: int, what: str) -> int:
    if not 0 <= i < count:
        raise ValueError(f"{what} index {i} out of range")
    return int(i)


def _indices(values: np.ndarray, count: int) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if any(not -1 <= v < count for v in out):  # -1 marks an optional input that is absent
        raise ValueError("tensor index out of range")
    return out


def deskewed_input(facts: dict) -> bool:
    """Whether a model's embedded facts (``project_metadata``) say it takes deskewed digits
    (``runtime.imaging.deskew``)."""
    value = facts.get("input")
    return isinstance(value, dict) and value.get("deskew") is True
