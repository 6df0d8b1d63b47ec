"""Kernels over scipy.sparse input: CSR @ dense, CSR^T @ dense, the sparse logistic
loss-and-gradient pass and scikit-learn's per-sample SGD over CSR rows.

A matrix is converted and checked once by :func:`as_csr`, which returns a :class:`CSR`
(float32/float64 data, int64 ``indptr``/``indices``, canonical rows: sorted and
duplicate-free) that every kernel wrapper here accepts as it is, with no further copy or
check. They also accept any scipy.sparse matrix or array (CSR, CSC, COO, ...; ``*_matrix``
and ``*_array``), which they pass through :func:`as_csr` first -- so a caller that runs a
kernel many times (a fit) should convert once itself. X is never densified.

Index arrays are int64 in the kernels (one instantiation per dtype; no 2^31 limit on the
number of non-zeros): int32 indices are widened once, in the conversion. The one-vector
products of iterative solvers (``csr_matvec``, ``csr_tmatvec``), bound by the bytes they
stream, read an int32 copy of the column indices made once (:meth:`CSR.narrow_indices`). The kernels that
sum over rows (``X^T @ g``) read the CSC form of X, made once per matrix and cached on
the :class:`CSR` (:meth:`CSR.transpose`), so that every output is summed by one thread in
a fixed order: the results have the same bits for any thread count.

``out=`` follows NumPy (the result is written into it) everywhere except in the two
weight-gradient products, :func:`csr_tmatmul` and :func:`csr_rows_tmatmul`, whose
``out`` is accumulated into (``out += X^T g``), as the dense backward's ``dw``.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import (FLOAT_DTYPES, check_status, ffi, float_array, index_array,
                          inplace_dtype, kernel, lib, out_array, ptr)
from fastfit.ops._args import logistic_args
from fastfit.ops._logistic import logistic_outputs
from fastfit.ops._out import Out, outputs

__all__ = ["CSR", "as_csr", "csr_matmul", "csr_tmatmul", "csr_matvec", "csr_tmatvec",
           "csr_rows_matmul", "csr_rows_tmatmul",
           "csr_logistic_loss_grad", "csr_sgd_epoch", "csr_sgd_runner", "SPARSE_INTERCEPT_DECAY"]

#: scikit-learn's intercept decay for sparse input (sklearn/linear_model/_stochastic_gradient.py):
#: a sparse SGD step moves the intercept by 0.01 of the coefficients' update.
SPARSE_INTERCEPT_DECAY = 0.01


class CSR:
    """A checked CSR matrix in the kernels' layout (build it with :func:`as_csr`).

    Attributes
    ----------
    data : ndarray of shape (nnz,), float32 or float64
    indptr : ndarray of shape (n_rows + 1,), int64
    indices : ndarray of shape (nnz,), int64, strictly increasing within each row
        Made from int32 indices on first use, and cached: the kernels with an int32
        instantiation read :meth:`narrow_indices` instead, so a matrix that arrived with
        scipy's int32 indices is never widened for them.
    shape : tuple (n_rows, n_cols)
    """

    __slots__ = ("data", "indptr", "shape", "_i64", "_t", "_i32")

    def __init__(self, data, indptr, indices, shape):
        self.data, self.indptr = data, indptr
        self.shape = (int(shape[0]), int(shape[1]))
        self._t = None
        narrow = indices.dtype == np.int32
        self._i32 = indices if narrow else None
        self._i64 = None if narrow else indices

    @property
    def indices(self):
        if self._i64 is None:
            self._i64 = self._i32.astype(np.int64)
        return self._i64

    def index_arrays(self):
        """The index arrays held now (no widening or narrowing): for aliasing checks."""
        return tuple(a for a in (self._i64, self._i32) if a is not None)

    def narrow_indices(self):
        """The column indices as int32 when every column number fits (else None), made
        once and cached (or the int32 indices the matrix arrived with): the kernels with
        an int32 instantiation stream them, 8 bytes a float32 non-zero instead of 12."""
        if self._i32 is None and self.shape[1] <= np.iinfo(np.int32).max:
            self._i32 = self._i64.astype(np.int32)
        return self._i32

    @property
    def nnz(self) -> int:
        return int(self.data.shape[0])

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def transpose(self) -> "CSR":
        """X^T as a :class:`CSR` (= X's CSC form: rows ascending within each column),
        made once and cached."""
        if self._t is None:
            import scipy.sparse as sp
            m = sp.csr_matrix((self.data, self._held_indices(), self.indptr),
                              shape=self.shape).tocsc()
            t = CSR(np.ascontiguousarray(m.data, dtype=self.dtype),
                    np.ascontiguousarray(m.indptr, dtype=np.int64),
                    _index_array(m.indices), (self.shape[1], self.shape[0]))
            t._t = self
            self._t = t
        return self._t

    def _held_indices(self):
        """The indices held, int32 preferred (what scipy takes as they are)."""
        return self._i32 if self._i32 is not None else self._i64

    def to_scipy(self):
        """The same matrix as a ``scipy.sparse.csr_matrix`` sharing these arrays."""
        import scipy.sparse as sp
        return sp.csr_matrix((self.data, self._held_indices(), self.indptr), shape=self.shape)

    def __repr__(self) -> str:
        return f"CSR(shape={self.shape}, nnz={self.nnz}, dtype={self.dtype})"


def _index_array(indices):
    """scipy's column indices as the kernels take them: int32 kept as they are (no copy
    when contiguous), any other integer type as int64."""
    dtype = np.int32 if indices.dtype == np.int32 else np.int64
    return np.ascontiguousarray(indices, dtype=dtype)


def _structure(indptr, indices, n, i):
    """Check the structure in C (one pass): ValueError if broken; whether it is canonical."""
    canonical = ffi.new("int32_t *")
    check = lib.ff_csr_check_i32 if indices.dtype == np.int32 else lib.ff_csr_check_i64
    status = check(canonical, ptr(indptr), ptr(indices), n, i, indices.shape[0])
    if status == lib.FF_EBADARG:
        raise ValueError("invalid sparse matrix: indptr must start at 0, never decrease and end "
                         f"at nnz ({indices.shape[0]}), and every column index must be in "
                         f"[0, {i})")
    check_status(status, "csr_check")
    return bool(canonical[0])


def _check_before_conversion(x) -> None:
    """scipy's CSC/COO -> CSR conversion indexes with the stored indices unchecked (an
    index out of range writes out of bounds): check them first. Other formats (LIL, DOK,
    DIA, BSR) hold no raw index arrays a caller could break."""
    n, i = x.shape
    if x.format == "csc":
        _structure(np.ascontiguousarray(x.indptr, dtype=np.int64), _index_array(x.indices),
                   i, n)
    elif x.format == "coo":
        for name, idx, size in (("row", x.coords[0], n), ("column", x.coords[1], i)):
            if idx.size and (idx.min() < 0 or idx.max() >= size):
                raise ValueError(f"invalid sparse matrix: every {name} index must be in "
                                 f"[0, {size})")


def as_csr(x, dtype=None, *, check_finite=True) -> CSR:
    """Convert a scipy.sparse matrix or array to the kernels' :class:`CSR`, at most one
    conversion and one copy of each array.

    Parameters
    ----------
    x : scipy.sparse matrix or array (any format), or a :class:`CSR`
        Never densified. Other formats are converted to CSR once.
    dtype : float32, float64 or None
        The data's dtype. None keeps float32/float64 and turns any other dtype into
        float64 (as scikit-learn does).
    check_finite : bool
        Reject NaN or inf among the stored values (ValueError).

    Returns
    -------
    CSR
        Rows sorted and duplicate-free (duplicates summed, as scipy's
        ``sum_duplicates``); the input is never modified.

    Raises
    ------
    TypeError
        If ``x`` is not sparse (dense input goes to the dense kernels).
    ValueError
        If the structure is broken (indptr not monotone or not ending at nnz, an index
        out of range) or a stored value is not finite.
    """
    if isinstance(x, CSR):
        if dtype is None or np.dtype(dtype) == x.dtype:
            return x
        return CSR(x.data.astype(dtype), x.indptr, x._held_indices(), x.shape)
    import scipy.sparse as sp
    if not sp.issparse(x):
        raise TypeError(f"expected a scipy.sparse matrix or array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D sparse matrix, got {x.ndim}-D")
    if x.format != "csr":
        _check_before_conversion(x)
        x = x.tocsr()  # sums COO duplicates; CSC -> CSR sorts
    if dtype is None:
        dtype = x.dtype if x.dtype in FLOAT_DTYPES else np.dtype(np.float64)
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    n, i = x.shape
    if x.indptr.shape != (n + 1,) or x.indices.ndim != 1 or x.data.shape != x.indices.shape:
        raise ValueError("invalid sparse matrix: indptr must have n_rows + 1 entries and data "
                         "as many as indices")
    if x.data.dtype.kind not in "fiub":
        raise TypeError(f"sparse data must be real numbers, got dtype {x.data.dtype}")
    indptr = np.ascontiguousarray(x.indptr, dtype=np.int64)
    indices = _index_array(x.indices)
    nnz = int(indptr[-1]) if n else 0
    if indices.shape[0] != nnz and 0 <= nnz <= indices.shape[0]:
        indices = indices[:nnz]  # scipy allows spare capacity past indptr[-1]
    data = np.ascontiguousarray(x.data[:indices.shape[0]], dtype=dtype)
    if not _structure(indptr, indices, n, i):
        m = sp.csr_matrix((data, indices, indptr), shape=(n, i), copy=True)
        m.sum_duplicates()  # sorts too; in place, hence on copies (never the caller's arrays)
        indptr = np.ascontiguousarray(m.indptr, dtype=np.int64)
        indices = _index_array(m.indices)
        data = np.ascontiguousarray(m.data, dtype=dtype)
    if check_finite and not np.isfinite(data).all():
        raise ValueError("sparse input contains NaN or infinity among its stored values")
    return CSR(data, indptr, indices, (n, i))


def _bad(status: int, what: str) -> None:
    if status == lib.FF_EBADARG:
        raise ValueError(f"{what}: bad argument (a sparse index or row range out of bounds, "
                         "a label out of range, or a bad size)")
    check_status(status, what)


def _x_inputs(x: CSR, *others):
    """The (name, array) pairs a kernel reads: X's three arrays, then ``others``."""
    return (("x.data", x.data), ("x.indptr", x.indptr),
            *(("x.indices", a) for a in x.index_arrays()), *others)


def csr_matmul(x, w, b=None, *, out=None):
    """``y = X @ w + b`` for a sparse X: the sparse first layer's forward.

    Parameters
    ----------
    x : scipy.sparse matrix/array or :class:`CSR` of shape (n, i)
    w : ndarray of shape (i, o)
        Weights in the dense linear layer's layout; x's dtype is followed (w is cast).
    b : ndarray of shape (o,) or None
    out : ndarray of shape (n, o), optional
        Receives ``y`` (x's dtype, C-contiguous, writeable; overwritten) and is returned.
        It must not share memory with X's arrays, ``w`` or ``b``.

    Returns
    -------
    y : ndarray of shape (n, o), x's dtype
    """
    x = as_csr(x)
    dtype = x.dtype
    n, i = x.shape
    w = float_array("w", np.asarray(w, dtype=dtype), ndim=2)
    if w.shape[0] != i:
        raise ValueError(f"w must have shape ({i}, o), got {w.shape}")
    o = w.shape[1]
    if b is not None:
        b = float_array("b", np.asarray(b, dtype=dtype), shape=(o,))
    y = (np.empty((n, o), dtype) if out is None
         else outputs(out, (Out("y", dtype, (n, o)),), _x_inputs(x, ("w", w), ("b", b)))[0])
    if n == 0 or o == 0:
        return y
    _bad(kernel("csr_matmul", dtype)(ptr(y), ptr(x.data), ptr(x.indptr), ptr(x.indices),
                                     ptr(w), ptr(b), n, i, o, x.nnz), "csr_matmul")
    return y


def csr_tmatmul(x, g, out=None):
    """``X^T @ g`` for a sparse X (the sparse first layer's weight gradient), from X's
    CSC form (:meth:`CSR.transpose`): deterministic for any thread count.

    Parameters
    ----------
    x : scipy.sparse matrix/array or :class:`CSR` of shape (n, i)
    g : ndarray of shape (n, o), x's dtype
    out : ndarray of shape (i, o) or None
        Accumulated into, not overwritten: ``out += X^T g`` (as the dense backward's
        ``dw``, so one buffer can gather several batches), then returned; x's dtype,
        C-contiguous, writeable. None starts from zeros.

    Returns
    -------
    dw : ndarray of shape (i, o)
        ``out`` when given.
    """
    x = as_csr(x)
    dtype = x.dtype
    n, i = x.shape
    g, out, o = _tmatmul_args(g, out, n, i, dtype)
    if n == 0 or o == 0 or i == 0:
        return out
    t = x.transpose()
    _bad(kernel("csr_tmatmul", dtype)(ptr(out), ptr(t.data), ptr(t.indptr), ptr(t.indices),
                                      ptr(g), n, i, o, t.nnz), "csr_tmatmul")
    return out


def _vec_kernel(name, x):
    """The kernel ``name`` (one per index width) for x's dtype and its narrowest index
    array."""
    idx = x.narrow_indices()
    if idx is None:
        return kernel(f"{name}_i64", x.dtype), x.indices
    return kernel(f"{name}_i32", x.dtype), idx


def _vector_product(name, x, vec, vec_name, out, rows_out):
    """The body of :func:`csr_matvec` (``rows_out``: a value per row of X from a vector
    over its columns) and :func:`csr_tmatvec` (the transposed sizes)."""
    x = as_csr(x)
    n, i = x.shape
    size_in, size_out = (i, n) if rows_out else (n, i)
    vec = float_array(vec_name, np.asarray(vec, dtype=x.dtype), shape=(size_in,))
    empty = n == 0 or i == 0  # no kernel call: the product is 0
    y = (np.zeros(size_out, x.dtype) if out is None
         else outputs(out, (Out("y", x.dtype, (size_out,), zero=empty),),
                      _x_inputs(x, (vec_name, vec)))[0])
    if empty:
        return y
    fn, idx = _vec_kernel(name, x)
    _bad(fn(ptr(y), ptr(x.data), ptr(x.indptr), ptr(idx), ptr(vec), n, i, x.nnz), name)
    return y


def csr_matvec(x, v, *, out=None):
    """``X @ v`` for one vector v: the product an iterative solver (sparse conjugate
    gradients) needs once per iteration.

    Rows in parallel from 2^20 non-zeros and rows, each summed in a fixed order (the same
    bits for any thread count), over int32 indices where the columns allow
    (:meth:`CSR.narrow_indices`).

    Parameters
    ----------
    x : scipy.sparse matrix/array or :class:`CSR` of shape (n, i)
    v : array-like of shape (i,)
        Cast to x's dtype.
    out : ndarray of shape (n,), optional
        Receives ``y`` (x's dtype, C-contiguous, writeable; overwritten) and is returned.
        It must not share memory with X's arrays or ``v``.

    Returns
    -------
    y : ndarray of shape (n,), x's dtype
    """
    return _vector_product("csr_matvec", x, v, "v", out, rows_out=True)


def csr_tmatvec(x, u, *, out=None):
    """``X^T @ u`` for one vector u, from X's rows (no CSC copy): the product an
    iterative solver (sparse conjugate gradients) needs once per iteration.

    X's rows are cut into 4 fixed blocks, scattered in parallel into partial sums that
    are added in block order (one block, a serial scatter, below 2^20 non-zeros and rows
    or with fewer than 4 non-zeros a column: the partials would cost more than the
    scatter): the same bits for any thread count. Indices as in :func:`csr_matvec`.

    Parameters
    ----------
    x : scipy.sparse matrix/array or :class:`CSR` of shape (n, i)
    u : array-like of shape (n,)
        Cast to x's dtype.
    out : ndarray of shape (i,), optional
        Receives ``y`` (x's dtype, C-contiguous, writeable; overwritten) and is returned.
        It must not share memory with X's arrays or ``u``.

    Returns
    -------
    y : ndarray of shape (i,), x's dtype
    """
    return _vector_product("csr_tmatvec", x, u, "u", out, rows_out=False)


def _tmatmul_args(g, out, n, i, dtype):
    """The (n, o) gradient ``g`` and the (i, o) output (zeros, or ``out`` to accumulate
    into) of an X^T g product; returns (g, out, o)."""
    g = float_array("g", g, dtype=dtype, ndim=2)
    if g.shape[0] != n:
        raise ValueError(f"g must have {n} rows (one per row of X), got shape {g.shape}")
    o = g.shape[1]
    if out is None:
        out = np.zeros((i, o), dtype)
    else:
        out_array("out", out, dtype, (i, o))
    return g, out, o


def _rows_arg(rows, n_rows):
    """A batch's row numbers as int64 (None: every row), each in [0, n_rows)."""
    if rows is None:
        return None, n_rows
    rows = index_array("rows", rows)
    if rows.ndim != 1:
        raise ValueError(f"rows must be 1-D, got shape {rows.shape}")
    if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
        raise ValueError(f"rows must hold row numbers in [0, {n_rows})")
    return rows, rows.shape[0]


def csr_rows_matmul(x, rows, w, b=None, *, out=None):
    """``y = X[rows] @ w + b``, the rows read in place: the forward of an MLP's sparse
    first layer on a batch (``rows`` None: every row).

    Parameters
    ----------
    x : scipy.sparse matrix/array or :class:`CSR` of shape (n_rows, i)
    rows : 1-D integer array of row numbers, or None
    w : ndarray of shape (i, o), x's dtype
    b : ndarray of shape (o,) or None
    out : ndarray of shape (len(rows), o), optional
        Receives ``y`` (x's dtype, C-contiguous, writeable; overwritten) and is returned.
        It must not share memory with X's arrays, ``rows``, ``w`` or ``b``.

    Returns
    -------
    y : ndarray of shape (len(rows), o)
    """
    x = as_csr(x)
    dtype = x.dtype
    n_rows, i = x.shape
    rows, n = _rows_arg(rows, n_rows)
    w = float_array("w", w, dtype=dtype, ndim=2)
    if w.shape[0] != i:
        raise ValueError(f"w must have shape ({i}, o), got {w.shape}")
    o = w.shape[1]
    if b is not None:
        b = float_array("b", b, dtype=dtype, shape=(o,))
    y = (np.empty((n, o), dtype) if out is None
         else outputs(out, (Out("y", dtype, (n, o)),),
                      _x_inputs(x, ("rows", rows), ("w", w), ("b", b)))[0])
    if n == 0 or o == 0:
        return y
    _bad(kernel("csr_rows_matmul", dtype)(ptr(y), ptr(x.data), ptr(x.indptr), ptr(x.indices),
                                          ptr(rows), ptr(w), ptr(b), n, n_rows, i, o, x.nnz),
         "csr_rows_matmul")
    return y


def csr_rows_tmatmul(x, rows, g, out=None):
    """``X[rows]^T @ g`` with the rows read in place, no CSC copy: the weight gradient of
    an MLP's sparse first layer on a batch. Threads own spans of the output columns and
    every element sums its terms in batch order: the same bits for any thread count.

    Parameters
    ----------
    x : scipy.sparse matrix/array or :class:`CSR` of shape (n_rows, i)
    rows : 1-D integer array of row numbers, or None (every row)
    g : ndarray of shape (len(rows), o), x's dtype
    out : ndarray of shape (i, o) or None
        Accumulated into, not overwritten: ``out += X[rows]^T g`` (as the dense
        backward's ``dw``), then returned; x's dtype, C-contiguous, writeable. None
        starts from zeros.

    Returns
    -------
    dw : ndarray of shape (i, o)
        ``out`` when given.
    """
    x = as_csr(x)
    dtype = x.dtype
    n_rows, i = x.shape
    rows, n = _rows_arg(rows, n_rows)
    g, out, o = _tmatmul_args(g, out, n, i, dtype)
    if n == 0 or o == 0 or i == 0:
        return out
    _bad(kernel("csr_rows_tmatmul", dtype)(ptr(out), ptr(x.data), ptr(x.indptr), ptr(x.indices),
                                           ptr(rows), ptr(g), n, n_rows, i, o, x.nnz),
         "csr_rows_tmatmul")
    return out


def logistic_operands(x: CSR, need_grad: bool, k: int):
    """The ``ff_csr_logistic_loss_grad`` kernel for x and the pointers to its X operands
    (data, indptr, indices, then the CSC form's: NULL without the gradient, and for K = 1,
    whose gradient the kernel scatters from the rows): the int32 instantiation when the
    index arrays narrow (:meth:`CSR.narrow_indices`), else int64. The arrays stay cached on
    x, so the pointers live as long as x."""
    t = x.transpose() if need_grad and k > 1 else None
    idx, tidx = x.narrow_indices(), t.narrow_indices() if t is not None else None
    narrow = idx is not None and (t is None or tidx is not None)
    if not narrow:
        idx, tidx = x.indices, t.indices if t is not None else None
    fn = kernel("csr_logistic_loss_grad_" + ("i32" if narrow else "i64"), x.dtype)
    return fn, (ptr(x.data), ptr(x.indptr), ptr(idx), ptr(t.data if t else None),
                ptr(t.indptr if t else None), ptr(tidx))


def csr_logistic_loss_grad(x, labels, coef, intercept=None, sample_weight=None, scale=1.0,
                           need_grad=True, *, out=None):
    """:func:`fastfit.ops.logistic_loss_grad` for a sparse X (same arguments, semantics and
    results, to float rounding).

    Parameters
    ----------
    x : scipy.sparse matrix/array or :class:`CSR` of shape (n, i)
    labels, coef, intercept, sample_weight, scale, need_grad, out
        As :func:`fastfit.ops.logistic_loss_grad` (``out`` must not share memory with X's
        arrays either).

    Returns
    -------
    loss : float
    dcoef : ndarray of shape (K, i), float64, or None
    dintercept : ndarray of shape (K,), float64, or None
    """
    x = as_csr(x)
    dtype = x.dtype
    n, i = x.shape
    if n < 1 or i < 1:
        raise ValueError(f"x must have at least one row and one column, got shape {x.shape}")
    coef, labels, intercept, sample_weight, loss = logistic_args(
        coef, labels, intercept, sample_weight, n, i, dtype)
    k = coef.shape[0]
    dcoef, dint = logistic_outputs(out, k, i, need_grad, intercept,
                                   _x_inputs(x, ("labels", labels), ("coef", coef),
                                             ("intercept", intercept),
                                             ("sample_weight", sample_weight)))
    fn, operands = logistic_operands(x, need_grad, k)
    status = fn(ptr(loss), ptr(dcoef), ptr(dint), *operands, ptr(coef), ptr(intercept),
                ptr(labels), ptr(sample_weight), n, i, k, x.nnz, float(scale))
    if status == lib.FF_EBADARG:
        raise ValueError("csr_logistic_loss_grad: a label out of range (K = 1 takes 0/1, "
                         "K >= 2 takes [0, K)) or a bad sparse structure")
    check_status(status, "csr_logistic_loss_grad")
    return float(loss[0]), dcoef, dint


def csr_sgd_epoch(w, state, config, x, order, *, y=None, labels=None, sample_weight=None,
                  aw=None, q=None, epoch=0, n_threads=None,
                  intercept_decay=SPARSE_INTERCEPT_DECAY) -> None:
    """:func:`fastfit.ops.sgd_epoch` over the rows of a sparse X, as scikit-learn's
    ``_plain_sgd`` on a CSR dataset: each step touches only the row's non-zeros (lazy L1,
    sparse averaging) and moves the intercept by ``intercept_decay`` times the update
    (scikit-learn: 0.01 for sparse input). Arguments and results as
    :func:`fastfit.ops.sgd_epoch`; finish with :func:`fastfit.ops.sgd_finish`."""
    csr_sgd_runner(w, state, config, x, order, y=y, labels=labels,
                   sample_weight=sample_weight, aw=aw, q=q, n_threads=n_threads,
                   intercept_decay=intercept_decay)(epoch)


def csr_sgd_runner(w, state, config, x, order, *, y=None, labels=None, sample_weight=None,
                   aw=None, q=None, n_threads=None, intercept_decay=SPARSE_INTERCEPT_DECAY):
    """Check the arguments of :func:`csr_sgd_epoch` once and return ``run(epoch)``."""
    dtype = inplace_dtype("w", w)
    if w.ndim != 2:
        raise ValueError(f"w must be 2-D (K, D), got shape {w.shape}")
    k, d = w.shape
    out_array("w", w, dtype, (k, d))
    x = as_csr(x, dtype=dtype)
    if x.shape[1] != d:
        raise ValueError(f"x has {x.shape[1]} columns but w has {d}")
    n = x.shape[0]
    if not isinstance(order, np.ndarray) or order.dtype != np.int64 or order.ndim != 1:
        raise TypeError("order must be a 1-D int64 ndarray (it is shuffled in place)")
    out_array("order", order, np.int64, order.shape)
    if order.size and (order.min() < 0 or order.max() >= n):
        raise ValueError(f"order must hold row indices in [0, {n})")
    if (y is None) == (labels is None):
        raise ValueError("pass exactly one of y (regression) and labels (classification)")
    if y is not None:
        y = float_array("y", np.asarray(y, dtype=dtype), shape=(n,))
    if labels is not None:
        labels = index_array("labels", labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if sample_weight is not None:
        sample_weight = float_array("sample_weight", np.asarray(sample_weight, dtype=dtype),
                                    shape=(n,))
    if aw is not None:
        out_array("aw", aw, dtype, (k, d))
    if q is not None:
        out_array("q", q, dtype, (k, d))
    if len(state) != k:
        raise ValueError(f"state has {len(state)} problems but w has {k} rows")
    decay = float(intercept_decay)
    if not np.isfinite(decay):
        raise ValueError(f"intercept_decay must be finite, got {intercept_decay!r}")
    nt = 0 if n_threads is None else int(n_threads)
    fn, idx = _vec_kernel("csr_sgd_epoch", x)
    args = (ptr(w), ptr(aw), ptr(q), state, config, ptr(x.data), ptr(x.indptr), ptr(idx),
            ptr(y), ptr(labels), ptr(sample_weight), ptr(order), n, d, k, order.shape[0], x.nnz)
    keep = (w, aw, q, x, idx, y, labels, sample_weight, order)

    def run(epoch: int = 0) -> None:
        status = fn(*args, int(epoch) % (1 << 64), nt, decay)
        if status != lib.FF_OK:
            _bad(status, "csr_sgd_epoch")

    run.arrays = keep
    return run
