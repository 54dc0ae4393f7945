"""Gradebooks for learning management systems: Canvas and Moodle grade-import CSV files.

The grader knows a student by their submission's name (a folder, zip or notebook stem:
``alice.zip`` is ``alice``); the LMS knows them by its own user fields. A **roster**, the
LMS's own CSV export of the class, maps one to the other: the roster column named by
``id_column`` (``SIS Login ID`` in a Canvas gradebook export, ``Email address`` in a Moodle
grades export by default) holds, for each LMS user, the grader's student id. Values are
matched ignoring case, surrounding spaces and Unicode normal form (a macOS file name in NFD
is the roster's NFC name). Every roster student gets a row; one without a result gets a
blank grade (or ``missing_score``) and is reported, never dropped; a result whose student is
not in the roster is reported too, and so are two results that match one roster student.

Formats written:

- **Canvas** ("Import scores in the Gradebook", Canvas Instructor Guide): header
  ``Student,ID,SIS User ID,SIS Login ID,Section,<assignment columns>``, Canvas matching each
  row by ``ID``, ``SIS User ID`` or ``SIS Login ID``; an assignment column is titled
  ``Name (assignment id)`` for an existing assignment, a new title creates one; the second
  row is the ``Points Possible`` row, as Canvas exports it.
- **Moodle** (Grades > Import > CSV file, Moodle docs "Import grades"): a header row, one
  row per user, one column identifying the user (mapped in the import form: "Map from" the
  column, "Map to" email address, username, ID number or user id) and one column per grade
  item (mapped to an item, or to a new one, in the same form).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

from grader.engine.results import Result
from grader.util import inert
from grader.util.files import atomic_write

__all__ = ["CANVAS_HEADER", "DEFAULT_ID_COLUMN", "Export", "LmsError", "Roster", "export",
           "read_roster"]

Lms = Literal["canvas", "moodle"]

#: the user columns that open a Canvas gradebook import, in order
CANVAS_HEADER: Final = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: the first cell of Canvas's points-possible row (as Canvas exports it)
POINTS_POSSIBLE: Final = "    Points Possible"
#: the roster column holding the grader's student id, by default, per LMS
DEFAULT_ID_COLUMN: Final[Mapping[str, str]] = MappingProxyType(
    {"canvas": "SIS Login ID", "moodle": "Email address"})
#: roster columns copied into a Moodle file beside the identifier, for people to read
MOODLE_NAMES: Final = ("First name", "Last name")
#: roster columns holding people's names (never matched on by the LMS's import)
_NAMES: Final = frozenset({"Student", *MOODLE_NAMES})
#: largest roster accepted (bytes): a class export, not a data dump
MAX_ROSTER_BYTES: Final = 50 * 2**20


class LmsError(Exception):
    """The roster or the options cannot make a gradebook (a usage error: exit code 2)."""


@dataclass
class Roster:
    """The class as the LMS lists it.

    Attributes
    ----------
    columns : list of str
        The roster's header.
    rows : list of dict of str to str
        One per user, column to value (special rows such as Canvas's "Points Possible" left
        out).
    id_column : str
        The column holding the grader's student id.
    """

    columns: list[str]
    rows: list[dict[str, str]]
    id_column: str

    def key(self, row: dict[str, str]) -> str:
        """The student id a row stands for, as matched (case, outer spaces and Unicode
        normal form ignored)."""
        return _key(row.get(self.id_column, ""))


@dataclass
class Export:
    """A gradebook for one LMS and what could not be matched.

    Attributes
    ----------
    text : str
        The CSV.
    missing : list of str
        Roster students (their ``id_column`` value) without a result: written blank (or
        with the missing score).
    unmatched : list of str
        Students with a result whom the roster does not list: not in the file.
    ambiguous : dict of str to list of str
        Each roster student (their ``id_column`` value) matched by two or more results
        (``Alice/`` and ``alice/``), to those results' students, sorted: no grade written
        (which one is theirs is not known).
    written : int
        Rows with a grade.
    """

    text: str
    missing: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    written: int = 0

    def write(self, path: Path) -> None:
        """Write the CSV atomically."""
        atomic_write(path, self.text)


def read_roster(path: Path, id_column: str) -> Roster:
    """Read an LMS export of the class.

    Parameters
    ----------
    path : Path
        A CSV file (UTF-8, with or without a byte-order mark, as Excel and Moodle write it).
    id_column : str
        The column holding the grader's student id (matched ignoring case).

    Returns
    -------
    Roster

    Raises
    ------
    LmsError
        The file cannot be read, is not a CSV with that column, or lists one id twice.
    """
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise LmsError(f"{path} is over {MAX_ROSTER_BYTES} bytes: is it the class roster?")
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise LmsError(f"{path} is not UTF-8 text: export the roster as CSV (UTF-8)") from None
    except OSError as exc:
        raise LmsError(f"cannot read the roster {path}: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [c.strip() for c in next(reader, [])]
    if not any(header):
        raise LmsError(f"{path} is empty: export the class from the LMS as CSV")
    column = next((c for c in header if c.casefold() == id_column.strip().casefold()), None)
    if column is None:
        shown = ", ".join(repr(c) for c in header if c)
        raise LmsError(f"the roster {path} has no column {id_column!r}; its columns are "
                       f"{shown}: pass the one holding the submissions' names with "
                       "--id-column")
    rows = [dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
            for cells in reader if any(c.strip() for c in cells)]
    roster = Roster(header, [r for r in rows if not _special(r)], column)
    seen: dict[str, int] = {}
    for row in roster.rows:
        key = roster.key(row)
        if key:
            seen[key] = seen.get(key, 0) + 1
    twice = sorted(k for k, n in seen.items() if n > 1)
    if twice:
        raise LmsError(f"the roster {path} lists {', '.join(twice)} more than once in "
                       f"{column!r}: choose a column that names each student once "
                       "(--id-column)")
    return roster


def _special(row: dict[str, str]) -> bool:
    """Canvas's "Points Possible" (and posting-policy) rows: no user id at all."""
    if row.get("Student", "").strip() == POINTS_POSSIBLE.strip():
        return True
    ids = [row[c] for c in ("ID", "SIS User ID", "SIS Login ID") if c in row]
    return bool(ids) and not any(v.strip() for v in ids) and not row.get("Student", "").strip()


def _key(value: str) -> str:
    """A student id as matched: NFC, case folded, outer spaces stripped."""
    return unicodedata.normalize("NFC", value.strip()).casefold()


def export(lms: Lms, roster: Roster, results: Iterable[Result], *, column: str | None = None,
           modules: Sequence[str] = (), missing_score: float | None = None) -> Export:
    """The gradebook of ``results`` in the import format of ``lms``.

    Parameters
    ----------
    lms : {"canvas", "moodle"}
        Which import format.
    roster : Roster
        The class as the LMS lists it; one row per roster student, in its order.
    results : iterable of Result
        The results (``grader.engine.results.iter_results``).
    column : str, optional
        The grade column's title (default: for Canvas the roster's column for this
        assignment, ``Name (id)``, when there is exactly one; else the assignment's name).
    modules : sequence of str
        Also write one column per module, titled ``<column>: <module>``.
    missing_score : float, optional
        The grade of a roster student without a result (default: blank).

    Returns
    -------
    Export
    """
    grouped: dict[str, list[Result]] = {}
    for result in results:
        grouped.setdefault(_key(result["student"]), []).append(result)
    assignment = next((r.get("assignment", "") for g in grouped.values() for r in g
                       if r.get("assignment")), "")
    title = column or _default_column(lms, roster, assignment or "grader")
    items = [title, *(f"{title}: {m}" for m in modules)]
    known = {roster.key(row): row.get(roster.id_column, "").strip() for row in roster.rows}
    # ids equal once matched (Alice/ and alice/): which is the student's is not known
    twins = {k: sorted(r["student"] for r in g) for k, g in grouped.items() if len(g) > 1}
    by_key = {k: g[0] for k, g in grouped.items() if k not in twins}
    out = Export("", unmatched=sorted(
        [*(r["student"] for k, r in by_key.items() if k not in known),
         *(s for k, names in twins.items() if k not in known for s in names)]),
        ambiguous={known[k]: names for k, names in sorted(twins.items()) if k in known})
    every = [r for g in grouped.values() for r in g]
    top = max((float(r["max_score"]) for r in every), default=0.0)
    module_tops = {m: max((float(r["modules"][m]["max_score"]) for r in every
                           if m in r["modules"]), default=0.0) for m in modules}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if lms == "canvas":
        user_columns: list[str] = list(CANVAS_HEADER)
        writer.writerow([*user_columns, *items])
        writer.writerow([POINTS_POSSIBLE, *[""] * (len(user_columns) - 1), _num(top),
                         *(_num(module_tops[m]) for m in modules)])
    else:
        user_columns = [roster.id_column, *(c for c in MOODLE_NAMES
                                            if c in roster.columns and c != roster.id_column)]
        writer.writerow([*user_columns, *items])
    for row in roster.rows:
        key = roster.key(row)
        found = by_key.get(key) if key else None
        if found is None:
            if key not in twins:  # (a student with two results is reported as ambiguous)
                out.missing.append(row.get(roster.id_column, "").strip() or _who(row))
            blank = "" if missing_score is None else _num(missing_score)
            grades = [blank] * len(items)
        else:
            out.written += 1
            grades = [_num(found["score"]),
                      *(_num(found["modules"][m]["score"]) if m in found["modules"]
                        else "" for m in modules)]
        writer.writerow([_cell(c, row.get(c, "")) for c in user_columns] + grades)
    out.text = buffer.getvalue()
    return out


def _cell(column: str, value: str) -> str:
    """A roster value as written back: names, which students may choose and no LMS matches
    on, made inert for a spreadsheet; ids exactly as the LMS wrote them (it matches on them)."""
    return inert.csv_cell(value) if column in _NAMES else value


def _default_column(lms: Lms, roster: Roster, assignment: str) -> str:
    """Canvas: the roster's ``<assignment> (<id>)`` column if there is exactly one (the
    assignment already exists in Canvas); otherwise the assignment's name."""
    if lms == "canvas":
        prefix = f"{assignment} (".casefold()
        found = [c for c in roster.columns
                 if c.casefold().startswith(prefix) and c.endswith(")")]
        if len(found) == 1:
            return found[0]
    return assignment


def _who(row: dict[str, str]) -> str:
    return (row.get("Student") or " ".join(row.get(c, "") for c in MOODLE_NAMES)).strip() \
        or "a roster row without an id"


def _num(x: float) -> str:
    """A grade as the LMS reads it: at most four decimals, no trailing zeros."""
    text = f"{float(x):.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
