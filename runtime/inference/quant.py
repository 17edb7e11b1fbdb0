"""Affine quantization helpers, the one place scale and zero point are applied.

TFLite stores a real value ``x`` as ``q = round(x / scale) + zero_point``. The
parameters always come from the tensor details of the model at hand; nothing here
hard-codes them. Arithmetic is widened to int64 first, because int8 arithmetic
wraps (``np.int8(-128) - 1 == 127``).
"""

from __future__ import annotations

import numpy as np


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype | type) -> np.ndarray:
    """Quantize real values to ``dtype``, clipping to its range.

    Args:
        x: real values, any shape.
        scale: the tensor's scale; 0 means the tensor is not quantized, and ``x``
            is only cast.
        zero_point: the tensor's zero point.
        dtype: the tensor's integer (or float) type.

    Returns:
        An array of ``dtype`` with the shape of ``x``.
    """
    dtype, x = np.dtype(dtype), np.asarray(x)
    if scale == 0 or dtype.kind == "f":
        return x.astype(dtype, copy=False)
    if scale == 1.0 and x.dtype.kind in "ui":
        # Integer pixels with unit scale (the uint8/int8 I/O of our models): exact, no rounding.
        if x.dtype == dtype and zero_point == 0:
            return x
        if x.dtype == np.uint8 and dtype == np.int8 and zero_point == -128:
            return (x ^ np.uint8(0x80)).view(np.int8)  # p - 128, one pass
        q = x.astype(np.int64) + int(zero_point)
    else:
        q = np.rint(x.astype(np.float64) / scale) + int(zero_point)
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Map quantized values back to real ones as float32.

    Args:
        q: the quantized array (any integer type), or a float array.
        scale: the tensor's scale; 0 means not quantized, and ``q`` is only cast.
        zero_point: the tensor's zero point.

    Returns:
        ``scale * (q - zero_point)`` computed in int64/float64, as float32.
    """
    q = np.asarray(q)
    if scale == 0 or q.dtype.kind == "f":
        return q.astype(np.float32)
    return (scale * (q.astype(np.int64) - int(zero_point))).astype(np.float32)


NORMALIZED_RANGE_MAX = 16.0  # an input whose real range ends below this takes pixels / 255


def pixel_quantization(scale: float, zero_point: int, dtype: np.dtype | type) -> float:
    """The scale that quantizes *raw pixels* 0..255 into a model's input tensor.

    An integer input's quantization says which real values the model takes: they reach
    ``scale * (max - zero_point)``. About 255 means raw pixels (the float path, and
    mnist-edge's integer models before 0.3); about 1 means pixels / 255 (mnist-edge's
    integer models since 0.3, whose ÷255 lives in this quantization, and the TensorFlow
    tutorials' models). The two ranges are 255x apart, so any cut between them tells them
    apart; 16 sits near their geometric middle.

    Args:
        scale, zero_point, dtype: the input tensor's quantization (scale 0: not quantized).

    Returns:
        The scale to pass to ``quantize`` with raw pixels: ``scale`` itself for a raw-pixel
        input, ``scale * 255`` for a pixels/255 one, snapped to exactly 1.0 when it is within
        float32 rounding of it, so integer pixels pass unchanged (uint8: the pixel itself).
    """
    dtype = np.dtype(dtype)
    if scale == 0 or dtype.kind == "f":
        return scale
    top = scale * (np.iinfo(dtype).max - int(zero_point))
    per_pixel = scale * 255 if top < NORMALIZED_RANGE_MAX else scale
    return 1.0 if abs(per_pixel - 1.0) < 1e-6 else per_pixel
