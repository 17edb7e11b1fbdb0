"""Property-based tests: any array in, a valid 28x28 uint8 digit or a clear ImageError out."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from runtime.errors import ImageError
from runtime.preprocess import to_mnist

DTYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64, np.bool_])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arr=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=40)))
def test_to_mnist_accepts_or_refuses_cleanly(arr):
    try:
        out = to_mnist(arr)
    except ImageError as exc:
        assert str(exc)
        return
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert not (arr.dtype.kind == "f" and not np.isfinite(arr).all())  # NaN/inf must be refused


@settings(max_examples=100, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_any_size_with_ink_gives_a_centred_digit(h, w, seed):
    rng = np.random.default_rng(seed)
    page = np.full((h, w), 230, np.uint8)
    r0, c0 = rng.integers(0, h), rng.integers(0, w)
    page[r0 : r0 + max(1, h // 3), c0 : c0 + max(1, w // 4)] = 20  # a dark stroke somewhere
    try:
        out = to_mnist(page)
    except ImageError:
        return  # the stroke covered the border and so became the "background"
    assert out.shape == (28, 28) and out.max() > 0
    rows, cols = np.nonzero(out)
    assert rows.min() >= 0 and rows.max() <= 27 and cols.min() >= 0 and cols.max() <= 27
