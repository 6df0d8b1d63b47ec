"""The binding itself: the header's cdef block, the thread controls, import weight."""

import pathlib
import re
import subprocess
import sys

import pytest

import fastfit
from fastfit._lib import check_status, ffi, lib

HEADER = pathlib.Path(__file__).resolve().parents[1] / "csrc" / "fastfit.h"


def declared_functions():
    text = HEADER.read_text()
    block = text.split("/* FF_CDEF_BEGIN */")[1].split("/* FF_CDEF_END */")[0]
    block = re.sub(r"/\*.*?\*/", "", block, flags=re.S)
    return re.findall(r"\b(ff_\w+)\s*\(", block)


def test_every_declared_kernel_is_exported():
    names = declared_functions()
    assert len(names) > 60
    missing = [n for n in names if not hasattr(lib, n)]
    assert not missing


def test_every_float_kernel_has_both_dtypes():
    names = set(declared_functions())
    for name in names:
        if name.endswith("_f32"):
            assert name[:-4] + "_f64" in names, name
        if name.endswith("_f64"):
            assert name[:-4] + "_f32" in names, name


def test_status_strings():
    assert ffi.string(lib.ff_status_string(lib.FF_OK)) == b"ok"
    assert ffi.string(lib.ff_status_string(lib.FF_EBADARG)) == b"invalid argument"
    assert ffi.string(lib.ff_status_string(12345)) == b"unknown status"
    with pytest.raises(ValueError, match="invalid argument"):
        check_status(lib.FF_EBADARG, "x")
    with pytest.raises(FloatingPointError):
        check_status(lib.FF_ENONFINITE, "x")
    with pytest.raises(MemoryError):
        check_status(lib.FF_ENOMEM, "x")


def test_thread_controls_round_trip():
    before = fastfit.get_num_threads()
    with fastfit.num_threads(1):
        assert fastfit.get_num_threads() == 1
    assert fastfit.get_num_threads() == before
    assert lib.ff_set_num_threads(0) == lib.FF_EBADARG
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            fastfit.set_num_threads(bad)


def test_threadpoolctl_limits_are_honoured():
    # from 2 threads down to 1 and back: a count fastfit kept for itself (or a default of
    # one thread, as CI's OMP_NUM_THREADS=1) would fail one of the three asserts
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(2, user_api="openmp"):
        assert fastfit.get_num_threads() == 2
        with threadpoolctl.threadpool_limits(1, user_api="openmp"):
            assert fastfit.get_num_threads() == 1
        assert fastfit.get_num_threads() == 2


def _struct_mismatches(ffi_, name32, name64):
    """Fields of two structs that differ other than by float32 -> float64 (names, order,
    kinds, offsets left aside: the f64 struct is wider)."""
    def normalised(ctype):
        # float <-> double, also behind pointers (const float * -> const double *)
        return ctype.cname.replace("double", "float")

    f32, f64 = ffi_.typeof(name32).fields, ffi_.typeof(name64).fields
    pairs = [((a, normalised(ta.type)), (b, normalised(tb.type)))
             for (a, ta), (b, tb) in zip(f32, f64)]
    bad = [f"{a}: {ta} vs {b}: {tb}" for (a, ta), (b, tb) in pairs if (a, ta) != (b, tb)]
    if len(f32) != len(f64):
        bad.append(f"{len(f32)} fields vs {len(f64)}")
    return bad


@pytest.mark.parametrize("struct", ["ff_model", "ff_train"])
def test_f32_and_f64_structs_agree_field_by_field(struct):
    # the header writes each struct twice by hand (cffi's cdef takes no macros)
    assert len(ffi.typeof(f"{struct}_f32").fields) > 5
    assert _struct_mismatches(ffi, f"{struct}_f32", f"{struct}_f64") == []


def test_struct_parity_check_finds_a_drifted_copy():
    cffi = pytest.importorskip("cffi")
    other = cffi.FFI()
    other.cdef("typedef struct { float *x; int64_t n; double lr; } a_f32;"
               "typedef struct { double *x; int32_t n; double lr; } a_f64;"
               "typedef struct { float *x; int64_t n; } b_f32;"
               "typedef struct { double *x; int64_t n; float extra; } b_f64;"
               "typedef struct { float *x; int64_t n, m; } c_f32;"
               "typedef struct { double *x; int64_t m, n; } c_f64;")
    assert _struct_mismatches(other, "a_f32", "a_f64") == ["n: int64_t vs n: int32_t"]
    assert _struct_mismatches(other, "b_f32", "b_f64") == ["2 fields vs 3"]
    assert len(_struct_mismatches(other, "c_f32", "c_f64")) == 2


def test_import_is_light():
    code = ("import sys, fastfit; heavy = [m for m in ('numba', 'torch', 'matplotlib', 'sklearn', "
            "'scipy') if m in sys.modules]; print(heavy); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=HEADER.parents[1] / "tests")
