"""Every edge target: variants, one file to copy, inspect, Edge TPU hand-off, C array for microcontrollers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import FASHION_DIR, assert_one_line_error, hostile_models, run_cli

VARIANTS = ["float32", "float16", "dynamic", "int8", "int8-static"]

# Stands in for Coral's edgetpu_compiler (x86-64 only, not installable here): like the real one it
# writes <stem>_edgetpu.tflite into -o, with the ops it maps replaced by edgetpu-custom-op.
FAKE_COMPILER = textwrap.dedent("""\
    #!{python}
    import sys
    from pathlib import Path
    from tensorflow.lite.tools import flatbuffer_utils as fb
    out, src = Path(sys.argv[sys.argv.index("-o") + 1]), Path(sys.argv[-1])
    model = fb.read_model(str(src))
    for code in model.operatorCodes:
        if code.builtinCode == 9:  # FULLY_CONNECTED
            code.builtinCode = code.deprecatedBuiltinCode = 32
            code.customCode = "edgetpu-custom-op"
    fb.write_model(model, str(out / (src.stem + "_edgetpu.tflite")))
    print("Edge TPU Compiler version 16.0 (stand-in)")
    print("Number of operations that will run on Edge TPU: 2")
""")


def reexport(src: Path, folder: Path, *flags: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Copy a trained model's artifacts from ``src`` into ``folder`` and run ``export`` there with ``flags``."""
    for name in ("model.keras", "metrics.json", "labels.txt"):
        shutil.copy(src / name, folder / name)
    proc = run_cli("export", "--model-dir", str(folder), *flags, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def exported(digits_model, tmp_path_factory):
    """``export --all`` through the CLI, with the stand-in compiler on PATH."""
    src, _ = digits_model
    folder = tmp_path_factory.mktemp("targets")
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "edgetpu_compiler").write_text(FAKE_COMPILER.format(python=sys.executable))
    (bin_dir / "edgetpu_compiler").chmod(0o755)
    proc = reexport(src, folder, "--all", "--json", env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    return folder, json.loads(proc.stdout.strip().splitlines()[-1])


def inspect_json(path) -> dict:
    proc = run_cli("inspect", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.tensorflow
def test_every_variant_verified_against_float(exported):
    folder, report = exported
    v = {r["variant"]: r for r in report["variants"]}
    assert list(v) == VARIANTS
    float_acc = v["float32"]["accuracy"]
    for name in VARIANTS[1:]:
        assert float_acc - v[name]["accuracy"] <= 0.015, name
        assert v[name]["agreement"] >= (0.995 if name in ("float16", "dynamic") else 0.97), name
        assert (folder / f"model.{name}.tflite").stat().st_size == v[name]["size_bytes"]
    assert 0.45 < v["float16"]["size_bytes"] / v["float32"]["size_bytes"] < 0.55
    for name in ("dynamic", "int8", "int8-static"):
        assert v[name]["size_bytes"] / v["float32"]["size_bytes"] < 0.3, name


LEAN_INTEGER_OPS = ["QUANTIZE", "RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX", "QUANTIZE"]


@pytest.mark.tensorflow
def test_integer_graphs_carry_no_division_and_no_run_time_shape_ops(exported, digits):
    """÷255 lives in the input quantization (scale 1/255: the uint8 input holds the raw pixel)
    and Flatten is one constant RESHAPE; a stock interpreter fed raw pixels scores like the Classifier."""
    folder, _ = exported
    from ai_edge_litert.interpreter import Interpreter

    from runtime import Classifier
    from runtime.modelfile.reader import read_model

    for name in ("int8", "int8-static"):
        info = read_model(folder / f"model.{name}.tflite")
        assert [op.name for op in info.operators] == LEAN_INTEGER_OPS, name
        pixels = info.tensor(info.inputs[0])
        assert pixels.dtype == "uint8" and pixels.zero_points == (0,), name
        assert pixels.scales[0] == pytest.approx(1 / 255, rel=1e-6), name
    ops = [op.name for op in read_model(folder / "model.float32.tflite").operators]
    assert ops == ["MUL", "RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]

    bare = Interpreter(model_path=str(folder / "model.int8.tflite"), num_threads=1)
    bare.resize_tensor_input(0, [100, 28, 28, 1])
    bare.allocate_tensors()
    # Raw uint8 pixels, deskewed as the Classifier does for a digits model.
    bare.set_tensor(bare.get_input_details()[0]["index"], _deskewed(digits.x_test[:100]))
    bare.invoke()
    out = bare.get_output_details()[0]
    raw = bare.get_tensor(out["index"]).astype(np.int64)
    expected = out["quantization"][0] * (raw - out["quantization"][1])
    scores = Classifier(folder / "model.int8.tflite").scores(digits.x_test[:100])
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert (scores.argmax(1) == digits.y_test[:100]).mean() > 0.85


@pytest.mark.tensorflow
def test_int8_io_has_no_operator_outside_the_math_and_agrees_with_uint8_io(digits_model, digits, tmp_path):
    src, _ = digits_model
    reexport(src, tmp_path, "--io", "int8")
    from runtime import Classifier
    from runtime.modelfile.reader import read_model

    info = read_model(tmp_path / "model.int8.tflite")
    assert [op.name for op in info.operators] == LEAN_INTEGER_OPS[1:-1]
    assert info.tensor(info.inputs[0]).zero_points == (-128,)
    ours = Classifier(tmp_path / "model.int8.tflite").scores(digits.x_test)
    theirs = Classifier(src / "model.int8.tflite").scores(digits.x_test)
    assert (ours.argmax(1) == theirs.argmax(1)).mean() >= 0.995


@pytest.mark.tensorflow
def test_int8_static_is_within_5_percent_of_its_weights(exported):
    folder, _ = exported
    info = inspect_json(folder / "model.int8-static.tflite")
    assert info["weight_bytes"] > 100_000  # 784x128 + 128x10 int8 weights, int32 biases
    assert info["size_bytes"] / info["weight_bytes"] <= 1.05
    assert [t["signature"][0] for t in info["tensors"] if t["index"] in info["inputs"]] == [1]


@pytest.mark.tensorflow
def test_one_file_carries_labels_and_facts_and_stock_interpreters_load_it(exported, digits):
    folder, _ = exported
    from runtime.modelfile.reader import read_model

    path = folder / "model.int8.tflite"
    info = read_model(path)
    facts = info.project_metadata()
    assert facts["labels"] == [str(d) for d in range(10)] and facts["dataset"] == "mnist-5k"
    assert facts["variant"] == "int8" and facts["export"]["io"] == "uint8"
    assert 0.85 < facts["verified"]["accuracy"] <= 1 and facts["input"]["shape"] == [28, 28, 1]
    assert facts["input"]["deskew"] is True  # a digits model: a stock interpreter is handed deskewed digits
    pixels = _deskewed(digits.x_test[:64])
    flatbuffer_only = path.read_bytes()[: info.flatbuffer_bytes]
    # TensorFlow's own interpreter (not the runtime's) gives the same outputs with and without the zip.
    import tensorflow as tf

    outputs = []
    for content in (path.read_bytes(), flatbuffer_only):
        interp = tf.lite.Interpreter(model_content=content)
        interp.resize_tensor_input(0, [64, 28, 28, 1])
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], pixels)
        interp.invoke()
        outputs.append(interp.get_tensor(interp.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert (outputs[0].argmax(1) == digits.y_test[:64]).mean() > 0.8


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist (make test installs it)")
@pytest.mark.tensorflow
def test_model_copied_alone_prints_class_names(tmp_path):
    work = tmp_path / "workstation"
    work.mkdir()
    for args in (("train", "--epochs", "1", "--quiet"), ("export",)):
        proc = run_cli(*args, "--dataset", "fashion-mnist", "--data-dir", str(FASHION_DIR), cwd=work)
        assert proc.returncode == 0, proc.stderr
    device = tmp_path / "device"
    device.mkdir()
    shutil.copy(work / "artifacts/fashion-mnist/model.int8.tflite", device / "model.tflite")
    from training.datasets import load_dataset

    data = load_dataset("fashion-mnist", str(FASHION_DIR))
    index = int(np.flatnonzero(data.y_test == 1)[0])  # a trouser
    Image.fromarray(255 - data.x_test[index]).resize((112, 112)).save(device / "item.png")
    proc = run_cli("predict", "model.tflite", "item.png", "--json", cwd=device)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["name"] in data.class_names
    assert json.loads(proc.stdout)["name"] == "Trouser"


@pytest.mark.tensorflow
def test_inspect_verdicts(exported):
    folder, _ = exported
    verdicts = {n: {v["target"]: v for v in inspect_json(folder / f"model.{n}.tflite")["verdicts"]}
                for n in ("int8", "int8-static", "float16", "dynamic")}
    assert all(verdicts[n]["LiteRT CPU"]["ready"] for n in verdicts)
    static = verdicts["int8-static"]
    assert static["Coral Edge TPU"]["ready"] and static["TFLite Micro"]["ready"]
    assert any("arena estimate" in n for n in static["TFLite Micro"]["notes"])
    dynamic_batch = verdicts["int8"]["Coral Edge TPU"]
    assert not dynamic_batch["ready"] and any("dynamic size" in r for r in dynamic_batch["reasons"])
    assert any("dynamic tensor sizes" in r for r in verdicts["int8"]["TFLite Micro"]["reasons"])
    assert any("float16" in r for r in verdicts["float16"]["TFLite Micro"]["reasons"])
    assert any("hybrid" in r for r in verdicts["dynamic"]["TFLite Micro"]["reasons"])
    assert any("not 8-bit" in r for r in verdicts["float16"]["Coral Edge TPU"]["reasons"])
    text = run_cli("inspect", str(folder / "model.int8-static.tflite"))
    assert text.returncode == 0 and "FULLY_CONNECTED x2" in text.stdout and "labels 0, 1, 2" in text.stdout


@pytest.mark.tensorflow
def test_per_channel_export_is_larger_and_not_for_micro(exported, tmp_path):
    folder, _ = exported
    reexport(folder, tmp_path, "--per-channel", "--c-array")
    per_channel = inspect_json(tmp_path / "model.int8.tflite")
    per_tensor = inspect_json(folder / "model.int8.tflite")
    assert per_channel["size_bytes"] > per_tensor["size_bytes"]
    assert any(len(t["scales"]) > 1 for t in per_channel["tensors"])
    assert not any(len(t["scales"]) > 1 for t in per_tensor["tensors"])
    reasons = {v["target"]: v for v in per_channel["verdicts"]}["TFLite Micro"]["reasons"]
    assert any("per-channel FULLY_CONNECTED" in r for r in reasons)
    # --c-array is built from int8-static, which stays per tensor whatever --per-channel says.
    micro = {v["target"]: v for v in inspect_json(tmp_path / "model.int8-static.tflite")["verdicts"]}
    assert micro["TFLite Micro"]["ready"]
    assert per_channel["metadata"]["export"]["per_channel"] is True


@pytest.mark.tensorflow
def test_edgetpu_compiled_model_needs_its_delegate(exported, digits, tmp_path):
    folder, report = exported
    compiled = folder / "model.int8-static_edgetpu.tflite"
    assert report["paths"]["edgetpu"] == str(compiled)
    info = inspect_json(compiled)
    assert "edgetpu-custom-op" in info["operators"] and info["metadata"]["labels"][0] == "0"  # labels re-appended
    verdicts = {v["target"]: v for v in info["verdicts"]}
    assert verdicts["Coral Edge TPU"]["ready"] and not verdicts["LiteRT CPU"]["ready"]
    image = tmp_path / "digit.png"
    Image.fromarray(digits.x_test[0]).save(image)
    assert_one_line_error(run_cli("predict", str(compiled), str(image)), "compiled for the Coral Edge TPU",
                          "--delegate edgetpu")
    assert_one_line_error(run_cli("predict", str(compiled), str(image), "--delegate", "edgetpu"),
                          "libedgetpu.so.1", "apt-get install libedgetpu1-std")


def test_edgetpu_delegate_refuses_models_not_compiled_for_it(digits_model, digits, tmp_path):
    folder, _ = digits_model
    image = tmp_path / "digit.png"
    Image.fromarray(digits.x_test[0]).save(image)
    assert_one_line_error(run_cli("predict", str(folder / "model.float32.tflite"), str(image), "--delegate", "edgetpu"),
                          "not compiled for the Edge TPU", "float32 model", "full-integer int8")
    assert_one_line_error(run_cli("predict", str(folder / "model.int8.tflite"), str(image), "--delegate", "edgetpu"),
                          "not compiled for the Edge TPU", f"edgetpu_compiler -s {folder / 'model.int8.tflite'}")


def test_edgetpu_without_compiler_prints_the_command(digits_model, tmp_path):
    folder, _ = digits_model
    from export.targets import compile_edgetpu

    result = compile_edgetpu(folder / "model.int8.tflite") if shutil.which("edgetpu_compiler") is None else None
    assert result is not None and result.compiled is None
    assert result.command == f"edgetpu_compiler -s -o {folder} {folder / 'model.int8.tflite'}"


@pytest.mark.tensorflow
@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (build-essential)")
def test_c_array_compiles_and_holds_the_model(exported, tmp_path):
    folder, report = exported
    header, source = folder / "model_data.h", folder / "model_data.cc"
    assert report["paths"]["c_header"] == str(header) and report["paths"]["c_source"] == str(source)
    assert "resolver.AddFullyConnected();" in header.read_text() and "MODEL_DATA_ARENA_ESTIMATE" in header.read_text()
    assert "// Input: uint8 [1, 28, 28, 1], the raw pixel 0..255 itself." in header.read_text()
    (tmp_path / "main.cc").write_text(textwrap.dedent("""\
        #include <cstdint>
        #include <cstdio>
        #include "model_data.h"
        int main() {
          if (reinterpret_cast<std::uintptr_t>(g_model_data) % 16 != 0) return 3;
          if (MODEL_DATA_ARENA_ESTIMATE <= 0) return 4;
          return std::fwrite(g_model_data, 1, g_model_data_len, stdout) == g_model_data_len ? 0 : 5;
        }
    """))
    exe = tmp_path / "dump"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-I", str(folder), str(tmp_path / "main.cc"),
                    str(source), "-o", str(exe)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    assert out == (folder / "model.int8-static.tflite").read_bytes()


def test_inspect_on_hostile_files_never_crashes(digits_model, tmp_path):
    folder, _ = digits_model
    outcomes = {"ok": 0, "error": 0}
    for path in [*hostile_models((folder / "model.int8.tflite").read_bytes(), tmp_path), tmp_path]:
        proc = run_cli("inspect", str(path), "--json")
        assert proc.returncode >= 0, f"{path.name} killed inspect by signal {-proc.returncode}"
        if proc.returncode == 0:
            outcomes["ok"] += 1
            continue
        assert_one_line_error(proc)
        outcomes["error"] += 1
    assert outcomes["error"] >= 14


def test_interpreter_crash_becomes_a_message(digits_model, monkeypatch, tmp_path):
    """The probe's child really dies by SIGSEGV; the parent reports it in one line."""
    folder, _ = digits_model
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # not proven before: the child must run
    from runtime.common.errors import ModelError
    from runtime.inference import probe as probe_module

    # The child dies on the user's file only: the file is to blame.
    crash_on_file = ("import os, signal, sys; from runtime.inference.probe import main\n"
                     "if not sys.argv[-1].endswith('known_good.tflite'): os.kill(os.getpid(), signal.SIGSEGV)\n"
                     "main()")
    root = str(Path(probe_module.__file__).resolve().parents[2])
    monkeypatch.setattr(probe_module, "child_command",
                        lambda: [sys.executable, "-c", f"import sys; sys.path.insert(0, {root!r})\n" + crash_on_file])
    with pytest.raises(ModelError, match="crashed on it .SIGSEGV.; the file is damaged or hostile"):
        probe_module.probe(folder / "model.int8.tflite")
    # The child dies on every model, a known-good one too: the environment is to blame, not the file.
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(probe_module, "child_command", lambda: [sys.executable, "-c", crash])
    with pytest.raises(ModelError, match="crashes on this machine .SIGSEGV. even on a known-good model"):
        probe_module.probe(folder / "model.int8.tflite")


def test_a_runtime_folder_in_the_working_directory_cannot_stand_in_for_the_package(digits_model, tmp_path):
    """A hostile ``runtime/`` package in the current folder (or on PYTHONPATH) is never imported."""
    folder, _ = digits_model
    marker = tmp_path / "hostile-code-ran"
    hostile = f"open({str(marker)!r}, 'w').write('ran')\n"
    for package in ("runtime", "runtime/inference"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text(hostile)
    (tmp_path / "runtime" / "inference" / "probe.py").write_text(hostile)
    for env in (None, {"PYTHONPATH": str(tmp_path)}):
        proc = run_cli("inspect", str(folder / "model.int8.tflite"), "--json", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["verdicts"][0]["ready"] and not marker.exists()


def test_damaged_embedded_zip_only_loses_the_labels(digits_model, tmp_path):
    folder, _ = digits_model
    from runtime import Classifier
    from runtime.modelfile.reader import read_model

    good = (folder / "model.int8.tflite").read_bytes()
    zip_start = read_model(folder / "model.int8.tflite").flatbuffer_bytes
    for offset in range(zip_start, len(good)):  # every byte of the zip, three flip patterns
        for flip in (0x01, 0x55, 0x80):
            damaged = bytearray(good)
            damaged[offset] ^= flip
            (tmp_path / "model.tflite").write_bytes(bytes(damaged))
            info = read_model(tmp_path / "model.tflite")  # never raises for damage after the flatbuffer
            if offset % 29 == 0 and flip == 0x55:
                assert Classifier(tmp_path / "model.tflite").class_names == info.project_metadata().get(
                    "labels", [str(d) for d in range(10)])


def test_a_proven_model_skips_the_child_until_its_bytes_change(digits_model, monkeypatch, tmp_path):
    """The probe remembers a passed model by its bytes: the second load runs no child; other bytes do."""
    folder, _ = digits_model
    from runtime.common.errors import ModelError
    from runtime.inference import probe as probe_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = folder / "model.int8.tflite"
    first = probe_module.probe(model)
    assert probe_module.proven_cache(model.read_bytes()).is_file()
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(probe_module, "child_command", lambda: [sys.executable, "-c", crash])
    assert probe_module.probe(model) == first  # remembered: the (now crashing) child is not started
    changed = tmp_path / "changed.tflite"
    changed.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="crashes on this machine"):  # new bytes: the child runs (and dies)
        probe_module.probe(changed)


def _deskewed(images: np.ndarray) -> np.ndarray:
    """[N, 28, 28, 1] uint8: what the Classifier hands a deskewing model (``runtime.imaging.deskew``)."""
    from runtime.imaging.deskew import deskewed_pixels

    return deskewed_pixels(images)[..., None]
