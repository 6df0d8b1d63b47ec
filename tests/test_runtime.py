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
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert fastfit.get_num_threads() == 1


def test_import_is_light():
    code = ("import sys, fastfit; heavy = [m for m in ('numba', 'torch', 'matplotlib', 'sklearn', "
            "'scipy') if m in sys.modules]; print(heavy); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=HEADER.parents[1] / "tests")
