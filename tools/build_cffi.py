"""Emit the cffi (API mode, out of line) C source of ``fastfit._native``.

The cdef is the block between the FF_CDEF_BEGIN / FF_CDEF_END markers of the one public
header, so declarations live in exactly one place. This script only writes C; CMake
compiles it together with the kernels into one extension module.

Usage: python build_cffi.py path/to/fastfit.h path/to/_native.c
"""

import pathlib
import re
import sys

import cffi

_BLOCK = re.compile(r"/\* FF_CDEF_BEGIN \*/(?P<cdef>.*?)/\* FF_CDEF_END \*/", re.S)


def read_cdef(header: pathlib.Path) -> str:
    match = _BLOCK.search(header.read_text())
    if match is None:
        raise SystemExit(f"{header}: no FF_CDEF_BEGIN/FF_CDEF_END block")
    return match.group("cdef")


def main(argv: list[str]) -> None:
    header, output = map(pathlib.Path, argv[1:3])
    ffi = cffi.FFI()
    ffi.cdef(read_cdef(header))
    ffi.set_source("fastfit._native", f'#include "{header.name}"')
    output.parent.mkdir(parents=True, exist_ok=True)
    ffi.emit_c_code(str(output))


if __name__ == "__main__":
    main(sys.argv)
