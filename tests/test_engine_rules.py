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
