"""Will a model run on a target? Verdicts with reasons, from the file alone (see ``modelfile``).

Targets:
- Coral Edge TPU: the rules of Coral's model requirements (8-bit tensors, sizes
  fixed at compile time, at most 3 dimensions larger than 1, supported operators).
- TFLite Micro: every operator in ``MicroMutableOpResolver``, static shapes, no
  float16 or hybrid kernels, no per-channel FULLY_CONNECTED (tflite-micro rejects
  it at run time), and an estimate of the tensor arena.
- LiteRT CPU: the interpreter loads, allocates and runs the model (checked in a
  child process by ``runtime.inference.probe``, so a crash is reported, not suffered).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from runtime.common.errors import MnistEdgeError
from runtime.modelfile.reader import EDGETPU_CUSTOM_OP, ModelInfo, deskewed_input, read_model

EIGHT_BIT = ("int8", "uint8")
EDGETPU_CONSTANT_TYPES = (*EIGHT_BIT, "int32")  # int32 for biases and shapes

# Coral's list of operators the Edge TPU compiler maps (coral.ai/docs/edgetpu/models-intro).
EDGETPU_OPERATORS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
    "L2_NORMALIZATION", "LOGISTIC", "LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX",
    "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SQUARED_DIFFERENCE", "TANH",
    "TRANSPOSE", "TRANSPOSE_CONV",
})

# Builtin operator -> the MicroMutableOpResolver method that registers it (tflite-micro).
MICRO_RESOLVER = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "CAST": "AddCast",
    "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D", "COS": "AddCos",
    "DEPTH_TO_SPACE": "AddDepthToSpace", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize",
    "DIV": "AddDiv", "ELU": "AddElu", "EQUAL": "AddEqual", "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill", "FLOOR": "AddFloor", "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather", "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual", "HARD_SWISH": "AddHardSwish",
    "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D", "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual", "LOG": "AddLog", "LOG_SOFTMAX": "AddLogSoftmax",
    "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic", "MAX_POOL_2D": "AddMaxPool2D", "MAXIMUM": "AddMaximum", "MEAN": "AddMean",
    "MINIMUM": "AddMinimum", "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize", "REDUCE_MAX": "AddReduceMax", "RELU": "AddRelu", "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "ROUND": "AddRound", "RSQRT": "AddRsqrt",
    "SHAPE": "AddShape", "SIN": "AddSin", "SLICE": "AddSlice", "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth", "SPLIT": "AddSplit",
    "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt", "SQUARE": "AddSquare", "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "SQUEEZE": "AddSqueeze", "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum",
    "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE": "AddTranspose", "TRANSPOSE_CONV": "AddTransposeConv",
    "UNPACK": "AddUnpack", "ZEROS_LIKE": "AddZerosLike",
}
ARENA_ALIGNMENT = 16  # tflite-micro aligns every planned buffer to 16 bytes
# Beyond the activations, the arena holds per-tensor and per-operator runtime structs
# (TfLiteEvalTensor, node data, quantization params). The 1 KiB margin covers them for
# small graphs such as these; RecordingMicroInterpreter gives the exact figure on the device.
ARENA_MARGIN_BYTES = 1024


@dataclass(frozen=True)
class Verdict:
    """One target: will the model run there, and why (not)."""

    target: str
    ready: bool
    reasons: list[str]  # what blocks it (empty when ready)
    notes: list[str] = field(default_factory=list)  # what the user should know either way

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Inspection:
    """A model file read without running it in this process, and a verdict per target."""

    info: ModelInfo
    verdicts: list[Verdict]

    def to_dict(self) -> dict:
        """A JSON-ready dict: sizes, operators, tensors, embedded facts, verdicts."""
        info = self.info
        return {
            "path": str(info.path), "size_bytes": info.size_bytes, "weight_bytes": info.weight_bytes,
            "structure_bytes": info.structure_bytes,
            "associated_bytes": info.associated_bytes, "schema_version": info.schema_version,
            "subgraphs": info.subgraphs, "min_runtime_version": info.min_runtime_version,
            "operators": [op.name for op in info.operators],
            "inputs": list(info.inputs), "outputs": list(info.outputs),
            "tensors": [{**asdict(t), "constant": t.constant} for t in info.tensors],
            "metadata": info.project_metadata(), "metadata_problem": info.metadata_problem,
            "metadata_entries": sorted(info.metadata),
            "associated_files": sorted(info.associated),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def inspect_model(path: str | os.PathLike, backend: str | None = None) -> Inspection:
    """Read a model and judge it for LiteRT CPU, the Coral Edge TPU and TFLite Micro.

    Raises:
        ModelError: the file is missing, not a TFLite model, or damaged.
    """
    info = read_model(path)
    return Inspection(info, [cpu_verdict(info, backend), edgetpu_verdict(info), micro_verdict(info)])


def cpu_verdict(info: ModelInfo, backend: str | None = None) -> Verdict:
    """LiteRT / tflite-runtime on a CPU: the interpreter loads and runs it (in a child process)."""
    from runtime.inference.probe import probe

    target = "LiteRT CPU"
    if info.edgetpu_compiled:
        return Verdict(target, False, ["compiled for the Edge TPU: it needs the Edge TPU and --delegate edgetpu"])
    needs = f"; the file asks for TFLite runtime {info.min_runtime_version} or newer" if info.min_runtime_version \
        else ""
    try:
        result = probe(info.path, backend, content=info.content)
    except MnistEdgeError as exc:
        return Verdict(target, False, [str(exc) + needs])
    return Verdict(target, True, [], [f"{result.backend} loads it and ran one invoke: input {result.input_shape}, "
                                      f"output {result.output_shape}{needs}"])


def edgetpu_verdict(info: ModelInfo) -> Verdict:
    """Coral Edge TPU: ready to compile (or already compiled), with every reason it is not."""
    target = "Coral Edge TPU"
    if info.edgetpu_compiled:
        cpu_ops = [n for n in info.operator_names if n != EDGETPU_CUSTOM_OP]
        notes = ["compiled by edgetpu_compiler: run it with --delegate edgetpu"]
        if cpu_ops:
            notes.append(f"left on the CPU by the compiler: {', '.join(cpu_ops)}")
        return Verdict(target, True, [], notes)
    reasons = []
    floats = [t for t in info.tensors if t.dtype not in (EDGETPU_CONSTANT_TYPES if t.constant else EIGHT_BIT)]
    if floats:
        kinds = sorted({t.dtype for t in floats})
        reasons.append(f"{len(floats)} tensors are not 8-bit ({', '.join(kinds)}); export with --int8 --edgetpu")
    dynamic = [t for t in info.tensors if not t.static]
    if dynamic:
        reasons.append(f"{len(dynamic)} tensors have a dynamic size (e.g. {dynamic[0].name or dynamic[0].index}: "
                       f"{list(dynamic[0].signature)}); the compiler needs batch 1 fixed: export --edgetpu")
    deep = [t for t in info.tensors if sum(d > 1 for d in t.shape[:-3]) > 0]
    if deep:
        reasons.append(f"{len(deep)} tensors have more than 3 dimensions larger than 1 (e.g. {list(deep[0].shape)})")
    unsupported = [n for n in info.operator_names if n not in EDGETPU_OPERATORS]
    if unsupported:
        reasons.append(f"operators the Edge TPU does not run: {', '.join(unsupported)}")
    notes = []
    if _per_channel_dense(info):
        notes.append("FULLY_CONNECTED weights are quantized per channel; export --edgetpu writes them per tensor, "
                     "the form the Edge TPU compiler was built for")
    if not reasons:
        notes.append("compile on an x86-64 Linux host: edgetpu_compiler -s " + info.path.name)
    return Verdict(target, not reasons, reasons, notes)


def micro_verdict(info: ModelInfo) -> Verdict:
    """TFLite Micro: resolver operators, static shapes, kernel types, and the arena estimate in the notes."""
    reasons = []
    missing = [n for n in info.operator_names if n not in MICRO_RESOLVER]
    if missing:
        reasons.append(f"operators tflite-micro does not have: {', '.join(missing)}")
    if any(not t.static for t in info.tensors):
        reasons.append("dynamic tensor sizes (tflite-micro plans memory once): export --c-array fixes batch 1")
    if any(t.dtype == "float16" for t in info.tensors):
        reasons.append("float16 tensors (tflite-micro kernels take int8 or float32)")
    hybrid = [op.name for op in info.operators if _hybrid(info, op)]
    if hybrid:
        reasons.append(f"hybrid (float activations, int8 weights) {', '.join(sorted(set(hybrid)))}: "
                       "no such kernels in tflite-micro; use the full int8 model")
    if _per_channel_dense(info):
        reasons.append("per-channel FULLY_CONNECTED, which tflite-micro rejects at run time; export without "
                       "--per-channel")
    notes = [f"arena estimate {arena_estimate(info):,} bytes", "resolver: " + micro_resolver_code(info)]
    if deskewed_input(info.project_metadata()):
        notes.append("trained on deskewed digits: shear each image upright before invoking it, as "
                     "runtime/imaging/deskew.py does (image moments, one row shift each), or expect lower accuracy")
    return Verdict("TFLite Micro", not reasons, reasons, notes)


def micro_resolver_code(info: ModelInfo) -> str:
    """The C++ lines that register this model's operators with a ``MicroMutableOpResolver``."""
    names = [n for n in info.operator_names if n in MICRO_RESOLVER]
    calls = " ".join(f"resolver.{MICRO_RESOLVER[n]}();" for n in names)
    return f"tflite::MicroMutableOpResolver<{len(names)}> resolver; {calls}"


def arena_estimate(info: ModelInfo) -> int:
    """Bytes of tensor arena tflite-micro needs, estimated like its GreedyMemoryPlanner.

    Every tensor that is neither constant nor absent gets a buffer alive from the
    operator that writes it (or the start, for inputs) to the last one that reads it
    (or the end, for outputs); buffers are placed largest first at the lowest offset
    that does not overlap a live one. ``ARENA_MARGIN_BYTES`` is added for runtime structs.
    """
    last = len(info.operators)
    first_use, last_use = {}, {}
    for i in info.inputs:
        first_use[i] = 0
    for step, op in enumerate(info.operators):
        for i in op.outputs:
            first_use.setdefault(i, step)
        for i in op.inputs:
            if i >= 0:
                last_use[i] = step
    for i in info.outputs:
        last_use[i] = last
    live = [(info.tensor(i), first_use[i], last_use.get(i, first_use[i]))
            for i in first_use if not info.tensor(i).constant]
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    for tensor, start, end in sorted(live, key=lambda x: -x[0].nbytes):
        size = -(-tensor.nbytes // ARENA_ALIGNMENT) * ARENA_ALIGNMENT
        offset = 0
        for o, s, f, la in sorted(placed):
            if f <= end and start <= la and offset + size > o:  # overlaps in time and space: go above it
                offset = max(offset, -(-(o + s) // ARENA_ALIGNMENT) * ARENA_ALIGNMENT)
        placed.append((offset, size, start, end))
    return max((o + s for o, s, _, _ in placed), default=0) + ARENA_MARGIN_BYTES


def _per_channel_dense(info: ModelInfo) -> bool:
    return any(op.name == "FULLY_CONNECTED" and len(op.inputs) > 1 and op.inputs[1] >= 0
               and len(info.tensor(op.inputs[1]).scales) > 1 for op in info.operators)


def _hybrid(info: ModelInfo, op) -> bool:
    if len(op.inputs) < 2 or min(op.inputs[:2]) < 0:
        return False
    x, w = info.tensor(op.inputs[0]), info.tensor(op.inputs[1])
    return x.dtype == "float32" and w.constant and w.dtype in EIGHT_BIT
