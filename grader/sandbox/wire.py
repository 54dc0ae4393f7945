"""Plain-data wire format between the grader and the sandboxed child: JSON, never pickle.

Messages are framed by :mod:`grader.sandbox.frames` (a length, then ASCII JSON; deadlines and
size limits), whose names this module re-exports: ``wire`` is the one name both sides use.
Values are numbers, strings, booleans, None, lists and string-keyed dicts, plus these tagged
forms:

- ``{"__nd__": [dtype, shape, base64]}``: a numpy array of an allowed dtype, rebuilt by the
  receiver as a fresh, writable array, so nothing the sender made survives the crossing but
  its bytes;
- ``{"__shm__": [dtype, shape, offset]}``: an array argument of a call, whose bytes are at
  ``offset`` of the call's shared file (:class:`SharedArrays`); only the grader sends these,
  and the child builds its argument on the file mapped ``MAP_SHARED``, so that the grader can
  read back, itself, what the call left there;
- ``{"__sc__": [dtype, base64]}``: a numpy scalar of an allowed dtype (``np.float64(0.5)``),
  rebuilt as a numpy scalar of that dtype, so a value keeps its type across the boundary;
- ``{"__tuple__": [...]}`` and ``{"__set__": [...]}``: tuples and sets;
- ``{"__handle__": n}``: a value the child could not send as plain data; it stays in the child
  and the parent may pass the handle back in a later call (it never compares equal to anything);
- ``{"__callback__": name}``: a callable that lives in the parent; the child calls it through
  the channel and gets plain data back;
- ``{"__helper__": [module, function]}``: a public course helper (a function of a module
  under ``checks/`` that the course lists as a sandbox helper); the child runs its own copy,
  so calling it costs no round trip;
- ``{"__rng__": state}``: a ``numpy.random.Generator``, sent as its bit generator's state and
  rebuilt on the other side in exactly that state.

The child loads this module too (from its own folder, with :mod:`grader.sandbox.frames`), so it
depends on numpy and the standard library only.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .frames import (
    MAX_MESSAGE,
    READ_FACTOR,
    READ_SIZE,
    ChannelClosed,
    ChannelTimeout,
    MessageTooLarge,
    Reader,
    WireError,
    dumps,
    write,
    write_message,
)

__all__ = [
    "ALLOWED_DTYPES", "BIT_GENERATORS", "MAX_MESSAGE", "READ_FACTOR", "READ_SIZE",
    "SHARED_ALIGN", "Callback", "ChannelClosed", "ChannelTimeout", "Handle", "Helper",
    "MessageTooLarge", "Reader", "SharedArrays", "WireError", "decode", "dumps", "encode",
    "make_rng", "rng_states", "write", "write_message",
]

#: dtypes that may cross the boundary; anything else (object, void, datetime ...) is refused.
ALLOWED_DTYPES = frozenset(
    {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
     "uint16", "uint32", "uint64", "complex128"}
)
#: each allowed dtype in native byte order, and its name (``dtype.name`` costs microseconds)
_NATIVE = {np.dtype(name): name for name in ALLOWED_DTYPES}
_BY_NAME = {name: np.dtype(name) for name in ALLOWED_DTYPES}
#: where shared arrays start in a call's file: cache-line aligned, so aligned for every dtype
SHARED_ALIGN = 64


@dataclass(frozen=True, eq=False)
class Handle:
    """A value that stayed in the child because it is not plain data."""

    number: int
    type_name: str = "object"

    def __repr__(self) -> str:
        return f"<{self.type_name} object kept in the sandbox>"


@dataclass(frozen=True)
class Callback:
    """A reference to a parent-side callable, by name."""

    name: str


@dataclass(frozen=True)
class Helper:
    """A reference to a public course helper function that runs in the child itself."""

    module: str
    function: str

    @property
    def key(self) -> str:
        """Its name among a call's callbacks, where it runs in-process instead."""
        return f"helper:{self.module}.{self.function}"


class SharedArrays:
    """The array arguments of one call, laid out as the bytes of one file the child maps.

    :func:`encode` given one puts each non-empty array here instead of inline (its native
    bytes, C order, at a :data:`SHARED_ALIGN`-aligned offset) and counts the handles it
    passes, whose contents stay in the child. The grader writes :attr:`data` to a new file,
    the child maps that file ``MAP_SHARED`` and builds its arguments on it, and after the
    call the grader reads the file back and compares: what the call left in its array
    arguments is the grader's own observation.

    Attributes
    ----------
    data : bytearray
        The file's contents, as sent.
    regions : list of (int, int)
        ``(offset, nbytes)`` of each array, in the order :func:`encode` met them.
    handles : int
        How many :class:`Handle` values the encoded arguments hold.
    """

    def __init__(self) -> None:
        self.data = bytearray()
        self.regions: list[tuple[int, int]] = []
        self.handles = 0

    def add(self, name: str, array: np.ndarray[Any, Any]) -> dict[str, Any]:
        """Append a native-order array of dtype ``name``; return its tag."""
        offset = -len(self.data) % SHARED_ALIGN + len(self.data)
        self.data += bytes(offset - len(self.data))
        self.data += array.tobytes()  # C order
        self.regions.append((offset, array.nbytes))
        return {"__shm__": [name, list(array.shape), offset]}

    def changed(self, after: bytes) -> list[int]:
        """The indices of the regions whose bytes differ in ``after`` (the file read back)."""
        if after == self.data:
            return []
        return [i for i, (offset, size) in enumerate(self.regions)
                if after[offset:offset + size] != self.data[offset:offset + size]]


def encode(value: Any, *, keep: dict[int, Any] | None = None,
           shared: SharedArrays | None = None) -> Any:
    """Turn a value into JSON-ready plain data.

    Parameters
    ----------
    value : Any
        The value to encode.
    keep : dict or None
        Where non-plain values are stored when given (the child's handle table); when None a
        non-plain value raises :class:`WireError`.
    shared : SharedArrays or None
        Where non-empty arrays go instead of inline base64 (a call's arguments, grader side).

    Returns
    -------
    Any
        Nested lists, dicts, numbers, strings and tagged dicts.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):  # before float: np.float64 is a float too
        name = _NATIVE.get(value.dtype)
        if name is not None:  # crosses as itself: code that calls z.ndim on a float64 works
            return {"__sc__": [name, base64.b64encode(value.tobytes()).decode("ascii")]}
        if not isinstance(value, np.void | np.object_):
            return encode(value.item(), keep=keep)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, np.ndarray):
        name = _NATIVE.get(value.dtype)
        if name is None:  # another dtype, or an allowed one in the other byte order
            native = value.dtype.newbyteorder("=")
            name = _NATIVE.get(native) if value.dtype.kind in "biufc" else None
            if name is None:
                return _keep(value, keep)
            value = value.astype(native)
        if shared is not None and value.size:
            return shared.add(name, value)
        # native byte order, C order (tobytes' default), same shape (0-d arrays stay 0-d)
        return {"__nd__": [name, list(value.shape),
                           base64.b64encode(value.tobytes()).decode("ascii")]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, keep=keep, shared=shared) for v in value]}
    if isinstance(value, list):
        return [encode(v, keep=keep, shared=shared) for v in value]
    if isinstance(value, set | frozenset):
        return {"__set__": [encode(v, keep=keep) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        if any(k.startswith("__") and k.endswith("__") for k in value):
            return _keep(value, keep)
        return {k: encode(v, keep=keep, shared=shared) for k, v in value.items()}
    if isinstance(value, np.random.Generator):
        return {"__rng__": encode(value.bit_generator.state)}
    if isinstance(value, Handle):
        if shared is not None:
            shared.handles += 1
        return {"__handle__": value.number}
    if isinstance(value, Callback):
        return {"__callback__": value.name}
    if isinstance(value, Helper):
        return {"__helper__": [value.module, value.function]}
    return _keep(value, keep)


def _encode_float(x: float) -> Any:
    if math.isfinite(x):
        return x
    return {"__float__": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _keep(value: Any, keep: dict[int, Any] | None) -> Any:
    if keep is None:
        raise WireError(f"a {type(value).__name__} is not plain data")
    number = len(keep) + 1
    keep[number] = value
    return {"__handle__": number, "type": type(value).__name__}


def decode(data: Any, *, depth: int = 0, shared: Any = None) -> Any:
    """Rebuild plain data from its JSON form: fresh arrays, Python numbers, tuples, sets.

    Array payloads are taken out of ``data`` as they are decoded (so that a large message's
    text is freed while its arrays are built): decode a parsed message once.

    Parameters
    ----------
    data : Any
        What ``json.loads`` (or :meth:`Reader.read`) returned.
    depth : int
        Current nesting depth (values nested deeper than 64 levels are refused).
    shared : buffer or None
        The call's shared file, mapped (child side): ``__shm__`` arrays are built on it,
        writable and without a copy. None (the grader's side) refuses them.

    Returns
    -------
    Any
        The value, with :class:`Handle` and :class:`Callback` for the tagged references.
    """
    if depth > 64:
        raise WireError("value nested too deeply")
    if data is None or isinstance(data, bool | str | int | float):
        return data
    if isinstance(data, list):
        return [decode(v, depth=depth + 1, shared=shared) for v in data]
    if not isinstance(data, dict):
        raise WireError(f"unexpected JSON value of type {type(data).__name__}")
    if "__nd__" in data:
        return _decode_array(data["__nd__"])
    if "__sc__" in data:
        return _decode_scalar(data["__sc__"])
    if "__shm__" in data:
        return _shared_array(data["__shm__"], shared)
    if "__tuple__" in data:
        return tuple(decode(v, depth=depth + 1, shared=shared)
                     for v in _as_list(data["__tuple__"]))
    if "__set__" in data:
        try:
            return {decode(v, depth=depth + 1) for v in _as_list(data["__set__"])}
        except TypeError as exc:
            raise WireError("a set of unhashable values") from exc
    if "__float__" in data:
        if data["__float__"] not in ("nan", "inf", "-inf"):
            raise WireError("malformed float")
        return float(data["__float__"])
    if "__handle__" in data:
        number = data["__handle__"]
        if not isinstance(number, int):
            raise WireError("malformed handle")
        return Handle(number, str(data.get("type", "object")))
    if "__callback__" in data:
        return Callback(str(data["__callback__"]))
    if "__helper__" in data:
        names = _as_list(data["__helper__"])
        if len(names) != 2:
            raise WireError("malformed helper")
        return Helper(str(names[0]), str(names[1]))
    if "__rng__" in data:
        return make_rng(decode(data["__rng__"], depth=depth + 1))
    return {str(k): decode(v, depth=depth + 1, shared=shared) for k, v in data.items()}


BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def make_rng(state: Any) -> np.random.Generator:
    """Build a fresh ``Generator`` in the given bit-generator state (as ``.state`` returns)."""
    if not isinstance(state, dict) or state.get("bit_generator") not in BIT_GENERATORS:
        raise WireError("malformed random generator state")
    bit_generator = getattr(np.random, state["bit_generator"])()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise WireError("malformed random generator state") from exc
    return np.random.Generator(bit_generator)


def rng_states(args: Any, kwargs: Any = None) -> dict[str, Any]:
    """The states of the ``Generator`` arguments: ``{"args": [state or None, ...],
    "kwargs": {name: state}}``, so the caller can advance its own generators to match."""
    def state(a: Any) -> Any:
        return encode(a.bit_generator.state) if isinstance(a, np.random.Generator) else None

    return {"args": [state(a) for a in args],
            "kwargs": {k: state(v) for k, v in (kwargs or {}).items()
                       if isinstance(v, np.random.Generator)}}


def _as_list(x: Any) -> list[Any]:
    if not isinstance(x, list):
        raise WireError("malformed tagged value")
    return x


def _array_spec(spec: Any) -> tuple[np.dtype[Any], list[int], Any]:
    """Check ``[dtype, shape, payload]``; the dtype, the shape and the payload."""
    if not (isinstance(spec, list) and len(spec) == 3):
        raise WireError("malformed array")
    dtype, shape, payload = spec
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise WireError(f"arrays of dtype {dtype!r} may not cross the sandbox boundary")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise WireError("malformed array shape")
    return _BY_NAME[dtype], shape, payload


def _decode_scalar(spec: Any) -> np.generic:
    if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[1], str)):
        raise WireError("malformed scalar")
    dtype = spec[0]
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise WireError(f"scalars of dtype {dtype!r} may not cross the sandbox boundary")
    dt = _BY_NAME[dtype]
    try:
        raw = base64.b64decode(spec[1].encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise WireError("scalar data is not base64") from exc
    if len(raw) != dt.itemsize:
        raise WireError("scalar data does not match its dtype")
    scalar: np.generic = np.frombuffer(raw, dtype=dt)[0]
    return scalar


def _decode_array(spec: Any) -> np.ndarray[Any, Any]:
    dt, shape, payload = _array_spec(spec)
    if not isinstance(payload, str):
        raise WireError("malformed array data")
    spec[2] = None  # the message no longer holds the text: it is freed once decoded
    try:  # straight from the str (no ASCII copy), validated in C
        raw = binascii.a2b_base64(payload, strict_mode=True)
    except (ValueError, binascii.Error) as exc:
        raise WireError("array data is not base64") from exc
    del payload
    if len(raw) != dt.itemsize * math.prod(shape):
        raise WireError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()  # writable, owns its data


def _shared_array(spec: Any, shared: Any) -> np.ndarray[Any, Any]:
    if shared is None:
        raise WireError("a shared array where no shared file was offered")
    dt, shape, offset = _array_spec(spec)
    count = math.prod(shape)
    if not (isinstance(offset, int) and 0 <= offset
            and offset + count * dt.itemsize <= len(shared)):
        raise WireError("malformed shared array")
    return np.frombuffer(shared, dtype=dt, count=count, offset=offset).reshape(shape)
