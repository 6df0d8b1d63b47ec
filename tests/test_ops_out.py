"""``out=`` on the fastfit.ops functions that return arrays (NumPy's convention).

Each function is one row of a table: a builder that makes its inputs (seeded, so two
builds are equal) and says which parts of the result ``out`` covers, which inputs it
reads and which of them an output may be (the kernels' "y may alias x"). For every row
and both float dtypes: ``out`` gives the same bits and is the object returned, nothing
of an output's size is allocated, bad ``out`` raises before anything is written, and
overlap with an input or another output raises unless the kernel allows that alias.
"""

import inspect
import re
import tracemalloc
from typing import Callable, NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp

from fastfit import ops

DTYPES = [np.float32, np.float64]
SENTINEL = 7  # what every caller buffer holds before a call: a rejected call leaves it


class Case(NamedTuple):
    call: Callable        # call(**kw) runs the function on the built inputs
    arrays: Callable      # result -> the outputs out= covers (None where not computed)
    multi: bool           # out is a tuple
    inputs: dict          # name (as in the messages) -> array the kernel reads
    alias: dict = {}      # output index -> names of the inputs it may be exactly


def _one(result):
    return (result,)


def _grad(result):
    return (result[1],)


def _all(result):
    return tuple(result)


def _tail(result):
    return tuple(result[1:])


def _rng():
    return np.random.default_rng(0)


# Sizes: every output holds at least 16 KB, so the allocation check below can tell an
# array of an output's size from the few hundred bytes of Python objects a call makes.
N, C = 4, 4096


def _matmul(dtype):
    r = _rng()
    a, b = r.standard_normal((16, 8)).astype(dtype), r.standard_normal((8, 1024)).astype(dtype)
    return Case(lambda **kw: ops.matmul(a, b, **kw), _one, False, {"a": a, "b": b})


def _linear_forward(dtype):
    r = _rng()
    x, w = r.standard_normal((16, 8)).astype(dtype), r.standard_normal((8, 1024)).astype(dtype)
    b = r.standard_normal(1024).astype(dtype)
    return Case(lambda **kw: ops.linear_forward(x, w, b, **kw), _one, False,
                {"x": x, "w": w, "b": b})


def _linear_decision(dtype):
    r = _rng()
    x, w = r.standard_normal((C, 8)).astype(dtype), r.standard_normal((4, 8)).astype(dtype)
    b = r.standard_normal(4).astype(dtype)
    return Case(lambda **kw: ops.linear_decision(x, w, b, **kw), _one, False,
                {"x": x, "w": w, "b": b})


def _linear_backward(dtype, need_dx=True):
    r = _rng()
    dy = r.standard_normal((512, C)).astype(dtype)
    x, w = r.standard_normal((512, 8)).astype(dtype), r.standard_normal((8, C)).astype(dtype)
    return Case(lambda **kw: ops.linear_backward(dy, x, w, need_dx, **kw), _all, True,
                {"dy": dy, "x": x, "w": w})


def _sum_rows(dtype):
    dy = _rng().standard_normal((N, C)).astype(dtype)
    return Case(lambda **kw: ops.sum_rows(dy, **kw), _one, False, {"dy": dy})


def _activation_forward(dtype):
    x = _rng().standard_normal((N, C)).astype(dtype)
    return Case(lambda **kw: ops.activation_forward(x, "tanh", **kw), _one, False, {"x": x},
                {0: ("x",)})


def _activation_backward(dtype):
    r = _rng()
    dy, x = r.standard_normal((N, C)).astype(dtype), r.standard_normal((N, C)).astype(dtype)
    y = np.tanh(x)
    return Case(lambda **kw: ops.activation_backward(dy, "tanh", x=x, y=y, **kw), _one, False,
                {"dy": dy, "x": x, "y": y}, {0: ("dy",)})


def _softmax(dtype):
    x = _rng().standard_normal((N, C)).astype(dtype)
    return Case(lambda **kw: ops.softmax(x, **kw), _one, False, {"x": x}, {0: ("x",)})


def _bn_params(dtype):
    r = _rng()
    x = r.standard_normal((N, C)).astype(dtype)
    return x, (r.random(C) + 0.5).astype(dtype), r.standard_normal(C).astype(dtype)


def _batchnorm_forward(dtype):
    x, gamma, beta = _bn_params(dtype)
    rm, rv = np.zeros(C, dtype), np.ones(C, dtype)
    return Case(lambda **kw: ops.batchnorm_forward(x, gamma, beta, 1e-5, rm, rv, **kw), _all,
                True, {"x": x, "gamma": gamma, "beta": beta, "running_mean": rm,
                       "running_var": rv})


def _batchnorm_inference(dtype):
    x, gamma, beta = _bn_params(dtype)
    rm, rv = np.full(C, 0.1, dtype), np.full(C, 2.0, dtype)
    return Case(lambda **kw: ops.batchnorm_inference(x, gamma, beta, rm, rv, **kw), _one, False,
                {"x": x, "gamma": gamma, "beta": beta, "running_mean": rm, "running_var": rv})


def _batchnorm_backward(dtype):
    x, gamma, _ = _bn_params(dtype)
    dy = _rng().standard_normal((N, C)).astype(dtype)[::-1].copy()
    _, mean, rstd = ops.batchnorm_forward(x, gamma, gamma)
    return Case(lambda **kw: ops.batchnorm_backward(dy, x, gamma, mean, rstd, **kw), _all, True,
                {"dy": dy, "x": x, "gamma": gamma, "mean": mean, "rstd": rstd})


def _dropout_forward(dtype):
    x = _rng().standard_normal((N, C)).astype(dtype)
    return Case(lambda **kw: ops.dropout_forward(x, 0.3, 11, 5, **kw), _all, True, {"x": x},
                {0: ("x",)})


def _dropout_backward(dtype):
    r = _rng()
    dy = r.standard_normal((N, C)).astype(dtype)
    mask = (r.random((N, C)) > 0.3).astype(np.uint8)
    return Case(lambda **kw: ops.dropout_backward(dy, mask, 0.3, **kw), _one, False,
                {"dy": dy, "mask": mask}, {0: ("dy",)})


def _residual_forward(dtype):
    r = _rng()
    x, fx = r.standard_normal((N, C)).astype(dtype), r.standard_normal((N, C)).astype(dtype)
    return Case(lambda **kw: ops.residual_forward(x, fx, **kw), _one, False, {"x": x, "fx": fx},
                {0: ("x", "fx")})


def _elementwise_loss(fn, pname, target_of):
    def build(dtype):
        r = _rng()
        pred = r.standard_normal((N, C)).astype(dtype)
        target = target_of(r).astype(dtype)
        w = (r.random(N) + 0.5).astype(dtype)
        return Case(lambda **kw: fn(pred, target, sample_weight=w, **kw), _grad, False,
                    {pname: pred, "target": target, "sample_weight": w})
    return build


def _softmax_cross_entropy(dtype):
    r = _rng()
    logits = r.standard_normal((N, C)).astype(dtype)
    y, w = r.integers(0, C, N), (r.random(N) + 0.5).astype(dtype)
    return Case(lambda **kw: ops.softmax_cross_entropy(logits, y, w, **kw), _grad, False,
                {"logits": logits, "y": y, "sample_weight": w})


def _gather_rows(dtype):
    r = _rng()
    x, idx = r.standard_normal((16, C)).astype(dtype), r.integers(0, 16, 8)
    return Case(lambda **kw: ops.gather_rows(x, idx, **kw), _one, False, {"x": x, "idx": idx})


def _gather_labels(dtype):
    r = _rng()
    x, idx = r.integers(0, 10, 2 * C), r.integers(0, 2 * C, C)
    return Case(lambda **kw: ops.gather_rows(x, idx, **kw), _one, False, {"x": x, "idx": idx})


def _shuffle(dtype):
    return Case(lambda **kw: ops.shuffle(C, 3, 1, **kw), _one, False, {})


def _init_weights(dtype):
    return Case(lambda **kw: ops.init_weights((64, 256), "glorot_uniform", 5, dtype=dtype, **kw),
                _one, False, {})


def _philox_u32(dtype):
    return Case(lambda **kw: ops.philox_u32(C, 9, 4, **kw), _one, False, {})


def _logistic(fn, sparse):
    def build(dtype):
        r = _rng()
        k = 2048  # dintercept's 16 KB
        x = r.standard_normal((16, 8)).astype(dtype)
        inputs = {"x": x}
        if sparse:
            x[np.abs(x) < 0.7] = 0
            x = ops.as_csr(sp.csr_matrix(x))
            inputs = {"x.data": x.data, "x.indptr": x.indptr, "x.indices": x.indices}
        labels, coef = r.integers(0, k, 16), r.standard_normal((k, 8)).astype(dtype)
        intercept, w = r.standard_normal(k).astype(dtype), (r.random(16) + 0.5).astype(dtype)
        return Case(lambda **kw: fn(x, labels, coef, intercept, w, 0.1, **kw), _tail, True,
                    {**inputs, "labels": labels, "coef": coef, "intercept": intercept,
                     "sample_weight": w})
    return build


def _csr(n, i, dtype):
    x = sp.random(n, i, density=0.2, format="csr", dtype=np.float64, random_state=1)
    return ops.as_csr(x.astype(dtype))


def _x_inputs(x):
    return {"x.data": x.data, "x.indptr": x.indptr, "x.indices": x.indices}


def _csr_matmul(dtype):
    r, x = _rng(), _csr(16, 64, dtype)
    w, b = r.standard_normal((64, 1024)).astype(dtype), r.standard_normal(1024).astype(dtype)
    return Case(lambda **kw: ops.csr_matmul(x, w, b, **kw), _one, False,
                {**_x_inputs(x), "w": w, "b": b})


def _csr_rows_matmul(dtype):
    r, x = _rng(), _csr(32, 64, dtype)
    rows, w = r.integers(0, 32, 16), r.standard_normal((64, 1024)).astype(dtype)
    return Case(lambda **kw: ops.csr_rows_matmul(x, rows, w, **kw), _one, False,
                {**_x_inputs(x), "rows": rows, "w": w})


def _csr_matvec(dtype):
    x = _csr(C, 64, dtype)
    v = _rng().standard_normal(64).astype(dtype)
    return Case(lambda **kw: ops.csr_matvec(x, v, **kw), _one, False, {**_x_inputs(x), "v": v})


def _csr_tmatvec(dtype):
    x = _csr(64, C, dtype)
    u = _rng().standard_normal(64).astype(dtype)
    return Case(lambda **kw: ops.csr_tmatvec(x, u, **kw), _one, False, {**_x_inputs(x), "u": u})


CASES = {
    "matmul": _matmul,
    "linear_forward": _linear_forward,
    "linear_decision": _linear_decision,
    "linear_backward": _linear_backward,
    "linear_backward_no_dx": lambda dtype: _linear_backward(dtype, need_dx=False),
    "sum_rows": _sum_rows,
    "activation_forward": _activation_forward,
    "activation_backward": _activation_backward,
    "softmax": _softmax,
    "batchnorm_forward": _batchnorm_forward,
    "batchnorm_inference": _batchnorm_inference,
    "batchnorm_backward": _batchnorm_backward,
    "dropout_forward": _dropout_forward,
    "dropout_backward": _dropout_backward,
    "residual_forward": _residual_forward,
    "mse_loss": _elementwise_loss(ops.mse_loss, "pred", lambda r: r.standard_normal((N, C))),
    "huber_loss": _elementwise_loss(ops.huber_loss, "pred", lambda r: r.standard_normal((N, C))),
    "bce_with_logits": _elementwise_loss(ops.bce_with_logits, "logits", lambda r: r.random((N, C))),
    "poisson_loss": _elementwise_loss(ops.poisson_loss, "logmean", lambda r: r.poisson(2.0, (N, C))),
    "softmax_cross_entropy": _softmax_cross_entropy,
    "gather_rows": _gather_rows,
    "gather_rows_labels": _gather_labels,
    "shuffle": _shuffle,
    "init_weights": _init_weights,
    "philox_u32": _philox_u32,
    "logistic_loss_grad": _logistic(ops.logistic_loss_grad, sparse=False),
    "csr_logistic_loss_grad": _logistic(ops.csr_logistic_loss_grad, sparse=True),
    "csr_matmul": _csr_matmul,
    "csr_rows_matmul": _csr_rows_matmul,
    "csr_matvec": _csr_matvec,
    "csr_tmatvec": _csr_tmatvec,
}

table = pytest.mark.parametrize("name", sorted(CASES))
dtypes = pytest.mark.parametrize("dtype", DTYPES)


def _buffers(want):
    """One caller buffer per computed output, holding SENTINEL (None where not computed)."""
    return tuple(None if w is None else np.full_like(w, SENTINEL) for w in want)


def _pack(case, bufs):
    return bufs if case.multi else bufs[0]


def _untouched(bufs):
    return all(b is None or np.all(b == SENTINEL) for b in bufs)


def _scalars(result):
    """The parts of a result that are not arrays (a loss)."""
    return [r for r in result if not isinstance(r, np.ndarray) and r is not None] \
        if isinstance(result, tuple) else []


def test_the_table_covers_every_ops_function_with_out():
    # a new function with out= gets a row here (the accumulating csr_*tmatmul have their
    # own test below)
    with_out = {n for n in ops.__all__ if inspect.isfunction(getattr(ops, n))
                and "out" in inspect.signature(getattr(ops, n)).parameters}
    assert with_out - {"csr_tmatmul", "csr_rows_tmatmul"} == {
        n for n in CASES if not n.endswith(("_no_dx", "_labels"))}


@table
@dtypes
def test_out_gives_the_same_bits_and_is_returned(name, dtype):
    case = CASES[name](dtype)
    ref = case.call()
    want = case.arrays(ref)
    bufs = _buffers(want)
    result = case.call(out=_pack(case, bufs))
    got = case.arrays(result)
    assert len(got) == len(want)
    for g, b, w in zip(got, bufs, want):
        if w is None:
            assert g is None
        else:
            assert g is b
            assert g.dtype == w.dtype and g.shape == w.shape and g.tobytes() == w.tobytes()
    assert _scalars(result) == _scalars(ref)


@table
@dtypes
def test_out_allocates_nothing_of_an_outputs_size(name, dtype):
    case = CASES[name](dtype)
    bufs = _buffers(case.arrays(case.call()))
    case.call(out=_pack(case, bufs))    # caches (kernel lookups, a CSR's CSC copy) warm
    tracemalloc.start()
    try:
        case.call(out=_pack(case, bufs))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < min(b.nbytes for b in bufs if b is not None)


@table
@dtypes
def test_none_entries_get_fresh_arrays(name, dtype):
    case = CASES[name](dtype)
    want = case.arrays(case.call())
    if not case.multi:
        # NumPy also takes a 1-tuple for one output
        buf = np.full_like(want[0], SENTINEL)
        assert case.arrays(case.call(out=(buf,)))[0] is buf
        assert buf.tobytes() == want[0].tobytes()
        return
    for j in (j for j, w in enumerate(want) if w is not None):
        bufs = tuple(np.full_like(w, SENTINEL) if i == j else None for i, w in enumerate(want))
        got = case.arrays(case.call(out=bufs))
        assert got[j] is bufs[j]
        for i, (g, w) in enumerate(zip(got, want)):
            assert (g is None) == (w is None)
            if w is not None:
                assert g.tobytes() == w.tobytes()
                assert i == j or not np.shares_memory(g, bufs[j])


_OTHER_DTYPE = {np.dtype(np.float32): np.float64, np.dtype(np.float64): np.float32,
                np.dtype(np.uint8): np.int8, np.dtype(np.int64): np.int32,
                np.dtype(np.uint32): np.int32}


def _bad(kind, w):
    """A wrong ``out`` for the output ``w`` (SENTINEL-filled), the error it gives and the
    buffer to check afterwards."""
    if kind == "shape":
        b = np.full(w.shape[:-1] + (w.shape[-1] + 1,), SENTINEL, w.dtype)
        return b, ValueError, b
    if kind == "dtype":
        b = np.full(w.shape, SENTINEL, _OTHER_DTYPE[w.dtype])
        return b, TypeError, b
    if kind == "strided":
        base = np.full(w.shape[:-1] + (2 * w.shape[-1],), SENTINEL, w.dtype)
        return base[..., ::2], ValueError, base
    if kind == "readonly":
        b = np.full_like(w, SENTINEL)
        b.flags.writeable = False
        return b, ValueError, b
    b = np.full_like(w, SENTINEL)   # "list": not a NumPy array
    return b.tolist(), TypeError, b


@table
@dtypes
@pytest.mark.parametrize("kind", ["shape", "dtype", "strided", "readonly", "list"])
def test_a_bad_out_raises_before_anything_is_written(name, dtype, kind):
    case = CASES[name](dtype)
    want = case.arrays(case.call())
    for j in (j for j, w in enumerate(want) if w is not None):
        bad, error, check = _bad(kind, want[j])
        good = _buffers(want)
        bufs = tuple(bad if i == j else g for i, g in enumerate(good))
        label = re.escape(f"out[{j}]" if case.multi else "out")
        with pytest.raises(error, match=label):
            case.call(out=_pack(case, bufs))
        assert _untouched(good) and np.all(check == SENTINEL)


@table
def test_out_of_the_wrong_arity_is_a_type_error(name):
    # several outputs take a tuple of as many; one output an array or a 1-tuple
    case = CASES[name](np.float64)
    bufs = _buffers(case.arrays(case.call()))
    given = next(b for b in bufs if b is not None)
    for wrong in ([bufs[:-1], given, list(bufs)] if case.multi else [(given, None)]):
        with pytest.raises(TypeError, match="out must be None or a tuple"):
            case.call(out=wrong)
        assert _untouched(bufs)


def _overlaps(case, want):
    """(output index, input name, shifted) for every input an output can overlap: the
    input itself where the shapes match (shifted False), a view of it one element in
    where the input is larger (shifted True)."""
    for j, w in enumerate(want):
        for name, a in case.inputs.items():
            if w is not None and a.dtype == w.dtype and a.size:
                if a.shape == w.shape:
                    yield j, name, False
                elif a.size > w.size:
                    yield j, name, True


@table
@dtypes
def test_out_may_be_an_input_only_where_the_kernel_allows_it(name, dtype):
    want = CASES[name](dtype).arrays(CASES[name](dtype).call())
    for j, iname, shifted in _overlaps(CASES[name](dtype), want):
        case = CASES[name](dtype)           # fresh inputs: an allowed alias writes them
        a = case.inputs[iname]
        view = a.reshape(-1)[1:1 + want[j].size].reshape(want[j].shape) if shifted else a
        others = _buffers(want)
        bufs = tuple(view if i == j else b for i, b in enumerate(others))
        if not shifted and iname in case.alias.get(j, ()):
            got = case.arrays(case.call(out=_pack(case, bufs)))
            assert got[j] is a and a.tobytes() == want[j].tobytes()
            continue
        before = a.copy()
        with pytest.raises(ValueError, match=rf"out.* and {re.escape(iname)} must not share memory"):
            case.call(out=_pack(case, bufs))
        assert np.array_equal(a, before)
        assert _untouched([b for i, b in enumerate(others) if i != j])


@table
@dtypes
def test_outputs_must_not_overlap_each_other(name, dtype):
    case = CASES[name](dtype)
    want = case.arrays(case.call())
    pairs = [(i, j) for i, wi in enumerate(want) for j, wj in enumerate(want)
             if i < j and wi is not None and wj is not None and wi.dtype == wj.dtype
             and wi.size >= wj.size]
    for i, j in pairs:
        bufs = list(_buffers(want))
        bufs[j] = bufs[i].reshape(-1)[:want[j].size].reshape(want[j].shape)
        with pytest.raises(ValueError, match=rf"out\[{j}\].* and out\[{i}\].* must not share memory"):
            case.call(out=tuple(bufs))
        assert _untouched(bufs)


def test_a_mask_overlapping_dropouts_output_is_rejected():
    x = _rng().standard_normal((N, C)).astype(np.float32)
    y = np.full_like(x, SENTINEL)
    mask = y.view(np.uint8).reshape(-1)[:x.size].reshape(x.shape)   # other dtype, same bytes
    with pytest.raises(ValueError, match=r"out\[1\] \(mask\) and out\[0\] \(y\) must not share"):
        ops.dropout_forward(x, 0.5, 1, out=(y, mask))
    assert np.all(y == SENTINEL)


@dtypes
def test_a_partial_overlap_is_rejected_even_where_an_alias_is_allowed(dtype):
    # the kernels allow out to be the input exactly, never shifted into it
    buf = (np.arange(N * C + 1) / (N * C)).astype(dtype)
    x, out = buf[:-1].reshape(N, C), buf[1:].reshape(N, C)
    other = np.full_like(x, 0.5)
    mask = np.ones(x.shape, np.uint8)
    calls = [(lambda o: ops.activation_forward(x, "relu", out=o), "x"),
             (lambda o: ops.activation_backward(x, "relu", y=other, out=o), "dy"),
             (lambda o: ops.softmax(x, out=o), "x"),
             (lambda o: ops.dropout_forward(x, 0.5, 1, out=(o, None)), "x"),
             (lambda o: ops.dropout_backward(x, mask, 0.5, out=o), "dy"),
             (lambda o: ops.residual_forward(other, x, out=o), "fx")]
    for call, name in calls:
        before = buf.copy()
        with pytest.raises(ValueError, match=rf"and {name} must not share memory"):
            call(out)
        assert buf.tobytes() == before.tobytes()


@dtypes
def test_an_out_larger_than_an_input_it_covers_is_rejected(dtype):
    # sizes differ: the np.shares_memory path
    buf = np.ones(16 * 1024, dtype)
    w = buf[:8 * 1024].reshape(8, 1024)
    out = buf.reshape(16, 1024)
    x = np.ones((16, 8), dtype)
    xs = ops.as_csr(sp.csr_matrix(x))
    calls = [(lambda: ops.matmul(x, w, out=out), "b"),
             (lambda: ops.linear_forward(x, w, out=out), "w"),
             (lambda: ops.csr_matmul(xs, w, out=out), "w"),
             (lambda: ops.csr_rows_matmul(xs, None, w, out=out), "w")]
    for call, name in calls:
        with pytest.raises(ValueError, match=rf"out and {name} must not share memory"):
            call()
        assert np.all(buf == 1)


def test_an_out_for_an_output_not_computed_is_rejected():
    r = _rng()
    dy, x, w = r.standard_normal((4, 3)), r.standard_normal((4, 2)), r.standard_normal((2, 3))
    dw = np.full((2, 3), SENTINEL, float)
    with pytest.raises(ValueError, match=r"out\[0\] \(dx\) must be None"):
        ops.linear_backward(dy, x, w, need_dx=False, out=(np.empty((4, 2)), dw, None))
    assert np.all(dw == SENTINEL)
    labels, coef = np.array([0, 1, 1, 0]), np.zeros((1, 2))
    with pytest.raises(ValueError, match=r"out\[1\] \(dintercept\) must be None"):
        ops.logistic_loss_grad(x, labels, coef, out=(np.empty((1, 2)), np.empty(1)))
    with pytest.raises(ValueError, match=r"out\[0\] \(dcoef\) must be None"):
        ops.logistic_loss_grad(x, labels, coef, need_grad=False, out=(np.empty((1, 2)), None))


def test_gather_rows_checks_indices_before_writing_into_out():
    # the kernel skips a bad row but copies the others: a caller's out must stay as it was
    x, out = np.arange(12.0).reshape(4, 3), np.full((3, 3), float(SENTINEL))
    with pytest.raises(ValueError, match="outside"):
        ops.gather_rows(x, np.array([0, 9, 1]), out=out)
    assert np.all(out == SENTINEL)


@dtypes
@pytest.mark.parametrize("rows", [False, True])
def test_the_weight_gradient_products_accumulate_into_out(dtype, rows):
    # csr_tmatmul / csr_rows_tmatmul keep their documented out += X^T g (callers gather
    # several batches into one dw)
    x = _csr(32, 16, dtype)
    g = _rng().standard_normal((32, 8)).astype(dtype)
    if rows:
        fn = lambda **kw: ops.csr_rows_tmatmul(x, None, g, **kw)   # noqa: E731
    else:
        fn = lambda **kw: ops.csr_tmatmul(x, g, **kw)              # noqa: E731
    fresh = fn()
    out = np.full((16, 8), 2.0, dtype)
    assert fn(out=out) is out
    np.testing.assert_allclose(out, fresh + 2, rtol=1e-5 if dtype == np.float32 else 1e-12)
