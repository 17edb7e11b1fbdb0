"""The pure-Python flatbuffer verifier: true to the schema, to LiteRT's C++ verifier, and never crashing itself."""

from __future__ import annotations

import contextlib
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.common.errors import ModelError
from runtime.modelfile.reader import read_model
from runtime.modelfile.structure import FlatbufferError, check_structure
from tools.gen_schema import render

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def good(digits_model) -> bytes:
    return (digits_model[0] / "model.int8.tflite").read_bytes()


def flipped(good: bytes, seed: int, upto: int = 3000) -> bytes:
    """1 to 32 random bit flips among the first ``upto`` bytes (the tables and vtables)."""
    rng = random.Random(seed)
    out = bytearray(good)
    for _ in range(rng.choice([1, 2, 8, 32])):
        out[rng.randrange(8, upto)] ^= 1 << rng.randrange(8)
    return bytes(out)


@pytest.mark.litert
def test_schema_matches_the_one_litert_reads():
    assert (ROOT / "runtime" / "modelfile" / "schema.py").read_text() == render(), \
        "regenerate: python tools/gen_schema.py > runtime/modelfile/schema.py"


def test_every_exported_model_verifies(digits_model):
    paths = sorted(digits_model[0].glob("*.tflite"))
    assert len(paths) >= 3
    for path in paths:
        check_structure(path.read_bytes())


def test_every_cut_into_the_flatbuffer_is_refused(good, digits_model):
    end = read_model(digits_model[0] / "model.int8.tflite").flatbuffer_bytes
    for cut in [*range(0, 4096), *range(4096, end, 61), end - 1]:
        with pytest.raises(FlatbufferError):
            check_structure(good[:cut])


def _tensor_name(buf: bytes) -> int:
    """Where the first tensor's name string starts (its length prefix)."""
    import tflite

    tensor = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0).Tensors(0)
    field = tensor._tab.Pos + tensor._tab.Offset(10)
    return field + struct.unpack_from("<I", buf, field)[0]


def test_broken_rules_are_named(good):
    name = _tensor_name(good)
    length = struct.unpack_from("<I", good, name)[0]
    cases = {
        "Tensor.Name is a string without its terminating zero": good[: name + 4 + length] + b"x"
                                                                 + good[name + 5 + length:],
        "Tensor.Name lies outside the file": good[:name] + struct.pack("<I", len(good)) + good[name + 4:],
        "Model is misaligned": struct.pack("<I", struct.unpack_from("<I", good)[0] + 1) + good[4:],
        "no TFL3 identifier": good[:4] + b"TFL2" + good[8:],
        "cannot hold a model": good[:6],
    }
    for message, blob in cases.items():
        with pytest.raises(FlatbufferError, match=message):
            check_structure(blob)


def test_read_model_reports_the_broken_rule(good, tmp_path):
    name = _tensor_name(good)
    path = tmp_path / "cut-name.tflite"
    path.write_bytes(good[:name] + struct.pack("<I", len(good)) + good[name + 4:])
    with pytest.raises(ModelError, match=r"damaged TFLite file \(Tensor.Name lies outside the file"):
        read_model(path)


@pytest.mark.litert
def test_verdicts_match_litert(good):
    """LiteRT runs flatbuffers' C++ verifier before it builds an interpreter: same verdict, file by file."""
    from ai_edge_litert.interpreter import Interpreter

    refused = 0
    for seed in range(400):
        blob = flipped(good, seed)
        try:
            check_structure(blob)
            ours = False
        except FlatbufferError:
            ours = True
        try:
            Interpreter(model_content=blob)
            theirs = False
        except ValueError as exc:
            theirs = "not a valid Flatbuffer" in str(exc)
        assert ours == theirs, f"seed {seed}: ours refuses={ours}, LiteRT's verifier refuses={theirs}"
        refused += ours
    assert 100 < refused < 350  # both verdicts occur often


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), upto=st.sampled_from([64, 512, 3000]))
def test_damage_gives_a_verdict_never_another_exception(good, seed, upto):
    with contextlib.suppress(FlatbufferError):
        check_structure(flipped(good, seed, upto))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=400))
def test_junk_after_the_identifier_gives_a_verdict(tail):
    with contextlib.suppress(FlatbufferError):
        check_structure(tail[:4] + b"TFL3" + tail[4:])
