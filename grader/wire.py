"""Plain-data wire format between the grader and the sandboxed child: JSON, never pickle.

A message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. Values are
numbers, strings, booleans, None, lists and string-keyed dicts, plus four tagged forms:

- ``{"__nd__": [dtype, shape, base64]}``: a numpy array of an allowed dtype, rebuilt by the
  receiver as a fresh, writable array (``np.frombuffer(...).copy()``), so nothing the sender
  made survives the crossing but its bytes;
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

This module is imported by the child too, so it depends on numpy and the standard library only.
"""

from __future__ import annotations

import base64
import json
import math
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

#: dtypes that may cross the boundary; anything else (object, void, datetime ...) is refused.
ALLOWED_DTYPES = frozenset(
    {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
     "uint16", "uint32", "uint64", "complex128"}
)
#: each allowed dtype in native byte order, and its name (``dtype.name`` costs microseconds)
_NATIVE = {np.dtype(name): name for name in ALLOWED_DTYPES}
_BY_NAME = {name: np.dtype(name) for name in ALLOWED_DTYPES}
#: the largest message either side accepts (bytes).
MAX_MESSAGE = 512 * 1024 * 1024
_HEADER = struct.Struct(">I")


class WireError(Exception):
    """A message that is not well-formed plain data."""


class ChannelClosed(WireError):
    """The other side closed the channel (usually: the child process ended)."""


class ChannelTimeout(WireError):
    """No complete message arrived before the deadline."""


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


def encode(value: Any, *, keep: dict[int, Any] | None = None) -> Any:
    """Turn a value into JSON-ready plain data.

    Parameters
    ----------
    value : Any
        The value to encode.
    keep : dict or None
        Where non-plain values are stored when given (the child's handle table); when None a
        non-plain value raises :class:`WireError`.

    Returns
    -------
    Any
        Nested lists, dicts, numbers, strings and tagged dicts.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, np.generic) and not isinstance(value, np.void | np.object_):
        return encode(value.item(), keep=keep)
    if isinstance(value, np.ndarray):
        name = _NATIVE.get(value.dtype)
        if name is None:  # another dtype, or an allowed one in the other byte order
            native = value.dtype.newbyteorder("=")
            name = _NATIVE.get(native) if value.dtype.kind in "biufc" else None
            if name is None:
                return _keep(value, keep)
            value = value.astype(native)
        # native byte order, C order (tobytes' default), same shape (0-d arrays stay 0-d)
        return {"__nd__": [name, list(value.shape),
                           base64.b64encode(value.tobytes()).decode("ascii")]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, keep=keep) for v in value]}
    if isinstance(value, list):
        return [encode(v, keep=keep) for v in value]
    if isinstance(value, set | frozenset):
        return {"__set__": [encode(v, keep=keep) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        if any(k.startswith("__") and k.endswith("__") for k in value):
            return _keep(value, keep)
        return {k: encode(v, keep=keep) for k, v in value.items()}
    if isinstance(value, np.random.Generator):
        return {"__rng__": encode(value.bit_generator.state)}
    if isinstance(value, Handle):
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


def decode(data: Any, *, depth: int = 0) -> Any:
    """Rebuild plain data from its JSON form: fresh arrays, Python numbers, tuples, sets.

    Parameters
    ----------
    data : Any
        What ``json.loads`` returned.
    depth : int
        Current nesting depth (values nested deeper than 64 levels are refused).

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
        return [decode(v, depth=depth + 1) for v in data]
    if not isinstance(data, dict):
        raise WireError(f"unexpected JSON value of type {type(data).__name__}")
    if "__nd__" in data:
        return _decode_array(data["__nd__"])
    if "__tuple__" in data:
        return tuple(decode(v, depth=depth + 1) for v in _as_list(data["__tuple__"]))
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
    return {str(k): decode(v, depth=depth + 1) for k, v in data.items()}


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


def _decode_array(spec: Any) -> np.ndarray[Any, Any]:
    if not (isinstance(spec, list) and len(spec) == 3):
        raise WireError("malformed array")
    dtype, shape, payload = spec
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise WireError(f"arrays of dtype {dtype!r} may not cross the sandbox boundary")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise WireError("malformed array shape")
    if not isinstance(payload, str):
        raise WireError("malformed array data")
    try:
        raw = base64.b64decode(payload.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise WireError("array data is not base64") from exc
    dt = _BY_NAME[dtype]
    if len(raw) != dt.itemsize * math.prod(shape):
        raise WireError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()


def dumps(message: Any) -> bytes:
    """Frame an already-encoded message: length header plus JSON bytes."""
    # encode() built a tree (no cycles), so json need not track the containers it visited
    body = json.dumps(message, separators=(",", ":"), allow_nan=False,
                      check_circular=False).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def write_message(fd: int, message: Any) -> None:
    """Write one framed message to a file descriptor (blocking until all is written)."""
    data = memoryview(dumps(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


#: bytes asked for per read: a pipe holds 64 KiB, and a larger buffer (1 MiB) would be an mmap
#: and munmap of its own on every message
READ_SIZE = 1 << 16


class Reader:
    """Reads framed messages from a file descriptor, with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def read(self, deadline: float | None = None) -> Any:
        """Return the next message (parsed JSON, not yet decoded).

        Parameters
        ----------
        deadline : float or None
            A ``time.monotonic()`` instant; past it :class:`ChannelTimeout` is raised.
        """
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                if size > MAX_MESSAGE:
                    raise WireError(f"message of {size} bytes is over the limit")
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[_HEADER.size:end])
                    del self._buffer[:end]
                    try:
                        return json.loads(body)
                    except (ValueError, RecursionError) as exc:
                        raise WireError("message is not valid JSON") from exc
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChannelTimeout("no answer before the deadline")
                ready, _, _ = select.select([self.fd], [], [], left)
                if not ready:
                    raise ChannelTimeout("no answer before the deadline")
            chunk = os.read(self.fd, READ_SIZE)
            if not chunk:
                raise ChannelClosed("the channel was closed")
            self._buffer.extend(chunk)
