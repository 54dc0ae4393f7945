"""Pairs of submissions ranked by code similarity: copydetect's winnowing, as MOSS does.

What is compared is the student code `grader grade` takes (``grader similarity`` reads it with
`grader.batch.submissions.unpack`: module files, helper modules, notebook cells), every file of
a student joined in name order.
`copydetect <https://github.com/blingenf/copydetect>`_ tokenizes it with pygments (every
variable, attribute and function name becomes one letter, strings another, whitespace and
comments vanish: renaming and reformatting change nothing), hashes every ``K``-token
substring and keeps the fingerprints (winnowing). Fingerprints are compared as sets, so
reordered functions still match, whatever the order. Three kinds of passages never count:

- **boilerplate**: the course's stubs (``exercises/<module>.py``: signatures, docstrings,
  provided code), given to copydetect as its boilerplate;
- **common code**: a passage found in more than ``common`` submissions (by default the larger
  of 10 and 5% of the class), which MOSS also ignores (its ``-m``): what many students write
  alike is no evidence that two copied, and ignoring it keeps the pair count cheap;
- **seams**: the substrings that span the end of one of a student's files and the start of the
  next, which nobody wrote.

Ranking is in two steps: every pair's shared-fingerprint count (one pass over the fingerprints,
numpy) picks the candidates, the most similar ``max(5 top, 100)`` pairs; each candidate is then
compared in full by `copydetect.compare_files`, which gives the share of each student's code
found in the other (its tokens covered by shared fingerprints). A pair's **similarity** is the
share of both students' code that matches: ``(matched A + matched B) / (code A + code B)``.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from grader.util import inert
from grader.util.files import atomic_write

if TYPE_CHECKING:
    from copydetect import CodeFingerprint

__all__ = ["Pair", "Ranking", "fingerprint_text", "percent", "rank", "read", "table", "write"]

#: tokens in a fingerprinted substring (copydetect's noise threshold: shorter matches are noise)
K: Final = 25
#: winnowing window (copydetect's default guarantee threshold is K: every fingerprint kept)
WINDOW: Final = 1
#: the file `grader report` reads a ranking from, in a results folder
REPORT_FILE: Final = "similarity.json"
_Hashes = npt.NDArray[np.int64]
_PER_WORKER = 64  # distinct files per tokenizing process, at least
_CHUNK = 2**22  # pair codes counted at once


@dataclass(frozen=True)
class Pair:
    """Two submissions and how much of their code matches.

    Attributes
    ----------
    first, second : str
        The students, in the order the submissions were given.
    similarity : float
        Share of both students' code (after boilerplate) that matches the other's, 0 to 1.
    first_share, second_share : float
        Share of each student's own code found in the other's.
    matched : int
        Tokens of the larger side's code that match.
    first_files, second_files : list of [str, float]
        Each student's files holding matched code, most first, with the share of the file
        (its tokens) matched.
    """

    first: str
    second: str
    similarity: float
    first_share: float
    second_share: float
    matched: int
    first_files: list[tuple[str, float]]
    second_files: list[tuple[str, float]]


@dataclass
class Ranking:
    """The pairs of a class, most similar first, and how they were found."""

    pairs: list[Pair]
    students: int
    compared: int
    common: int
    seconds: float
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def total_pairs(self) -> int:
        """Every pair of the class's students."""
        return self.students * (self.students - 1) // 2


@dataclass
class _Student:
    name: str
    files: list[str]
    bounds: list[int]  # start of each file in ``code``, then its end
    code: str  # the tokenized files, joined
    hashes: _Hashes = field(default_factory=lambda: np.zeros(0, np.int64))


def fingerprint_text(source: str) -> str:
    """A file's code as copydetect tokenizes it: names ``V``/``F``/``O``, strings ``S``, no
    whitespace or comments."""
    from copydetect.utils import filter_code

    filtered, _ = filter_code(source, "submission.py", "python")
    return str(filtered)


def _hashes(code: str, boilerplate: _Hashes | None = None) -> _Hashes:
    from copydetect.utils import get_document_fingerprints

    found, _ = get_document_fingerprints(code, K, WINDOW, boilerplate)
    return np.fromiter(found, dtype=np.int64, count=len(found))


def rank(submissions: Mapping[str, Mapping[str, str]], stubs: Iterable[str], *,
         top: int = 20, common: int | None = None,
         unreadable: Mapping[str, str] | None = None, jobs: int | None = None) -> Ranking:
    """Rank every pair of submissions by code similarity.

    Parameters
    ----------
    submissions : mapping of str to mapping of str to str
        Student to their files (``neuron.py`` to source), as `grader grade` takes them.
    stubs : iterable of str
        The sources the course gives every student (its stubs): boilerplate.
    top : int
        How many pairs are wanted; ``max(5 top, 100)`` candidates are compared in full.
    common : int, optional
        A passage in more submissions than this is common code and does not count (default:
        the larger of 10 and 5% of the class).
    unreadable : mapping of str to str, optional
        Submissions that could not be read, with why (kept in the ranking for its table).
    jobs : int, optional
        Processes tokenizing the files (default: the CPU count; one for a small class).

    Returns
    -------
    Ranking
    """
    started = time.perf_counter()
    tokens = _tokenize_all({source for files in submissions.values()
                            for source in files.values()}, jobs)
    students = [_joined(name, files, tokens) for name, files in submissions.items() if files]
    boilerplate = [_hashes(fingerprint_text(source)) for source in stubs]
    boilerplate += [_seams(student) for student in students]
    for student in students:
        student.hashes = _hashes(student.code)
    limit = common if common is not None else max(10, -(-len(students) * 5 // 100))
    every = np.concatenate([s.hashes for s in students]) if students else np.zeros(0, np.int64)
    values, counts = np.unique(every, return_counts=True)
    too_common = values[counts > limit]
    ignored = np.unique(np.concatenate([too_common, *boilerplate]))
    for student in students:
        student.hashes = np.setdiff1d(student.hashes, ignored, assume_unique=True)
    candidates = _candidates(students, max(5 * top, 100))
    pairs = _compare(students, candidates, ignored)
    pairs.sort(key=lambda p: (-p.similarity, -p.matched, p.first, p.second))
    skipped = dict(unreadable or {})
    skipped.update((name, "no module file found") for name, files in submissions.items()
                   if not files)
    return Ranking(pairs, len(students), len(candidates), len(too_common),
                   time.perf_counter() - started, skipped)


def _tokenize_all(sources: set[str], jobs: int | None) -> dict[str, str]:
    """Every distinct source tokenized once (pygments is most of the time spent: identical
    files, such as untouched stubs, cost one), by ``jobs`` processes."""
    unique = sorted(sources)
    workers = min(jobs or os.cpu_count() or 1, max(1, len(unique) // _PER_WORKER))
    if workers <= 1:
        return {source: fingerprint_text(source) for source in unique}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return dict(zip(unique, pool.map(fingerprint_text, unique, chunksize=_PER_WORKER // 4),
                        strict=True))


def _joined(name: str, files: Mapping[str, str], tokens: Mapping[str, str]) -> _Student:
    """A student's files, tokenized, joined in name order."""
    names = sorted(files)
    codes = [tokens[files[n]] for n in names]
    bounds = [0, *itertools.accumulate(len(c) for c in codes)]
    return _Student(name, names, bounds, "".join(codes))


def _seams(student: _Student) -> _Hashes:
    """The hashes of the substrings that span two of a student's files: not code anyone
    wrote (two untouched stubs would share them)."""
    from copydetect.utils import hashed_kgrams

    found = [hashed_kgrams(student.code[max(0, b - K + 1):b + K - 1], K)
             for b in student.bounds[1:-1]]
    return np.concatenate([np.asarray(h, np.int64) for h in found]) if found \
        else np.zeros(0, np.int64)


def _candidates(students: Sequence[_Student], wanted: int) -> list[tuple[int, int]]:
    """The ``wanted`` pairs sharing the largest share of fingerprints (Dice coefficient),
    from one pass over the fingerprints grouped by value."""
    n = len(students)
    if n < 2:
        return []
    owner = np.concatenate([np.full(len(s.hashes), i, np.int64)
                            for i, s in enumerate(students)])
    every = np.concatenate([s.hashes for s in students])
    order = np.lexsort((owner, every))
    every, owner = every[order], owner[order]
    starts = np.flatnonzero(np.r_[True, every[1:] != every[:-1]])
    sizes = np.diff(np.r_[starts, len(every)])
    shared = np.zeros(n * n, np.int32)
    for size in np.unique(sizes[sizes > 1]):
        groups = owner[starts[sizes == size][:, None] + np.arange(size)]
        left, right = np.triu_indices(int(size), 1)
        for chunk in range(0, len(groups), max(1, _CHUNK // len(left))):
            part = groups[chunk:chunk + max(1, _CHUNK // len(left))]
            shared += np.bincount((part[:, left] * n + part[:, right]).ravel(),
                                  minlength=n * n)
    counts = np.array([len(s.hashes) for s in students], np.float64)
    codes = np.flatnonzero(shared)  # pairs sharing anything: first * n + second, first < second
    first, second = codes // n, codes % n
    scores = 2.0 * shared[codes] / np.maximum(counts[first] + counts[second], 1.0)
    keep = np.argsort(-scores, kind="stable")[:wanted]
    return [(int(first[i]), int(second[i])) for i in keep]


def _compare(students: Sequence[_Student], candidates: Sequence[tuple[int, int]],
             ignored: _Hashes) -> list[Pair]:
    """Each candidate pair compared in full by copydetect."""
    from copydetect import CodeFingerprint, compare_files

    prints: dict[int, CodeFingerprint] = {}
    counted: dict[int, npt.NDArray[np.bool_]] = {}

    def printed(i: int) -> CodeFingerprint:
        if i not in prints:
            prints[i] = CodeFingerprint(students[i].name, K, WINDOW, boilerplate=ignored,
                                        filter=False, fp=io.StringIO(students[i].code))
            counted[i] = _counted(prints[i], len(students[i].code))
        return prints[i]

    pairs: list[Pair] = []
    for i, j in candidates:
        a, b = printed(i), printed(j)
        _, (share_a, share_b), (slices_a, slices_b) = compare_files(a, b)
        matched_a, matched_b = _covered(slices_a), _covered(slices_b)
        whole = float(a.token_coverage + b.token_coverage)
        if matched_a + matched_b == 0 or whole == 0:
            continue
        pairs.append(Pair(
            students[i].name, students[j].name, (matched_a + matched_b) / whole,
            float(share_a), float(share_b), max(matched_a, matched_b),
            _files(students[i], counted[i], slices_a),
            _files(students[j], counted[j], slices_b)))
    return pairs


def _covered(slices: Any) -> int:
    array = np.asarray(slices)
    return int(np.sum(array[1] - array[0])) if array.size else 0


def _counted(fingerprint: CodeFingerprint, length: int) -> npt.NDArray[np.bool_]:
    """Which tokens of a student's code lie under a fingerprint that counts."""
    counted = np.zeros(length + K, bool)
    for positions in fingerprint.hash_idx.values():
        for position in positions:
            counted[position:position + K] = True
    return counted


def _files(student: _Student, counted: npt.NDArray[np.bool_], slices: Any
           ) -> list[tuple[str, float]]:
    """The student's files holding matched tokens, most first, with the share of the file's
    own code (its tokens under a counted fingerprint) matched."""
    array = np.asarray(slices, dtype=np.int64).reshape(2, -1)
    found: list[tuple[str, float]] = []
    for name, start, end in zip(student.files, student.bounds, student.bounds[1:],
                                strict=False):
        inside = np.clip(array[1], start, end) - np.clip(array[0], start, end)
        matched = int(inside.sum())
        if matched > 0:
            found.append((name, min(1.0, matched / max(int(counted[start:end].sum()), 1))))
    return sorted(found, key=lambda item: -item[1])


def table(ranking: Ranking, top: int) -> str:
    """The ranked pairs as a plain-text table, with how they were found."""
    lines = [f"{ranking.students} submissions, {ranking.total_pairs} pairs; "
             f"{ranking.compared} most similar compared in full in {ranking.seconds:.1f} s "
             f"({ranking.common} passages common to many submissions ignored)"]
    for name, why in sorted(ranking.unreadable.items()):
        lines.append(f"not compared: {name}: {why}")
    if not ranking.pairs:
        lines.append("no two submissions share code beyond the stubs")
        return "\n".join(lines)
    width = max(len(p.first) + len(p.second) for p in ranking.pairs[:top]) + 3
    lines.append(f"{'rank':>4}  {'similarity':>10}  {'pair':<{width}}  {'matched':>7}  files")
    for number, pair in enumerate(ranking.pairs[:top], 1):
        names = f"{pair.first} ~ {pair.second}"
        lines.append(f"{number:>4}  {percent(pair.similarity):>10}  {names:<{width}}  "
                     f"{pair.matched:>7}  {_file_list(pair)}")
    return "\n".join(inert.one_line(line) for line in lines)


def percent(share: float) -> str:
    """A share as a whole percent, rounded down: only identical code shows 100%."""
    return f"{math.floor(share * 100 + 1e-9)}%"


def _file_list(pair: Pair, most: int = 3) -> str:
    """The first student's files holding matched code (the second's too when they differ)."""
    def shown(files: list[tuple[str, float]]) -> str:
        names = ", ".join(f"{n} {percent(s)}" for n, s in files[:most])
        return names + (f" +{len(files) - most}" if len(files) > most else "")

    same = {f for f, _ in pair.first_files} == {f for f, _ in pair.second_files}
    return shown(pair.first_files) if same else \
        f"{shown(pair.first_files)} | {shown(pair.second_files)}"


def write(ranking: Ranking, path: Path) -> None:
    """Write the ranked pairs: JSON when ``path`` ends in ``.json`` (what `grader report`
    reads as ``similarity.json``), else CSV (one row per pair, student ids made inert)."""
    if path.suffix.lower() == ".json":
        data = {key: value for key, value in asdict(ranking).items() if key != "pairs"}
        data["pairs"] = [asdict(p) for p in ranking.pairs]
        atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        return
    buffer = io.StringIO()
    import csv

    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "similarity", "student_a", "student_b", "share_a", "share_b",
                     "matched_tokens", "files_a", "files_b"])
    for number, p in enumerate(ranking.pairs, 1):
        writer.writerow([number, f"{p.similarity:.4f}", inert.csv_cell(p.first),
                         inert.csv_cell(p.second), f"{p.first_share:.4f}",
                         f"{p.second_share:.4f}", p.matched,
                         "; ".join(f"{n} {percent(s)}" for n, s in p.first_files),
                         "; ".join(f"{n} {percent(s)}" for n, s in p.second_files)])
    atomic_write(path, buffer.getvalue())


def read(path: Path) -> Ranking | None:
    """A ranking written by `write` as JSON, or None when the file is missing or not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pairs = [Pair(str(p["first"]), str(p["second"]), float(p["similarity"]),
                      float(p["first_share"]), float(p["second_share"]), int(p["matched"]),
                      [(str(n), float(s)) for n, s in p["first_files"]],
                      [(str(n), float(s)) for n, s in p["second_files"]])
                 for p in data["pairs"]]
        return Ranking(pairs, int(data["students"]), int(data["compared"]),
                       int(data["common"]), float(data["seconds"]),
                       {str(k): str(v) for k, v in data.get("unreadable", {}).items()})
    except (OSError, ValueError, KeyError, TypeError):
        return None
