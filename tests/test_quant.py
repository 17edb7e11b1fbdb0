"""Quantization helpers at the int8 and uint8 limits, and as properties over any input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from runtime.inference.quant import dequantize, pixel_quantization, quantize


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_limits_clip_instead_of_wrapping(dtype):
    info = np.iinfo(dtype)
    zp = 0 if dtype == np.uint8 else -128
    x = np.array([-1e9, -1.0, 0.0, 254.6, 255.0, 256.0, 1e9])
    q = quantize(x, 1.0, zp, dtype)
    assert q.dtype == dtype
    assert q[0] == info.min and q[-1] == info.max  # clipped, not wrapped
    assert q[2] == zp


def test_dequantize_widens_before_subtracting():
    q = np.array([-128, -1, 0, 127], dtype=np.int8)
    # With zero point 127, int8 arithmetic would wrap: -128 - 127 == 1 in int8.
    np.testing.assert_allclose(dequantize(q, 0.5, 127), [-127.5, -64.0, -63.5, 0.0])
    u = np.array([0, 255], dtype=np.uint8)
    np.testing.assert_allclose(dequantize(u, 1 / 256, 255), [-255 / 256, 0.0])


def test_uint8_pixels_pass_through_unit_scale():
    x = np.arange(256, dtype=np.uint8)
    assert quantize(x, 1.0, 0, np.uint8) is x
    np.testing.assert_array_equal(quantize(x, 1.0, -128, np.int8), (np.arange(256) - 128).astype(np.int8))


@pytest.mark.parametrize(("scale", "zero_point", "dtype", "expected"), [
    (1.0, 0, np.uint8, 1.0),  # raw pixels, uint8: mnist-edge before 0.3
    (1.0, -128, np.int8, 1.0),
    (float(np.float32(1 / 255)), 0, np.uint8, 1.0),  # pixels / 255: the raw pixel is the stored value
    (float(np.float32(1 / 255)), -128, np.int8, 1.0),  # ... and pixel - 128 for int8
    (0.98 / 255, 0, np.uint8, 0.98),  # a calibration set whose pixels stopped at 250: rounded, not passed
    (1.02, 0, np.uint8, 1.02),
    (0.0, 0, np.float32, 0.0),
])
def test_pixel_quantization_tells_raw_pixel_inputs_from_normalized_ones(scale, zero_point, dtype, expected):
    assert pixel_quantization(scale, zero_point, dtype) == pytest.approx(expected, rel=1e-9)


def test_raw_pixels_reach_a_normalized_int8_input_as_pixel_minus_128():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    scale = pixel_quantization(float(np.float32(1 / 255)), -128, np.int8)
    q = quantize(x, scale, -128, np.int8)
    np.testing.assert_array_equal(q.astype(np.int64), x.astype(np.int64) - 128)
    np.testing.assert_allclose(dequantize(q, float(np.float32(1 / 255)), -128), x / 255, atol=1e-6)


def test_unquantized_tensors_only_cast():
    x = np.array([1.5, 2.5])
    assert quantize(x, 0.0, 0, np.float32).dtype == np.float32
    np.testing.assert_array_equal(dequantize(np.array([3, 4], np.uint8), 0.0, 0), [3.0, 4.0])


@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=5),
                 elements=st.floats(-1e6, 1e6, allow_nan=False)),
    scale=st.floats(1e-4, 10.0),
    dtype=st.sampled_from([np.int8, np.uint8]),
    data=st.data(),
)
def test_round_trip_error_is_at_most_half_a_step_inside_the_range(x, scale, dtype, data):
    info = np.iinfo(dtype)
    zp = data.draw(st.integers(info.min, info.max))
    q = quantize(x, scale, zp, dtype)
    assert q.dtype == dtype and q.shape == x.shape
    back = dequantize(q, scale, zp)
    lo, hi = scale * (info.min - zp), scale * (info.max - zp)
    inside = (x >= lo) & (x <= hi)
    assert np.all(np.abs(back[inside] - x[inside]) <= scale / 2 + 1e-6 * np.maximum(1, np.abs(x[inside])))
    assert np.all(back[~inside] == np.where(x[~inside] < lo, lo, hi).astype(np.float32))
