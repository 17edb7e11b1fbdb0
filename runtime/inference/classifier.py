"""The Classifier: one TFLite model, its contract checked, batches in, scores out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from runtime.common.chatter import quiet_library
from runtime.common.convention import INPUT_SHAPE, MNIST_SIDE
from runtime.common.errors import ConfigError, ImageError, ModelError, first_line
from runtime.imaging.deskew import deskew
from runtime.inference.backend import get_backend, load_delegate
from runtime.inference.probe import probe
from runtime.inference.quant import dequantize, pixel_quantization, quantize
from runtime.modelfile.class_names import find_class_names
from runtime.modelfile.reader import deskewed_input, read_model

MAX_BATCH = 1024  # images per invoke: bounds the input tensor at ~3 MB (float32)
MAX_THREADS = 64  # interpreter threads; the interpreter takes a C int and starts every one
SUPPORTED_INPUT_DTYPES = (np.float32, np.uint8, np.int8)


class Prediction(NamedTuple):
    """One classified image: class id (output index), class name and its probability (0..1).

    A named tuple, as pycoral's ``Class`` is: it costs a tenth of a dataclass to build,
    which matters at thousands of images a second.
    """

    class_id: int
    name: str
    score: float


@dataclass(frozen=True)
class _Tensor:
    index: int
    dtype: np.dtype
    scale: float
    zero_point: int
    fixed_batch: int | None = None  # the batch size when the model cannot be resized


class Classifier:
    """Runs a ``.tflite`` digit classifier through LiteRT / tflite-runtime.

    Inputs follow the project's one convention: raw pixel intensity 0..255, bright
    ink on black, 28x28 (any of [N,28,28], [N,28,28,1], or one [28,28] image).
    Quantized inputs and outputs are converted with the tensors' own scale and
    zero point; an integer input whose quantization spans 0..1 takes pixels / 255
    (``quant.pixel_quantization``), so its raw uint8 pixels pass unchanged. Models
    with a fixed batch of 1 (Edge TPU, microcontroller exports) are run one image
    per invoke. A model whose embedded facts say it was trained on deskewed digits
    (``"input": {"deskew": true}``) gets every image sheared upright first
    (``runtime.imaging.deskew``), as it was trained.

    Attributes:
        class_names: one name per output; ``labels_from`` says where they came from
            ("embedded", "labels.txt", "class indices" or "given"), and ``labels_problem``
            why the model's own embedded labels were not used (damaged, or not fitting), else None.
        metadata: the facts embedded in the model (``ModelInfo.project_metadata``).
        deskew: whether images are deskewed before the model runs (from ``metadata``).
    """

    def __init__(self, model_path: str | os.PathLike, class_names: list[str] | None = None,
                 num_threads: int | None = None, backend: str | None = None, delegate: str | None = None,
                 guard: bool = False):
        """Load a model and check its contract.

        Args:
            model_path: the ``.tflite`` file.
            class_names: the model's classes, by output index; default: those embedded in the model, else ``labels.txt``
                beside it, else "0".."N-1".
            num_threads: interpreter threads, 1..``MAX_THREADS`` (default: the back-end's choice).
            backend: interpreter module name (see ``runtime.inference.backend``).
            delegate: "edgetpu" (Coral) or the path of a delegate library.
            guard: first try the model in a child process (``runtime.inference.probe``), with the
                delegate if one is given, so that an interpreter or delegate crash becomes a
                ModelError; costs ~0.3 s the first time a file is seen, nothing after.

        Raises:
            ConfigError: ``num_threads`` out of range.
            ModelError: the file is missing, not a TFLite model, damaged, compiled for
                the Edge TPU but run without its delegate (or given the Edge TPU delegate
                but not compiled for it: a float model, say), or its input is not 28x28
                pixels of float32/uint8/int8, or its output is not [N, classes].
            BackendError: no interpreter module is installed, or the delegate cannot be loaded.
        """
        if num_threads is not None and not 1 <= num_threads <= MAX_THREADS:
            raise ConfigError("threads", f"must be between 1 and {MAX_THREADS}, got {num_threads}")
        self.path = Path(model_path)
        self.info = read_model(self.path)
        if self.info.edgetpu_compiled and delegate is None:
            raise ModelError(f"{self.path}: compiled for the Coral Edge TPU (it holds edgetpu-custom-op); "
                             "run it with --delegate edgetpu, or use the model before edgetpu_compiler on a CPU")
        if delegate == "edgetpu" and not self.info.edgetpu_compiled:
            raise ModelError(_not_for_edgetpu(self.info))
        self.backend = get_backend(backend)
        if guard:
            probe(self.path, self.backend.name, content=self.info.content, delegate=delegate)
        delegates = [load_delegate(self.backend, delegate)] if delegate else None
        try:
            with quiet_library():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                self._interpreter = self.backend.interpreter_class(  # the bytes read_model verified
                    model_content=self.info.content, num_threads=num_threads,
                    experimental_delegates=delegates)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.path}: the interpreter cannot load it ({first_line(exc)})") from None
        self._input, self._output, self.num_classes = _check_contract(self._interpreter, self.path)
        self._pixel_scale = pixel_quantization(self._input.scale, self._input.zero_point, self._input.dtype)
        self._output_table = _output_table(self._output)
        self.metadata = self.info.project_metadata()
        self.deskew = deskewed_input(self.metadata)
        if class_names is None:
            found = find_class_names(self.path, self.num_classes, self.metadata.get("labels"),
                                     self.info.metadata_problem)
            class_names = found.names
            self.labels_from, self.labels_problem = found.source, found.problem
        else:
            self.labels_from, self.labels_problem = "given", None
        if len(class_names) != self.num_classes:
            raise ModelError(f"{len(class_names)} class names given for a model with {self.num_classes} classes")
        self.class_names = class_names
        self._fixed_batch = self._input.fixed_batch
        self._batch = 1

    @property
    def input_dtype(self) -> np.dtype:
        """The model's input tensor type (float32, uint8 or int8)."""
        return self._input.dtype

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the model was exported with when it cannot be resized (1 for
        Edge TPU and microcontroller exports), else None: any batch runs in one invoke."""
        return self._fixed_batch

    @property
    def size_bytes(self) -> int:
        """The model file's size in bytes."""
        return self.path.stat().st_size

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of images.

        Args:
            images: [N,28,28], [N,28,28,1] or [28,28], values 0..255 (any numeric dtype).

        Returns:
            [N, num_classes] float32 probabilities.
        """
        x = _as_batch(images)
        if self.deskew:
            x = deskew(x)
        step = self._fixed_batch or MAX_BATCH
        if len(x) <= step:  # one invoke: no list, no concatenation
            return self._invoke(x) if len(x) else np.zeros((0, self.num_classes), np.float32)
        return np.concatenate([self._invoke(x[i : i + step]) for i in range(0, len(x), step)])

    def classify(self, images: np.ndarray) -> list[Prediction]:
        """The top class of every image in a batch (see ``scores`` for the input forms)."""
        probs = self.scores(images)
        names = self.class_names
        if len(probs) == 1:  # the camera case: one digit per call, so every microsecond shows
            k = int(probs[0].argmax())
            return [Prediction(k, names[k], float(probs[0, k]))]
        top = probs.argmax(axis=1)
        best = probs[np.arange(len(top)), top]
        return [Prediction(k, names[k], score) for k, score in zip(top.tolist(), best.tolist())]

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        inp, out = self._input, self._output
        try:
            if len(batch) != self._batch and not self._fixed_batch:
                # One invoke per batch: resize the input tensor instead of looping in Python.
                with quiet_library():
                    self._interpreter.resize_tensor_input(inp.index, [len(batch), *INPUT_SHAPE])
                    self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(inp.index, quantize(batch, self._pixel_scale, inp.zero_point, inp.dtype))
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(out.index)
        except (ValueError, RuntimeError) as exc:
            self._batch = -1  # the interpreter's state is unknown: resize again next time
            raise ModelError(f"{self.path}: the interpreter failed to run it ({first_line(exc)})") from None
        if self._output_table is not None:  # take() on a uint8 index: no view, no fancy indexing
            return self._output_table.take(raw if raw.dtype.char == "B" else raw.view(np.uint8))
        return dequantize(raw, out.scale, out.zero_point)


def _output_table(out: _Tensor) -> np.ndarray | None:
    """For an 8-bit output, ``dequantize`` of all 256 bit patterns: one lookup per value instead of
    four array operations (a third of ``classify``'s own cost on one image). None otherwise."""
    if out.scale == 0 or out.dtype not in (np.dtype(np.uint8), np.dtype(np.int8)):
        return None
    return dequantize(np.arange(256, dtype=np.uint8).view(out.dtype), out.scale, out.zero_point)


def _not_for_edgetpu(info) -> str:
    """Why ``--delegate edgetpu`` cannot run a model that edgetpu_compiler has not compiled."""
    head = f"{info.path}: not compiled for the Edge TPU (no edgetpu-custom-op), so the delegate would take nothing"
    if info.tensor(info.inputs[0]).dtype == "float32":
        return (f"{head}; it is a float32 model and the Edge TPU runs only full-integer int8: "
                "export --int8 and compile model.int8-static.tflite with edgetpu_compiler")
    return f"{head}; compile it first: edgetpu_compiler -s {info.path}"


def _check_contract(interpreter, path: Path) -> tuple[_Tensor, _Tensor, int]:
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{path}: expected 1 input and 1 output, found {len(inputs)} and {len(outputs)}")
    inp, out = inputs[0], outputs[0]
    shape = tuple(int(d) for d in inp["shape"])
    if len(shape) != 4 or shape[1:] != INPUT_SHAPE:
        raise ModelError(f"{path}: expected input shape [N, 28, 28, 1], found {list(shape)}")
    if inp["dtype"] not in SUPPORTED_INPUT_DTYPES:
        raise ModelError(f"{path}: input type {np.dtype(inp['dtype']).name} is not float32, uint8 or int8")
    out_shape = tuple(int(d) for d in out["shape"])
    if len(out_shape) != 2 or out_shape[1] < 2:
        raise ModelError(f"{path}: expected output shape [N, classes], found {list(out_shape)}")
    return _tensor(inp), _tensor(out), out_shape[1]


def _tensor(detail: dict) -> _Tensor:
    scale, zero_point = detail["quantization"]
    signature = detail.get("shape_signature")
    fixed = None if signature is None or len(signature) == 0 or signature[0] < 0 else int(signature[0])
    return _Tensor(int(detail["index"]), np.dtype(detail["dtype"]), float(scale), int(zero_point), fixed)


def _as_batch(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.shape == (MNIST_SIDE, MNIST_SIDE):
        x = x[None]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != INPUT_SHAPE:
        raise ImageError(f"expected images of shape [N, 28, 28] or [N, 28, 28, 1], got {list(x.shape)}")
    if x.dtype.kind not in "uif":
        raise ImageError(f"expected numeric pixel values, got dtype {x.dtype}")
    return x  # kept in its own dtype: uint8 pixels reach a uint8 model without a copy
