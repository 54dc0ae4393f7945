"""Student-controlled text made inert: valid JSON, harmless in a terminal, CSV and file names.

A hostile student controls their entry's name (the student id) and whatever their code prints
or raises (the feedback). Each place that text reaches has its own danger, and its own filter:

- JSON: a lone surrogate (``"\\ud800"``) cannot be encoded as UTF-8, so a result holding one
  could not be written (`text`);
- terminals: control characters and escape sequences recolour, clear or retitle the
  instructor's terminal, and a carriage return overwrites a line (`terminal`);
- spreadsheets: a cell starting with ``= + - @``, a tab or a carriage return is a formula
  (`csv_cell`);
- file names: ``<id>.json`` and ``<id>.gradescope.json`` share one folder, so an id ending in
  ``.gradescope`` would name another student's file (`filename`).
"""

from __future__ import annotations

import hashlib
import re
import string

_SURROGATE = re.compile("[\ud800-\udfff]")
#: what a terminal acts on: C0 controls but tab and newline, DEL, C1 controls (``\x9b`` is a
#: one-byte CSI), bidirectional overrides and isolates (they reorder what is shown), line and
#: paragraph separators, and lone surrogates
_TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                       "\u2066-\u2069\ud800-\udfff]")
_LINE = re.compile("[\t\n]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NAME_SAFE = frozenset(string.ascii_letters + string.digits + "_-")
#: longest file-name stem kept as it is; longer ones are cut and end in a digest
_NAME_BYTES = 180


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text(value: str) -> str:
    """``value`` as text that encodes as UTF-8: each lone surrogate becomes its escape
    (``\\ud800``), so a result holding it can always be written."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(_escape, value)
    return value


def terminal(value: str) -> str:
    """``value`` safe to print: every control character, escape sequence introducer,
    bidirectional control and lone surrogate shown as its escape (``\\x1b``), so it is read,
    not obeyed. Newlines and tabs are kept."""
    return _TERMINAL.sub(_escape, value)


def one_line(value: str) -> str:
    """``value`` safe to print within one line (an id in a progress line): `terminal`, and
    newlines and tabs escaped too."""
    return _LINE.sub(_escape, terminal(value))


def csv_cell(value: str) -> str:
    """``value`` for a spreadsheet cell: control characters escaped as for a terminal (a
    lone CR would split the row), and prefixed with ``'`` when a spreadsheet would read it as
    a formula (it starts with ``= + - @``, a tab or a CR)."""
    value = text(value)
    escaped = terminal(value)
    return "'" + escaped if value.startswith(_FORMULA) else escaped


def filename(student: str) -> str:
    """The stem of a student's files in an output folder, one-to-one with the id.

    ASCII letters, digits, ``_``, ``-`` and non-ASCII letters and digits stay as they are;
    every other character is written ``%XX`` per UTF-8 byte (``.`` is ``%2E``, ``%`` is
    ``%25``). So a stem never holds a dot, a slash or a control character, and
    ``<stem>.json`` and ``<stem>.gradescope.json`` can never be another student's files. A
    stem longer than 180 bytes is cut and ends in ``~`` and a digest of the whole id (``~``
    is escaped elsewhere, so a cut stem cannot equal an uncut one).

    Parameters
    ----------
    student : str
        The student id (any string, even with lone surrogates).

    Returns
    -------
    str
        The file-name stem, at most about 200 bytes.
    """
    parts = []
    for char in student:
        if char in _NAME_SAFE or (ord(char) > 127 and char.isalnum()):
            parts.append(char)
        else:
            parts.extend(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
    stem = "".join(parts)
    if len(stem.encode("utf-8")) <= _NAME_BYTES:
        return stem
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    cut = stem.encode("utf-8")[:_NAME_BYTES - 20].decode("utf-8", "ignore")
    return f"{cut}~{digest}"  # the digest keeps it one-to-one, wherever the cut falls
