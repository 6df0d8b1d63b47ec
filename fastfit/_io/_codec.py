"""Values <-> a JSON tree plus named tensors, with an allow-list of types both ways.

Encoding turns a value into JSON: ``None``, bools, ints, finite floats and strings
stay as they are; everything else is a one-key marker object:

=============================  ==================================================
``{"$float": "nan"}``          non-finite float ("nan", "inf", "-inf")
``{"$tuple": [...]}``          tuple
``{"$dict": [[k, v], ...]}``   dict (any hashable encodable keys, order kept)
``{"$tensor": "t3"}``          numeric or boolean ndarray, stored as tensor ``t3``
``{"$strings": ...}``          ndarray of str (or of str/int/float objects)
``{"$scalar": "<f8", ...}``    NumPy scalar
``{"$dtype": "float32"}``      NumPy dtype
``{"$obj": name, ...}``        an object from the allow-list in ``_objects``
``{"$ref": i}``                the i-th allow-listed object already seen (shared)
=============================  ==================================================

Decoding accepts exactly these forms and nothing else: no pickle, no ``eval``, no
class looked up by a name from the file (object names index a fixed table). Every
tensor must be referenced exactly once, and every float tensor must be finite.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

MAX_DEPTH = 64
_INT_LIMIT = 1 << 64
# NumPy dtypes that may appear as {"$scalar"} or {"$dtype"} (no object, void, datetime)
_SCALAR_DTYPES = {np.dtype(t).str: np.dtype(t) for t in (
    np.float32, np.float64, np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32,
    np.uint16, np.uint8, np.bool_)}
_DTYPE_NAMES = {np.dtype(t).name: np.dtype(t) for t in (np.float32, np.float64, np.int64,
                                                        np.int32, np.bool_)}
_MAX_STR_LEN = 1 << 16


class Encoder:
    """Builds the JSON tree and collects the tensors of one file."""

    def __init__(self, objects):
        self.objects = objects   # the allow-list: type -> handler
        self.tensors: dict[str, np.ndarray] = {}
        self._seen: dict[int, int] = {}
        self._alive = []         # keeps shared objects alive so their ids stay unique

    def tensor(self, a: np.ndarray, path: str) -> dict:
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"cannot save {path}: it holds NaN or infinite values")
        name = f"t{len(self.tensors)}"
        self.tensors[name] = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        return {"$tensor": name}

    def value(self, v, path: str):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, numbers.Integral) and type(v) is int:
            if not -_INT_LIMIT < v < _INT_LIMIT:
                raise ValueError(f"cannot save {path}: integer {v} is out of range")
            return v
        if type(v) is float:
            return v if math.isfinite(v) else {"$float": repr(v)}
        if isinstance(v, np.generic):
            dt = v.dtype.newbyteorder("=") if v.dtype.byteorder == ">" else v.dtype
            if dt.str not in _SCALAR_DTYPES:
                raise TypeError(f"cannot save {path}: NumPy scalar of dtype {v.dtype}")
            return {"$scalar": dt.str, "value": self.value(v.item(), path)}
        if isinstance(v, np.ndarray):
            return self._array(v, path)
        if isinstance(v, np.dtype):
            if v.name not in _DTYPE_NAMES:
                raise TypeError(f"cannot save {path}: dtype {v}")
            return {"$dtype": v.name}
        if type(v) is list:
            return [self.value(x, f"{path}[{i}]") for i, x in enumerate(v)]
        if type(v) is tuple:
            return {"$tuple": [self.value(x, f"{path}[{i}]") for i, x in enumerate(v)]}
        if type(v) is dict:
            return {"$dict": [[self.value(k, f"{path} key"), self.value(x, f"{path}[{k!r}]")]
                              for k, x in v.items()]}
        handler = self.objects.get(type(v))
        if handler is None:
            raise TypeError(f"cannot save {path}: values of type {type(v).__name__} are not "
                            "in fastfit's file format")
        if id(v) in self._seen:
            return {"$ref": self._seen[id(v)]}
        self._seen[id(v)] = len(self._seen)
        self._alive.append(v)
        fields = handler.encode(v, self, path)
        return {"$obj": handler.name, "fields": fields}

    def _array(self, a, path):
        if a.dtype.kind in "fiub":
            if a.dtype.kind == "f" and a.dtype.itemsize not in (4, 8):
                raise TypeError(f"cannot save {path}: dtype {a.dtype}")
            return self.tensor(a, path)
        if a.dtype.kind in "UO":
            items = a.ravel().tolist()
            for x in items:
                if not (isinstance(x, str) or (type(x) in (int, float, bool))):
                    raise TypeError(f"cannot save {path}: an object array holding "
                                    f"{type(x).__name__}")
            dtype = "object" if a.dtype.kind == "O" else a.dtype.newbyteorder("<").str
            return {"$strings": [self.value(x, path) for x in items], "dtype": dtype,
                    "shape": list(a.shape)}
        raise TypeError(f"cannot save {path}: arrays of dtype {a.dtype}")


class Decoder:
    """Turns a JSON tree back into values; ValueError naming the path for anything else."""

    def __init__(self, objects, tensors: dict):
        self.objects = objects   # the allow-list: name -> handler
        self.tensors = tensors
        self.used: set[str] = set()
        self.shared: list = []

    def finish(self):
        unused = sorted(set(self.tensors) - self.used)
        if unused:
            raise ValueError(f"tensor {unused[0]!r} is not referenced by the description")

    def value(self, node, path: str, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ValueError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        if node is None or isinstance(node, bool):
            return node
        if isinstance(node, str):
            if len(node) > _MAX_STR_LEN:
                raise ValueError(f"{path}: string longer than {_MAX_STR_LEN} characters")
            return node
        if isinstance(node, int):
            if not -_INT_LIMIT < node < _INT_LIMIT:
                raise ValueError(f"{path}: integer out of range")
            return node
        if isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError(f"{path}: non-finite float outside a $float marker")
            return node
        if isinstance(node, list):
            return [self.value(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(node)]
        if not isinstance(node, dict) or not node:
            raise ValueError(f"{path}: unexpected JSON value {type(node).__name__}")
        tag = next(iter(node))
        method = _TAGS.get(tag)
        if method is None or set(node) != _TAG_KEYS[tag]:
            raise ValueError(f"{path}: unknown or malformed marker {sorted(node)}")
        return method(self, node, path, depth)

    def _float(self, node, path, depth):
        text = node["$float"]
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"{path}: $float must be 'nan', 'inf' or '-inf', got {text!r}")
        return float(text)

    def _tuple(self, node, path, depth):
        items = node["$tuple"]
        if not isinstance(items, list):
            raise ValueError(f"{path}: $tuple must hold a list")
        return tuple(self.value(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(items))

    def _dict(self, node, path, depth):
        pairs = node["$dict"]
        if not isinstance(pairs, list):
            raise ValueError(f"{path}: $dict must hold a list of pairs")
        out = {}
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError(f"{path}: $dict item {i} is not a [key, value] pair")
            key = self.value(pair[0], f"{path} key {i}", depth + 1)
            try:
                hash(key)
            except TypeError:
                raise ValueError(f"{path}: $dict key {i} is not hashable") from None
            if key in out:
                raise ValueError(f"{path}: duplicate key {key!r}")
            out[key] = self.value(pair[1], f"{path}[{key!r}]", depth + 1)
        return out

    def _tensor(self, node, path, depth):
        name = node["$tensor"]
        if not isinstance(name, str) or name not in self.tensors:
            raise ValueError(f"{path}: tensor {name!r} is not in the file")
        if name in self.used:
            raise ValueError(f"{path}: tensor {name!r} is referenced twice")
        self.used.add(name)
        a = self.tensors[name]
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{path}: tensor {name!r} holds NaN or infinite values")
        return a

    def _strings(self, node, path, depth):
        items, dtype, shape = node["$strings"], node["dtype"], node["shape"]
        if not (isinstance(shape, list) and len(shape) <= 8
                and all(type(s) is int and s >= 0 for s in shape)):
            raise ValueError(f"{path}: bad $strings shape {shape!r}")
        if not isinstance(items, list) or math.prod(shape) != len(items):
            raise ValueError(f"{path}: $strings holds a number of items other than its shape's")
        values = [self.value(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(items)]
        if dtype == "object":
            if not all(isinstance(x, str) or type(x) in (int, float, bool) for x in values):
                raise ValueError(f"{path}: object arrays may hold str, int, float or bool only")
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out.reshape(shape)
        if not (isinstance(dtype, str) and dtype.startswith("<U") and dtype[2:].isdigit()
                and 0 < int(dtype[2:]) <= _MAX_STR_LEN):
            raise ValueError(f"{path}: $strings dtype {dtype!r} is not '<U<n>' or 'object'")
        if not all(isinstance(x, str) and len(x) <= int(dtype[2:]) for x in values):
            raise ValueError(f"{path}: $strings items must be strings fitting {dtype}")
        return np.array(values, dtype=dtype).reshape(shape)

    def _scalar(self, node, path, depth):
        dt = _SCALAR_DTYPES.get(node["$scalar"]) if isinstance(node["$scalar"], str) else None
        value = node["value"]
        if dt is None:
            raise ValueError(f"{path}: $scalar dtype {node['$scalar']!r} is not allowed")
        if isinstance(value, dict):
            value = self._float(value, path, depth) if set(value) == {"$float"} else None
        if isinstance(value, bool) != (dt.kind == "b") or not isinstance(
                value, (int, float)) or (dt.kind in "iu" and not isinstance(value, int)):
            raise ValueError(f"{path}: $scalar value {value!r} does not fit {dt}")
        try:
            with np.errstate(over="raise", invalid="raise"):
                out = dt.type(value)
        except (OverflowError, FloatingPointError, ValueError):
            raise ValueError(f"{path}: $scalar value {value!r} does not fit {dt}") from None
        return out

    def _dtype(self, node, path, depth):
        dt = _DTYPE_NAMES.get(node["$dtype"]) if isinstance(node["$dtype"], str) else None
        if dt is None:
            raise ValueError(f"{path}: $dtype {node['$dtype']!r} is not allowed")
        return dt

    def _ref(self, node, path, depth):
        i = node["$ref"]
        if type(i) is not int or not 0 <= i < len(self.shared) or self.shared[i] is None:
            raise ValueError(f"{path}: $ref {i!r} does not name an object built before it")
        return self.shared[i]

    def _obj(self, node, path, depth):
        name, fields = node["$obj"], node["fields"]
        handler = self.objects.get(name) if isinstance(name, str) else None
        if handler is None:
            raise ValueError(f"{path}: object kind {name!r} is not allowed")
        if not isinstance(fields, dict) or set(fields) != set(handler.fields):
            raise ValueError(f"{path}: {name} needs exactly the fields "
                             f"{sorted(handler.fields)}, got "
                             f"{sorted(fields) if isinstance(fields, dict) else fields!r}")
        slot = len(self.shared)
        self.shared.append(None)   # reserved: children see it as not yet built
        values = {}
        for key in handler.fields:   # the handler's order, which the encoder also used
            values[key] = self.value(fields[key], f"{path}.{key}", depth + 1)
        obj = handler.decode(values, f"{path} ({name})")
        self.shared[slot] = obj
        return obj


_TAGS = {"$float": Decoder._float, "$tuple": Decoder._tuple, "$dict": Decoder._dict,
         "$tensor": Decoder._tensor, "$strings": Decoder._strings, "$scalar": Decoder._scalar,
         "$dtype": Decoder._dtype, "$ref": Decoder._ref, "$obj": Decoder._obj}
_TAG_KEYS = {"$float": {"$float"}, "$tuple": {"$tuple"}, "$dict": {"$dict"},
             "$tensor": {"$tensor"}, "$strings": {"$strings", "dtype", "shape"},
             "$scalar": {"$scalar", "value"}, "$dtype": {"$dtype"}, "$ref": {"$ref"},
             "$obj": {"$obj", "fields"}}
