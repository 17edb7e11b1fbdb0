"""Read fields of a verified ``.tflite`` flatbuffer by name, from ``runtime.modelfile.schema`` alone.

The ``tflite`` package's generated accessors do the same, but importing its few
hundred modules costs about 0.1 s on every cold start, more than parsing a model.
These readers assume ``runtime.modelfile.structure`` has accepted the buffer, so every
offset lies inside it; values (indices, sizes) are still the caller's to check.
"""

from __future__ import annotations

import functools
import struct

import numpy as np

from runtime.modelfile.schema import TABLES

_U16, _I32, _U32 = struct.Struct("<H"), struct.Struct("<i"), struct.Struct("<I")


@functools.cache
def _slots(table: str) -> dict[str, int]:
    """Field name -> vtable slot, from the schema's slot-ordered field list."""
    return {spec.split(":", 1)[0]: slot for slot, spec in enumerate(TABLES[table].split()) if spec != "-"}


class Table:
    """One flatbuffer table: its type name in the schema and its position in the buffer."""

    __slots__ = ("buf", "name", "pos", "_vtable", "_vtable_size")

    def __init__(self, buf: bytes, pos: int, name: str):
        self.buf, self.pos, self.name = buf, pos, name
        self._vtable = pos - _I32.unpack_from(buf, pos)[0]
        self._vtable_size = _U16.unpack_from(buf, self._vtable)[0]

    @classmethod
    def root(cls, buf: bytes, name: str = "Model") -> Table:
        """The buffer's root table."""
        return cls(buf, _U32.unpack_from(buf, 0)[0], name)

    def _field(self, field: str) -> int | None:
        """Where a field's value starts, or None when the table does not store it (the default applies)."""
        entry = 4 + 2 * _slots(self.name)[field]
        if entry >= self._vtable_size:
            return None
        offset = _U16.unpack_from(self.buf, self._vtable + entry)[0]
        return self.pos + offset if offset else None

    def _target(self, at: int) -> int:
        return at + _U32.unpack_from(self.buf, at)[0]

    def scalar(self, field: str, fmt: str, default: int | float = 0) -> int | float:
        """A scalar field in ``struct`` format ``fmt`` ("b", "i", "I", "Q", ...), or its default."""
        at = self._field(field)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def string(self, field: str) -> bytes | None:
        """A string field's bytes, or None."""
        at = self._field(field)
        if at is None:
            return None
        start = self._target(at)
        return bytes(self.buf[start + 4 : start + 4 + _U32.unpack_from(self.buf, start)[0]])

    def table(self, field: str, name: str) -> Table | None:
        """A sub-table of schema type ``name``, or None."""
        at = self._field(field)
        return None if at is None else Table(self.buf, self._target(at), name)

    def tables(self, field: str, name: str) -> list[Table]:
        """A vector of sub-tables of schema type ``name`` (empty when absent)."""
        at = self._field(field)
        if at is None:
            return []
        start = self._target(at)
        count = _U32.unpack_from(self.buf, start)[0]
        return [Table(self.buf, self._target(start + 4 + 4 * i), name) for i in range(count)]

    def vector(self, field: str, dtype: str) -> np.ndarray:
        """A vector of scalars as a numpy array of ``dtype`` ("<i4", "<f4", "<i8", "u1"); empty when absent."""
        at = self._field(field)
        if at is None:
            return np.zeros(0, dtype)
        start = self._target(at)
        return np.frombuffer(self.buf, dtype, count=_U32.unpack_from(self.buf, start)[0], offset=start + 4)

    def vector_length(self, field: str) -> int:
        """How many elements a vector field holds (0 when absent)."""
        at = self._field(field)
        return 0 if at is None else _U32.unpack_from(self.buf, self._target(at))[0]

    def vector_span(self, field: str, itemsize: int = 1) -> tuple[int, int]:
        """(start, length in bytes) of a vector's elements in the buffer; (0, 0) when absent."""
        at = self._field(field)
        if at is None:
            return 0, 0
        start = self._target(at)
        return start + 4, _U32.unpack_from(self.buf, start)[0] * itemsize
