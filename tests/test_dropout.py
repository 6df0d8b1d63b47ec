"""Dropout: the Philox mask against a pure-Python reference, thread-count and dtype
independence, keep rate, scaling and the backward pass."""

import numpy as np
import pytest

import fastfit
from fastfit import ops
from fastfit._lib import ffi, lib
from reference import dropout_forward_ref, dropout_mask_ref

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 7, 13, 17, 33, 65, 257])
@pytest.mark.parametrize("offset", [0, 1, 3, 6, 2**40 + 5])
def test_mask_and_output_vs_reference(n, offset, dtype):
    x = np.random.default_rng(0).standard_normal(n).astype(dtype)
    y, mask = ops.dropout_forward(x, 0.3, seed=12345, offset=offset)
    ref_mask = dropout_mask_ref(n, 0.3, 12345, offset)
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_allclose(y, dropout_forward_ref(x, ref_mask, np.float32(0.3) if dtype == np.float32 else 0.3),
                               rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_mask_matches_word_threshold_exactly():
    """keep iff the 32-bit word >= ceil(p * 2**32): check against the raw Philox words."""
    n, p = 5000, 0.37
    words = np.array([__import__("reference").philox4x32_ref(9, i >> 2)[i & 3] for i in range(n)],
                     dtype=np.uint64)
    _, mask = ops.dropout_forward(np.ones(n, np.float32), p, seed=9)
    np.testing.assert_array_equal(mask, words >= int(np.ceil(float(np.float32(p)) * 2**32)))


def test_same_mask_any_threads_and_dtype():
    n = 300001  # crosses the parallel threshold, odd tail
    x = np.random.default_rng(1).standard_normal(n)
    masks = []
    for t in (1, 2):
        with fastfit.num_threads(t):
            for dtype in DTYPES:
                y, m = ops.dropout_forward(x.astype(dtype), 0.1, seed=7, offset=11)
                masks.append(m)
                if t == 2:
                    with fastfit.num_threads(1):
                        np.testing.assert_array_equal(y, ops.dropout_forward(x.astype(dtype), 0.1, 7, 11)[0])
    for m in masks[1:]:
        np.testing.assert_array_equal(masks[0], m)


def test_offset_is_a_position_in_one_stream():
    full = ops.dropout_forward(np.ones(1000), 0.5, seed=3)[1]
    part = ops.dropout_forward(np.ones(600), 0.5, seed=3, offset=400)[1]
    np.testing.assert_array_equal(full[400:], part[:600])
    other = ops.dropout_forward(np.ones(1000), 0.5, seed=3, offset=1000)[1]
    assert (other != full).mean() > 0.4  # a different range: a different mask
    assert (ops.dropout_forward(np.ones(1000), 0.5, seed=4)[1] != full).mean() > 0.4


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate(p):
    n = 200000
    _, mask = ops.dropout_forward(np.ones(n, np.float32), p, seed=42)
    sd = np.sqrt(p * (1 - p) / n)
    assert abs(mask.mean() - (1 - p)) < 5 * sd


def test_p_zero_keeps_all_and_scaling():
    x = np.random.default_rng(2).standard_normal(1000).astype(np.float32)
    y, mask = ops.dropout_forward(x, 0.0, seed=1)
    assert mask.all()
    np.testing.assert_array_equal(y, x)
    y, mask = ops.dropout_forward(x, 0.25, seed=1)
    np.testing.assert_array_equal(y[mask == 0], 0)
    np.testing.assert_allclose(y[mask == 1], x[mask == 1] / np.float32(0.75), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 15, 33, 70000])
def test_backward(n, dtype):
    dy = np.random.default_rng(3).standard_normal(n).astype(dtype)
    _, mask = ops.dropout_forward(dy, 0.2, seed=5)
    dx = ops.dropout_backward(dy, mask, 0.2)
    p = np.float32(0.2) if dtype == np.float32 else 0.2
    np.testing.assert_allclose(dx, dropout_forward_ref(dy, mask, p), rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_finite_difference_f64():
    """With the mask fixed, d/dx sum(dropout(x) * w) = mask * w / (1-p)."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(40), rng.standard_normal(40)
    _, mask = ops.dropout_forward(x, 0.4, seed=8)
    dx = ops.dropout_backward(w, mask, 0.4)
    h = 1e-6
    num = np.array([((ops.dropout_forward(x + h * e, 0.4, 8)[0] - ops.dropout_forward(x - h * e, 0.4, 8)[0]) * w).sum()
                    / (2 * h) for e in np.eye(40)])
    np.testing.assert_allclose(dx, num, rtol=1e-7, atol=1e-9)


def test_aliasing_in_place():
    x = np.random.default_rng(5).standard_normal(5000).astype(np.float32)
    expect, mask_expect = ops.dropout_forward(x, 0.3, seed=2)
    buf = x.copy()
    mask = np.empty(5000, np.uint8)
    pb = ffi.from_buffer("float[]", buf)
    assert lib.ff_dropout_forward_f32(pb, ffi.from_buffer("uint8_t[]", mask), pb, 5000, 0.3, 2, 0) == 0
    np.testing.assert_array_equal(buf, expect)
    np.testing.assert_array_equal(mask, mask_expect)
    assert lib.ff_dropout_backward_f32(pb, pb, ffi.from_buffer("uint8_t[]", mask), 5000, 0.3) == 0
    np.testing.assert_array_equal(buf, ops.dropout_backward(expect, mask, 0.3))


def test_rejects_bad_input():
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError):
        ops.dropout_forward(np.ones(4, np.int8), 0.5, 1)
    for p in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError):
            ops.dropout_forward(x, p, 1)
    with pytest.raises(ValueError):
        ops.dropout_forward(x, 0.5, -1)
    with pytest.raises(TypeError):
        ops.dropout_backward(x, np.ones(4, np.int64), 0.5)
    with pytest.raises(ValueError):
        ops.dropout_backward(x, np.ones(3, np.uint8), 0.5)
    buf = ffi.from_buffer("float[]", x)
    m = ffi.from_buffer("uint8_t[]", np.ones(4, np.uint8))
    assert lib.ff_dropout_forward_f32(buf, m, buf, 4, 1.0, 0, 0) == lib.FF_EBADARG
    assert lib.ff_dropout_forward_f32(buf, ffi.NULL, buf, 4, 0.5, 0, 0) == lib.FF_EBADARG
    assert lib.ff_dropout_forward_f32(buf, m, buf, -4, 0.5, 0, 0) == lib.FF_EBADARG
    assert lib.ff_dropout_backward_f32(buf, buf, m, 4, -0.5) == lib.FF_EBADARG
