"""The report of ``grader check`` (and ``grader submit``): one summary per function checked,
the files ``grader grade`` will take, and the upload zip written; rendered as a student reads
it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.engine.feedback import FunctionSummary
from grader.engine.runner import PASSED
from grader.util import inert

__all__ = ["NO_CHECKS_NOTE", "PUBLIC_NOTE", "CheckReport", "elsewhere"]

PUBLIC_NOTE = (
    "These are the public checks only. The graded run also compares every function with a\n"
    "reference solution on new random inputs (different for every student), so passing here\n"
    "is necessary but not sufficient for full marks."
)
NO_CHECKS_NOTE = (
    "The graded run compares every function with a reference solution on random inputs\n"
    "(different for every student)."
)


@dataclass(frozen=True)
class CheckReport:
    """The result of ``grader check`` (and ``grader submit``): one summary per function
    checked.

    Attributes
    ----------
    functions : tuple of FunctionSummary
        One per function checked.
    files : tuple of str
        The files `grader grade` will take from this folder (where each was read from).
    notes : tuple of str
        What will not be graded, and why (near-miss names, unreadable files).
    upload : Path or None
        The upload zip written (``grader submit``, ``grader check --zip``).
    unwritten : tuple of str
        The functions checked (``module.function``) whose code still only raises
        ``NotImplementedError`` (read, not run): what a report without checks still tells.
    absent : tuple of str
        The course's modules the upload zip lacks (each earns nothing); empty without one.
    missing : tuple of str
        Lines on the modules the folder lacks that functions checked call (`elsewhere`).
    """

    functions: tuple[FunctionSummary, ...]
    files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    upload: Path | None = None
    unwritten: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def has_checks(self) -> bool:
        """Whether any public check ran (a course may have none: a release without checks)."""
        return any(f.outcomes for f in self.functions)

    @property
    def ok(self) -> bool:
        """True when every function passed all its public checks (without any checks, when
        every function is written) and the upload zip, if any, lacks no module."""
        if self.absent:
            return False
        if not self.has_checks:
            return not self.unwritten
        return all(f.status == PASSED for f in self.functions)

    def counts(self) -> dict[str, int]:
        """How many functions are in each status."""
        counts: dict[str, int] = {}
        for f in self.functions:
            counts[f.status] = counts.get(f.status, 0) + 1
        return counts

    def render(self) -> str:
        """The report as a student reads it (anything their code printed or raised shown as
        text: control characters and escape sequences are escaped, `grader.util.inert`)."""
        lines: list[str] = []
        module = None
        for f in self.functions:
            if f.module != module:
                module = f.module
                lines.append(("\n" if lines else "") + f"{module}.py")
            lines.append(f.render())
        counts = self.counts()
        total = len(self.functions)
        others = ", ".join(f"{n} {s if s != 'not implemented' else 'not implemented yet'}"
                           for s, n in counts.items() if s != PASSED)
        lines.append("")
        if self.has_checks:
            lines.append(f"{counts.get(PASSED, 0)} of {total} functions pass their public "
                         "checks" + (f" ({others})." if others else "."))
            lines.append(PUBLIC_NOTE)
        else:
            modules = ", ".join(dict.fromkeys(f.module for f in self.functions))
            lines.append(f"this course has no public checks for {modules}: nothing was run"
                         + (f"; not implemented yet: {', '.join(self.unwritten)}."
                            if self.unwritten else "."))
            lines.append(NO_CHECKS_NOTE)
        if self.files:
            lines.append("will be graded: " + ", ".join(self.files))
        lines.extend(f"not graded: {note}" for note in self.notes)
        lines.extend(self.missing)
        if self.absent:
            lines.append("not in the zip (each earns nothing): "
                         + ", ".join(f"{m}.py" for m in self.absent))
        if self.upload is not None and self.ok:
            lines.append(f"wrote {self.upload}: upload it, it holds exactly these files")
        elif self.upload is not None:
            lines.append(f"wrote {self.upload} all the same: it holds exactly these files, as "
                         "they are now.\nYou may upload it as it is (each function earns its "
                         "own points), or fix what fails\nand write it again.")
        return inert.terminal("\n".join(lines))

    def __repr__(self) -> str:
        return f"<CheckReport: {self.counts().get(PASSED, 0)}/{len(self.functions)} passed>"


def elsewhere(folder: Path, spared: Mapping[str, Sequence[str]],
              modules: Sequence[str]) -> tuple[str, ...]:
    """One line per module missing from ``folder`` that functions of ``modules`` call: it earns
    nothing, ``grader grade`` takes those calls from the reference, and their checks passed
    without them.

    Parameters
    ----------
    folder : Path
        The student's folder, or the one notebook checked (graded alone: the notebooks
        beside it are not read).
    spared : mapping of str to sequence of str
        `grader.engine.blame.excused`: each function passed so, with the absent functions.
    modules : sequence of str
        The modules checked.

    Returns
    -------
    tuple of str
    """
    where = (f"not in {folder.name} (one notebook is graded alone: the notebooks beside it "
             "are not read)" if folder.is_file() else "not in this folder")
    users: dict[str, dict[str, None]] = {}
    calls: dict[str, dict[str, None]] = {}
    for function, reached in spared.items():
        if function.partition(".")[0] not in modules:
            continue
        for name in reached:
            module, _, called = name.partition(".")
            users.setdefault(module, {})[function.partition(".")[2]] = None
            calls.setdefault(module, {})[called] = None
    return tuple(
        f"{where}: {module}.py, which earns nothing. grader grade takes "
        f"{', '.join(calls[module])} from the reference solution where "
        f"{', '.join(users[module])} call {'it' if len(calls[module]) == 1 else 'them'}, so "
        f"their checks passed without testing what needs {module}.py"
        for module in users)
