"""What a submission is, and what was read out of it: the plain data `grader.batch.submissions`
produces and the rest of the grader consumes (a job sent to a Dask worker carries an `Unpacked`).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Submission", "Unpacked"]


@dataclass(frozen=True)
class Submission:
    """One student's entry: a folder, a ``.zip`` or a ``.ipynb``."""

    student: str
    path: Path


@dataclass
class Unpacked:
    """The student's code found in a submission, as source text, and what went wrong.

    Attributes
    ----------
    modules : dict of str to str
        Course module name to source.
    problems : dict of str to str
        Course modules whose file exists but cannot be used, with the reason.
    notes : list of str
        What was refused or could not be read, for the student to read.
    helpers : dict of str to str
        The student's own helper modules beside the course modules, name to source.
    origins : dict of str to str
        Each module's and helper's file name (``neuron.py``) to where it was read from,
        relative to the submission (``exercises/neuron.py``, ``hw.ipynb (neuron.py)``).
    hints : dict of str to str
        Missing course modules with a near-miss file found: "found Neuron.py: rename it to
        neuron.py".
    """

    modules: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    helpers: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)

    def files(self) -> dict[str, str]:
        """Every file graded, ``<name>.py`` to source, sorted by name."""
        named = {f"{m}.py": s for m, s in self.modules.items()}
        named.update((f"{h}.py", s) for h, s in self.helpers.items())
        return dict(sorted(named.items()))

    def digest(self) -> str:
        """SHA-256 (hex) over the sorted names and sources of every file graded: the same
        files give the same digest, however they were submitted (folder, zip, notebook)."""
        digest = hashlib.sha256()
        for name, source in self.files().items():
            data = source.encode("utf-8")
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
        return digest.hexdigest()

    def missing(self, modules: Sequence[str]) -> dict[str, str]:
        """Course modules neither found nor broken, with why (and the near miss, if any)."""
        return {m: f"{m}.py is missing from the submission"
                   + (f"; {self.hints[m]}" if m in self.hints else "")
                for m in modules if m not in self.modules and m not in self.problems}

    def write(self, folder: Path) -> None:
        """Write every file graded into ``folder`` as ``<name>.py``."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, source in self.files().items():
            (folder / name).write_text(source, encoding="utf-8")

    def zip_bytes(self) -> bytes:
        """The upload zip of exactly the files graded, flat, with fixed timestamps."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, source in self.files().items():
                archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), source)
        return buffer.getvalue()
