"""The epoch's rules the C engine exports for every backend (ff_batch_count,
ff_batch_bounds, ff_dropout_offset), and the op-kind table of csrc/engine_ops.inc."""

import pathlib
import re

import pytest

from fastfit._lib import ffi, lib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _bounds(n, bs, merge):
    lo, hi = ffi.new("int64_t *"), ffi.new("int64_t *")
    out = []
    for b in range(lib.ff_batch_count(n, bs, merge)):
        assert lib.ff_batch_bounds(lo, hi, b, n, bs, merge) == lib.FF_OK
        out.append((lo[0], hi[0]))
    # one past the last batch is refused, as the engine refuses it
    assert lib.ff_batch_bounds(lo, hi, len(out), n, bs, merge) == lib.FF_EBADARG
    return out


@pytest.mark.parametrize("n", [1, 2, 31, 32, 33, 64, 65, 97])
@pytest.mark.parametrize("merge", [0, 1])
def test_batches_cover_every_row_once_and_merge_a_lone_last_row(n, merge):
    bs = 32
    bounds = _bounds(n, bs, merge)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [hi - lo for lo, hi in bounds]
    if merge and n > 1:
        assert min(sizes) >= 2   # batch norm never sees a batch of one row
        assert max(sizes) <= bs + 1
    else:
        assert max(sizes) <= bs and len(bounds) == -(-n // bs)


def test_batch_rules_refuse_bad_arguments():
    lo, hi = ffi.new("int64_t *"), ffi.new("int64_t *")
    assert lib.ff_batch_count(0, 32, 1) == 0 and lib.ff_batch_count(5, 0, 0) == 0
    assert lib.ff_batch_bounds(lo, hi, -1, 10, 4, 0) == lib.FF_EBADARG
    assert lib.ff_batch_bounds(lo, hi, 0, 10, 0, 0) == lib.FF_EBADARG
    assert lib.ff_batch_bounds(ffi.NULL, hi, 0, 10, 4, 0) == lib.FF_EBADARG


def test_dropout_offset_is_step_times_the_masks_of_a_batch():
    assert lib.ff_dropout_offset(0, 64, 33) == 0
    assert lib.ff_dropout_offset(7, 64, 33) == 7 * 64 * 33
    # counters are uint64: a large step wraps instead of overflowing a signed type
    assert lib.ff_dropout_offset(2**40, 2**20, 2**10) == (2**70) % 2**64


def test_every_op_kind_has_a_check_forward_backward_and_a_table_row():
    header = (ROOT / "csrc" / "fastfit.h").read_text()
    enum = re.search(r"enum ff_op_kind \{(.*?)\};", header, re.S).group(1)
    kinds = [k.lower() for k in re.findall(r"FF_OP_(\w+) =", enum)]
    ops = (ROOT / "csrc" / "engine_ops.inc").read_text()
    assert len(kinds) >= 6
    for kind in kinds:
        for part in ("check", "forward", "backward"):
            assert f"FF_FN(ff_op_{kind}_{part})(" in ops, (kind, part)
        assert re.search(rf"\[FF_OP_{kind.upper()}\] = FF_OP_ENTRY\({kind},", ops), kind


# ---- the Python wrappers every backend calls (fastfit._epoch) --------------------------------

def test_batch_weight_sums_are_the_engines_row_order_sums():
    import numpy as np

    from fastfit._epoch import batch_bounds, batch_weight_sums

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        w = rng.random(70).astype(dtype)
        w[:20] = 0
        order = rng.permutation(70).astype(np.int64)[:65]
        got = batch_weight_sums(w, order, 70, 16, True, dtype)
        bounds = batch_bounds(65, 16, True)
        assert len(got) == len(bounds) == 4 and bounds[-1] == (48, 65)
        for s, (lo, hi) in zip(got, bounds):
            expect = 0.0
            for r in order[lo:hi]:   # in row order, in double, as ff_step
                expect += float(w[r])
            assert s == expect
        unweighted = batch_weight_sums(None, order, 70, 16, True, dtype)
        assert list(unweighted) == [hi - lo for lo, hi in bounds]
        with pytest.raises(ValueError):
            batch_weight_sums(w, np.array([0, 70], np.int64), 70, 16, True, dtype)


def test_step_coefficients_fold_scikit_learn_mode_only():
    import math

    from fastfit._epoch import step_coefficients

    opt = {"weight_decay": 0.1, "eps": 1e-8, "kind": lib.FF_OPTIM_ADAM, "decoupled": 0,
           "beta2": 0.999}
    assert step_coefficients(opt, 3, 20.0) == (0.1, 1e-8)
    wd, eps = step_coefficients({**opt, "sklearn": True}, 3, 20.0)
    assert wd == 0.1 / 20.0 and eps == 1e-8 / math.sqrt(1.0 - math.pow(0.999, 3))
    wd, eps = step_coefficients({**opt, "sklearn": True, "decoupled": 1}, 3, 20.0)
    assert wd == 0.1
    wd, eps = step_coefficients({**opt, "sklearn": True, "kind": lib.FF_OPTIM_SGD}, 3, 20.0)
    assert (wd, eps) == (0.1 / 20.0, 1e-8)


def test_the_cuda_trainer_restates_no_engine_rule():
    # the batch cut, the merge of a lone last row, the per-batch weight sums, the dropout
    # offset and scikit-learn mode's folding come from fastfit._epoch, not from copies
    text = (ROOT / "fastfit" / "cuda" / "_train.py").read_text()
    for copy in ("n - hi == 1", "reduceat", "mask_width * self.cap", "math.pow(",
                 "def _forward(self", "def _backward(self", "== OP_ACTIVATION"):
        assert copy not in text, copy
    ops = (ROOT / "fastfit" / "cuda" / "_ops.py").read_text()
    kinds = re.findall(r"FF_OP_(\w+) =", (ROOT / "csrc" / "fastfit.h").read_text())
    for kind in kinds:   # one table row per enum ff_op_kind
        assert re.search(rf"lib\.FF_OP_{kind}: \({kind.lower()}_forward, {kind.lower()}_backward\)",
                         ops), kind


def test_the_trainer_uses_only_the_backend_contract():
    import numpy as np

    from fastfit import Trainer, nn
    from fastfit._backend import Backend

    text = (ROOT / "fastfit" / "_trainer.py").read_text()
    assert "getattr(native" not in text and ".struct" not in text
    t = Trainer(nn.Sequential(nn.Linear(3, 2), random_state=0), loss="mse", batch_size=4)
    t.fit(np.zeros((8, 3)), np.zeros((8, 2)), epochs=1)
    assert isinstance(t._native, Backend)
