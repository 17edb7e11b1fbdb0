"""Check a ``.tflite`` flatbuffer's structure in pure Python, as flatbuffers' C++ verifier does.

LiteRT runs that verifier before it builds an interpreter; tflite-runtime 2.14 (the
last wheel for many boards) does not, so a file with a flipped offset can make it
read outside the model and crash the process. ``check_structure`` applies the same
rules first, on any back-end: every table, vtable, vector and string lies inside
the buffer and is aligned, strings end in a zero byte, union values match their
type, nesting stays under 64 levels and 1,000,000 tables. The field kinds come from
``runtime.modelfile.schema``. It checks structure only; values (tensor indices, shapes) are the
interpreter's to check.
"""

from __future__ import annotations

import struct

from runtime.modelfile.schema import TABLES, UNIONS

MAX_DEPTH = 64  # flatbuffers::Verifier's defaults, which TFLite uses
MAX_TABLES = 1_000_000
MAX_BUFFER = (1 << 31) - 1


class FlatbufferError(ValueError):
    """The buffer breaks a flatbuffer rule; the message names the field."""


# table -> ((field name, kind) by vtable slot); a deprecated slot is ("-", "-")
_FIELDS = {name: tuple(tuple(f.split(":", 1)) if f != "-" else ("-", "-") for f in spec.split())
           for name, spec in TABLES.items()}


def check_structure(buf: bytes, identifier: bytes = b"TFL3") -> None:
    """Verify a whole ``.tflite`` buffer from its root ``Model`` table.

    Raises:
        FlatbufferError: the first rule broken, with the table and field.
    """
    _Verifier(buf).root("Model", identifier)


class _Verifier:
    def __init__(self, buf: bytes):
        self.buf, self.size = buf, len(buf)
        self.depth = self.tables = 0

    def root(self, name: str, identifier: bytes) -> None:
        if self.size < 8 or self.size > MAX_BUFFER:
            raise FlatbufferError(f"a buffer of {self.size} bytes cannot hold a model")
        if self.buf[4:8] != identifier:
            raise FlatbufferError(f"no {identifier.decode()} identifier")
        self.table(self.offset(0, "root"), name)

    def check(self, pos: int, length: int, what: str, align: int = 1) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise FlatbufferError(f"{what} lies outside the file")
        if pos % align:
            raise FlatbufferError(f"{what} is misaligned")

    def u32(self, pos: int, what: str) -> int:
        self.check(pos, 4, what, 4)
        return struct.unpack_from("<I", self.buf, pos)[0]

    def offset(self, pos: int, what: str) -> int:
        """Follow the unsigned offset stored at ``pos``: the target position."""
        rel = self.u32(pos, what)
        if rel == 0 or rel >= 1 << 31:
            raise FlatbufferError(f"{what} has an invalid offset")
        self.check(pos + rel, 1, what)
        return pos + rel

    def table(self, pos: int, name: str) -> None:
        self.tables += 1
        self.depth += 1
        if self.depth > MAX_DEPTH or self.tables > MAX_TABLES:
            raise FlatbufferError(f"{name} nests too deep or the file holds too many tables")
        self.check(pos, 4, name, 4)
        vtable = pos - struct.unpack_from("<i", self.buf, pos)[0]
        self.check(vtable, 2, f"{name}'s vtable", 2)
        vsize = struct.unpack_from("<H", self.buf, vtable)[0]
        if vsize & 1:
            raise FlatbufferError(f"{name}'s vtable has an odd size")
        self.check(vtable, vsize, f"{name}'s vtable")
        slots = max(0, (vsize - 4) // 2)  # a vtable too short for a slot leaves that field absent
        for slot, (field_name, kind) in enumerate(_FIELDS[name][:slots]):
            field = struct.unpack_from("<H", self.buf, vtable + 4 + 2 * slot)[0]
            if field and kind != "-":
                self.field(pos + field, kind, f"{name}.{field_name}", pos, slot)
        self.depth -= 1

    def field(self, pos: int, kind: str, what: str, table: int, slot: int) -> None:
        if kind.isdigit():
            self.check(pos, int(kind), what, int(kind))
        elif kind == "str":
            self.string(self.offset(pos, what), what)
        elif kind.startswith("T:"):
            self.table(self.offset(pos, what), kind[2:])
        elif kind.startswith("U:"):
            member = self.union_type(table, slot, kind[2:])
            if member:
                self.table(self.offset(pos, what), member)
        else:
            self.vector(self.offset(pos, what), kind[1:-1], what)

    def union_type(self, table: int, slot: int, union: str) -> str | None:
        """The member table named by the union's type byte (the slot before its value)."""
        vtable = table - struct.unpack_from("<i", self.buf, table)[0]
        vsize = struct.unpack_from("<H", self.buf, vtable)[0]
        type_slot = 4 + 2 * (slot - 1)
        field = struct.unpack_from("<H", self.buf, vtable + type_slot)[0] if type_slot < vsize else 0
        number = self.buf[table + field] if field else 0
        members = UNIONS[union]
        return members[number] if number < len(members) else None  # unknown members pass, as in C++

    def vector(self, pos: int, element: str, what: str) -> None:
        count = self.u32(pos, what)
        size = int(element) if element.isdigit() else 4
        self.check(pos + 4, count * size, what)
        if element == "str":
            for i in range(count):
                self.string(self.offset(pos + 4 + 4 * i, what), what)
        elif element.startswith("T:"):
            for i in range(count):
                self.table(self.offset(pos + 4 + 4 * i, what), element[2:])

    def string(self, pos: int, what: str) -> None:
        length = self.u32(pos, what)
        self.check(pos + 4, length + 1, what)
        if self.buf[pos + 4 + length] != 0:
            raise FlatbufferError(f"{what} is a string without its terminating zero")
