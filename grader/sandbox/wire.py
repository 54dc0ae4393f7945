"""Plain-data wire format between the grader and the sandboxed child: JSON, never pickle.

A message is a 4-byte big-endian length followed by that many bytes of ASCII JSON (non-ASCII
text travels as ``\\u`` escapes). Values are numbers, strings, booleans, None, lists and
string-keyed dicts, plus these tagged forms:

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

Bounds, on the grader's side of the channel:

- every read and every write the grader makes has a deadline (:meth:`Reader.read`,
  :func:`write`): a write never blocks past it, even when the child stops reading, because
  the grader's end is made non-blocking (the child, which trusts the grader, waits);
- a message larger than the reader's ``limit`` is refused as soon as its 4-byte header is
  read (:class:`MessageTooLarge`): of its body at most what came with the header in one read
  (64 KiB) is taken, and nothing is kept;
- reading one message of ``S`` bytes takes at most :data:`READ_FACTOR` ``* S`` (8 S) of
  memory at its peak: the body, read straight into one buffer of exactly its size, then its
  text (ASCII only: anything else is refused), then the parsed values, each freed as soon as
  the next exists. Measured in ``tests/test_channels.py``: 2 S when the text is ASCII, 3 S
  when a long string holds a character of two bytes, 7 S when it holds one character outside
  the Basic Multilingual Plane, which makes Python store the whole string at four bytes a
  character;
- every string received is valid Unicode: lone surrogates (``"\\ud800"``, which no UTF-8
  writer accepts) become U+FFFD, checked only in messages that contain such an escape.

This module is imported by the child too, so it depends on numpy and the standard library only.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
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
#: the largest message a reader accepts unless given a smaller ``limit`` (bytes); the grader
#: reads the child with ``Limits.message_mb``, the child trusts the grader up to this
MAX_MESSAGE = 512 * 1024 * 1024
_HEADER = struct.Struct(">I")
#: the most memory reading one message takes, in multiples of its size (see the docstring)
READ_FACTOR = 8
#: where shared arrays start in a call's file: cache-line aligned, so aligned for every dtype
SHARED_ALIGN = 64
#: a JSON escape of a surrogate code point (or of U+D000..U+D7FF, rarer still): the only way
#: a lone surrogate, which no UTF-8 writer accepts, can reach a parsed string
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class WireError(Exception):
    """A message that is not well-formed plain data."""


class ChannelClosed(WireError):
    """The other side closed the channel (usually: the child process ended)."""


class ChannelTimeout(WireError):
    """No complete message arrived, or could be sent, before the deadline."""


class MessageTooLarge(WireError):
    """A message over the size limit: refused at its header, or before it was sent."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a message of {_mb(size)} is over the limit of {_mb(limit)}")
        self.size = size
        self.limit = limit


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.3g} MB"


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


def dumps(message: Any) -> bytes:
    """Frame an already-encoded message: length header plus JSON bytes (ASCII)."""
    # encode() built a tree (no cycles), so json need not track the containers it visited
    body = json.dumps(message, separators=(",", ":"), allow_nan=False,
                      check_circular=False).encode("ascii")
    return _HEADER.pack(len(body)) + body


def write(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write framed bytes to a file descriptor, all of them, or fail at the deadline.

    Parameters
    ----------
    fd : int
        The channel's write end. With a deadline it is switched to non-blocking mode (the
        grader's end is its own: the child holds only the other end).
    data : bytes
        A frame from :func:`dumps`.
    deadline : float or None
        A ``time.monotonic()`` instant; past it :class:`ChannelTimeout` is raised, however
        much was written. None blocks until all is written (the child's side).
    """
    view = memoryview(data)
    if deadline is None:
        while view:
            view = view[os.write(fd, view):]
        return
    if os.get_blocking(fd):
        os.set_blocking(fd, False)
    while view:
        try:
            view = view[os.write(fd, view):]
            continue
        except BlockingIOError:
            pass
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise ChannelTimeout("the other side did not read before the deadline")


def write_message(fd: int, message: Any, deadline: float | None = None) -> None:
    """Write one framed message (see :func:`write`)."""
    write(fd, dumps(message), deadline)


#: bytes asked for per read: a pipe holds 64 KiB, and a larger buffer (1 MiB) would be an mmap
#: and munmap of its own on every message
READ_SIZE = 1 << 16


class Reader:
    """Reads framed messages from a file descriptor, with a deadline and a size limit.

    Parameters
    ----------
    fd : int
        The channel's read end.
    limit : int
        The largest message body accepted, in bytes; a larger one is refused at its header.
    """

    def __init__(self, fd: int, limit: int = MAX_MESSAGE) -> None:
        self.fd = fd
        self.limit = limit
        self._buffer = bytearray()

    def read(self, deadline: float | None = None) -> Any:
        """Return the next message (parsed JSON, not yet decoded).

        Parameters
        ----------
        deadline : float or None
            A ``time.monotonic()`` instant; past it :class:`ChannelTimeout` is raised.

        Raises
        ------
        MessageTooLarge
            The header announces more than ``limit`` bytes (the body is not read).
        WireError
            The body is not ASCII JSON.
        """
        text = self._text(deadline)
        try:
            message = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise WireError("message is not valid JSON") from exc
        # a lone surrogate can only come from a \ud8.. to \udf.. escape: look for one only
        # where such an escape is (a fast substring search), and mend it once, here
        if ("\\ud" in text or "\\uD" in text) and _SURROGATE_ESCAPE.search(text):
            del text
            message = _mended(message, 0)
        return message

    def _text(self, deadline: float | None) -> str:
        """The next message's body, as text (its bytes are freed on return)."""
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                if size > self.limit:
                    raise MessageTooLarge(size, self.limit)
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    body = self._buffer[_HEADER.size:end]
                    del self._buffer[:end]
                    return _ascii(body)
                if size > READ_SIZE:  # a large message: read it into a buffer of its size
                    return _ascii(self._large(size, deadline))
            self._wait(deadline)
            chunk = os.read(self.fd, READ_SIZE)
            if not chunk:
                raise ChannelClosed("the channel was closed")
            self._buffer += chunk

    def _large(self, size: int, deadline: float | None) -> bytearray:
        """Read a body of ``size`` bytes, the start of which is buffered, without copies and
        without reading past it."""
        body = bytearray(size)
        have = len(self._buffer) - _HEADER.size
        body[:have] = self._buffer[_HEADER.size:]
        self._buffer.clear()
        with memoryview(body) as view:
            while have < size:
                self._wait(deadline)
                got = os.readv(self.fd, [view[have:]])
                if not got:
                    raise ChannelClosed("the channel was closed")
                have += got
        return body

    def _wait(self, deadline: float | None) -> None:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise ChannelTimeout("no answer before the deadline")


def _ascii(body: bytearray) -> str:
    if not body.isascii():  # what dumps writes is ASCII: anything else is forged
        raise WireError("message is not ASCII JSON")
    return body.decode("ascii")


def _mended(value: Any, depth: int) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if depth > 100:
        raise WireError("value nested too deeply")
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_mended(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {_SURROGATE.sub("\ufffd", k): _mended(v, depth + 1) for k, v in value.items()}
    return value
