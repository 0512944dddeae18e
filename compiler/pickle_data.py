"""Read the data inside a pickle without unpickling it (docs/reliability.md, "pickles").

Python's unpickler imports and calls whatever a file names, so a pickle from elsewhere can run
code. This reader walks the opcodes (pickletools.genops, which only decodes them) with its own
small stack machine that builds plain data only: dicts, lists, tuples, strings, bytes, numbers,
booleans, None, and numpy arrays of float/int dtypes rebuilt from their raw bytes. A class or
function the file names is never imported or called: constructing one yields a `Constructed`
record (the qualified name, its arguments and the state BUILD gives it), and only names on the
caller's allow-list are accepted at all. Anything else is a PickleDataError naming the file
and the opcode or name.

Used for SB3's VecNormalize statistics (vecnormalize.pkl, compiler.frontend).
"""
from __future__ import annotations

import dataclasses
import pickletools
from typing import Any

import numpy as np

# numpy's own reconstructors, under numpy 1.x and 2.x module names
_NDARRAY_RECONSTRUCT = {"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"}
_NDARRAY_TYPE = {"numpy.ndarray"}
_DTYPE = {"numpy.dtype"}
_SCALAR = {"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"}
NUMPY_NAMES = _NDARRAY_RECONSTRUCT | _NDARRAY_TYPE | _DTYPE | _SCALAR
ARRAY_KINDS = "fiub"          # float, signed and unsigned int, bool
MAX_OPS = 1_000_000


class PickleDataError(ValueError):
    """A pickle holds something this reader does not build (or is malformed)."""


@dataclasses.dataclass
class Constructed:
    """An object the pickle would have built by calling `name`: never built here."""
    name: str
    args: tuple
    state: Any = None


@dataclasses.dataclass
class _Global:
    name: str


class _DType:
    def __init__(self, code: str):
        self.code, self.byteorder = code, "="

    def numpy(self, where: str) -> np.dtype:
        try:
            dtype = np.dtype(self.code).newbyteorder(self.byteorder if self.byteorder in "<>"
                                                     else "=")
        except TypeError:
            raise PickleDataError(f"{where}: unknown numpy dtype {self.code!r}") from None
        if dtype.kind not in ARRAY_KINDS:
            raise PickleDataError(f"{where}: numpy dtype {self.code!r} is not numeric")
        return dtype


class _Array:
    """An ndarray being rebuilt: _reconstruct(...) then BUILD (version, shape, dtype, fortran,
    raw bytes)."""


_MARK = object()


def read_pickle_data(raw: bytes, where: str, allowed: set[str]) -> Any:
    """The data a pickle holds (see the module docstring). allowed: qualified names of the
    classes and functions it may name besides numpy's array reconstructors."""
    stack: list = []
    memo: dict[int, Any] = {}
    marks: list[int] = []
    # arrays hold at most the file's bytes (+ 1 MiB): a memoised buffer rebuilt into many
    # arrays would otherwise turn a 16 MB file into gigabytes
    array_budget = [len(raw) + (1 << 20)]

    def pop_mark() -> list:
        if not marks:
            raise PickleDataError(f"{where}: malformed pickle (no MARK)")
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def call(func, args: tuple):
        if not isinstance(func, _Global):
            raise PickleDataError(f"{where}: malformed pickle (calls a {type(func).__name__})")
        if func.name in _DTYPE:
            return _DType(str(args[0]))
        if func.name in _NDARRAY_RECONSTRUCT:
            return _Array()
        if func.name in _SCALAR:
            dtype, data = args
            return np.frombuffer(data, dtype=dtype.numpy(where), count=1)[0].item()
        return Constructed(func.name, tuple(args))

    def build(obj, state):
        if isinstance(obj, _DType):
            obj.byteorder = state[1] if isinstance(state, tuple) and len(state) > 1 else "="
            return obj
        if isinstance(obj, _Array):
            try:
                _, shape, dtype, fortran, data = state
                dtype = dtype.numpy(where)
                count = int(np.prod(shape, dtype=np.int64))
                if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.itemsize:
                    raise PickleDataError(f"{where}: array data is not {count} x "
                                          f"{dtype.itemsize} bytes")
                array_budget[0] -= len(data)
                if array_budget[0] < 0:
                    raise PickleDataError(f"{where}: its arrays hold more bytes than the file "
                                          f"(one buffer rebuilt into many arrays)")
                return np.frombuffer(bytes(data), dtype=dtype).reshape(
                    shape, order="F" if fortran else "C").astype(dtype.newbyteorder("="))
            except (TypeError, ValueError, AttributeError, OverflowError) as exc:
                if isinstance(exc, PickleDataError):
                    raise
                raise PickleDataError(f"{where}: malformed numpy array in the pickle "
                                      f"({exc})") from None
        if isinstance(obj, Constructed):
            obj.state = state
            return obj
        raise PickleDataError(f"{where}: malformed pickle (BUILD on a {type(obj).__name__})")

    try:
        ops = pickletools.genops(raw)
        for count, (op, arg, _) in enumerate(ops):
            if count > MAX_OPS:
                raise PickleDataError(f"{where}: more than {MAX_OPS} pickle opcodes")
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if len(stack) != 1:
                    raise PickleDataError(f"{where}: malformed pickle (stack at STOP)")
                return _plain(stack[0], where)
            if name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                        "SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BININT", "BININT1",
                        "BININT2", "LONG1", "LONG4", "BINFLOAT", "INT", "LONG", "FLOAT",
                        "SHORT_BINSTRING", "BINSTRING"):
                stack.append(arg)
            elif name == "BYTEARRAY8":
                stack.append(bytearray(arg))
            elif name == "NONE":
                stack.append(None)
            elif name in ("NEWTRUE", "NEWFALSE"):
                stack.append(name == "NEWTRUE")
            elif name == "MARK":
                marks.append(len(stack))
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[int(arg)])
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, qualname = arg.split(" ", 1)
                else:
                    qualname = stack.pop()
                    module = stack.pop()
                full = f"{module}.{qualname}"
                if full not in allowed and full not in NUMPY_NAMES:
                    raise PickleDataError(f"{where}: the pickle names {full}, which this "
                                          f"reader does not accept")
                stack.append(_Global(full))
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                stack.append(list(pop_mark()))
            elif name == "APPEND":
                value = stack.pop()
                stack[-1].append(value)
            elif name == "APPENDS":
                items = pop_mark()
                stack[-1].extend(items)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "DICT":
                items = pop_mark()
                stack.append(dict(zip(items[::2], items[1::2])))
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                stack[-1][_key(key, where)] = value
            elif name == "SETITEMS":
                items = pop_mark()
                for key, value in zip(items[::2], items[1::2]):
                    stack[-1][_key(key, where)] = value
            elif name in ("REDUCE", "NEWOBJ"):
                args = stack.pop()
                func = stack.pop()
                stack.append(call(func, tuple(args)))
            elif name == "BUILD":
                state = stack.pop()
                stack.append(build(stack.pop(), state))
            else:
                raise PickleDataError(f"{where}: pickle opcode {name} is not read by this "
                                      f"reader")
    except PickleDataError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
        raise PickleDataError(f"{where}: malformed pickle ({type(exc).__name__}: {exc})") from None
    raise PickleDataError(f"{where}: truncated pickle (no STOP)")


def _key(key, where: str):
    if not isinstance(key, (str, int, float, bool, type(None), tuple)):
        raise PickleDataError(f"{where}: malformed pickle (a {type(key).__name__} as a dict key)")
    return key


def _plain(value, where: str):
    """Refuse half-built internals at the top level (an array never given its data)."""
    if isinstance(value, (_Array, _DType, _Global)):
        raise PickleDataError(f"{where}: malformed pickle (incomplete {type(value).__name__})")
    return value
