"""The file container: safetensors bytes in, safetensors bytes out, written atomically.

The ``safetensors`` package owns the container (an 8-byte little-endian header length,
a JSON header, raw little-endian tensors; it checks every offset). This module adds
what fastfit needs on top: size caps applied before anything is parsed, the
``__metadata__`` strings read back, and atomic writes (temporary file + rename).
``safetensors`` is imported here, on first save or load, never by ``import fastfit``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

import numpy as np

MAGIC = "fastfit"
# The header holds tensor offsets and the JSON description (layers, parameters, fitted
# scalars, feature names): a few kB for any model we know; 16 MB leaves room for
# millions of feature names and caps what a hand-edited header can make us parse.
MAX_HEADER = 16 << 20
# A whole file is read into memory once: refuse anything larger than this up front.
MAX_FILE = 4 << 30
# Tensor dtypes a fastfit file may hold (safetensors' names).
DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "U32": np.uint32, "U8": np.uint8, "I8": np.int8, "BOOL": np.bool_}


def write_bytes(tensors: dict, metadata: dict) -> bytes:
    """The safetensors serialisation of ``tensors`` (name -> C-contiguous little-endian
    array) with ``metadata`` (str -> str)."""
    from safetensors.numpy import save

    return save(tensors, metadata=metadata)


def write_file(data: bytes, file) -> None:
    """Write ``data`` to a path (atomically: a crash never leaves half a file) or to a
    binary file object."""
    if hasattr(file, "write"):
        file.write(data)
        return
    try:
        path = os.fspath(file)
    except TypeError:
        raise TypeError("file must be a path or a binary file object, got "
                        f"{type(file).__name__}") from None
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fastfit-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_file(file) -> bytes:
    """The bytes of a path or a binary file object, refusing files over ``MAX_FILE``."""
    if hasattr(file, "read"):
        data = file.read(MAX_FILE + 1)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("file must be opened in binary mode")
        data = bytes(data)
    else:
        try:
            path = os.fspath(file)
        except TypeError:
            raise TypeError("file must be a path or a binary file object, got "
                            f"{type(file).__name__}") from None
        with open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise ValueError(f"not a fastfit file: larger than {MAX_FILE} bytes")
    return data


def read_bytes(data: bytes) -> tuple[dict, dict]:
    """(metadata, tensors) of a safetensors file, ValueError for anything malformed."""
    if len(data) < 8:
        raise ValueError("not a fastfit file: truncated (no safetensors header length)")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER:
        raise ValueError(f"not a fastfit file: header length {n} exceeds {MAX_HEADER} bytes")
    if 8 + n > len(data):
        raise ValueError(f"not a fastfit file: truncated (header says {n} bytes, the file "
                         f"has {len(data) - 8} after the length)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"not a fastfit file: the safetensors header is not JSON ({err})") \
            from None
    if not isinstance(header, dict):
        raise ValueError("not a fastfit file: the safetensors header is not a JSON object")
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("not a fastfit file: no __metadata__ of strings in the header")
    if metadata.get("format") != MAGIC:
        raise ValueError(f"not a fastfit file: __metadata__ format is "
                         f"{metadata.get('format')!r}, expected {MAGIC!r}")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info.get("dtype") if isinstance(info, dict) else None
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ValueError(f"tensor {name!r}: dtype {dtype!r} is not one fastfit writes")
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        tensors = load(data)
    except (SafetensorError, ValueError, TypeError, OverflowError) as err:
        raise ValueError(f"not a valid safetensors file: {err}") from None
    return metadata, tensors
