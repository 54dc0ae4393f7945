"""Framing of the messages between the grader and the sandboxed child: length, deadlines, limits.

A message is a 4-byte big-endian length followed by that many bytes of ASCII JSON (non-ASCII
text travels as ``\\u`` escapes); what the JSON holds is :mod:`grader.sandbox.wire`'s business,
which re-exports every name here. Bounds, on the grader's side of the channel:

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

The child loads this module too (from its own folder), so it needs the standard library only.
"""

from __future__ import annotations

import json
import os
import re
import select
import struct
import time
from typing import Any

#: the largest message a reader accepts unless given a smaller ``limit`` (bytes); the grader
#: reads the child with ``Limits.message_mb``, the child trusts the grader up to this
MAX_MESSAGE = 512 * 1024 * 1024
_HEADER = struct.Struct(">I")
#: the most memory reading one message takes, in multiples of its size (see the docstring)
READ_FACTOR = 8
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
