"""Run collected checks or hidden tests against one submission's sandbox.

Each test gets a fresh :class:`grader.authoring.context.Context` with its own seeded rng, and ends
in one
:class:`Outcome`. A test passes only on positive evidence: at least one expectation recorded
and none failed. Whatever the student's code does (raise, hang, crash, return junk) becomes
that test's outcome; nothing escapes to stop the run.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from grader.authoring.context import Context
from grader.authoring.expectations import CheckFailed
from grader.authoring.misconceptions import Catalogue, Diagnosis
from grader.course.config import TestSpec
from grader.engine.result_types import Status
from grader.sandbox.box import (
    Runner,
    SandboxCrash,
    SandboxUnavailable,
    StudentError,
    StudentTimeout,
)

#: the statuses by their old names (``PASSED == "passed"``)
PASSED, FAILED, ERROR, TIMEOUT = Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT
NOT_IMPLEMENTED = Diagnosis(
    "not_implemented", "not implemented yet",
    "The function still raises NotImplementedError: replace that line with your code.",
)


@dataclass
class Outcome:
    """The result of one test on one submission.

    Attributes
    ----------
    spec : TestSpec
        The test.
    status : Status
        ``passed``, ``failed``, ``error`` (the student's code raised or crashed) or
        ``timeout`` (it ran out of time).
    feedback : str
        What went wrong, explained (empty when passed).
    diagnosis : Diagnosis or None
        The recognised misconception, if any.
    seconds : float
        Wall-clock time of the test.
    calls : tuple of str
        The student functions the test called (``module.function``) before it ended: what a
        failure may have come through (`grader.engine.blame`).
    """

    spec: TestSpec
    status: Status
    feedback: str
    diagnosis: Diagnosis | None
    seconds: float
    calls: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        """The test's points if it passed, else 0."""
        return self.spec.points if self.status == PASSED else 0.0

    @property
    def not_implemented(self) -> bool:
        """Whether the function under test is still the stub."""
        return self.diagnosis is not None and self.diagnosis.key == "not_implemented"


def seed_for(secret: str | None, student: str, test_id: str, digest: str = "") -> int:
    """The seed of one test for one student's files.

    A hash of the course secret, the student id, the test id and the digest of the files
    graded (`grader.batch.submissions.Unpacked.digest`): students get different inputs, a regrade
    of the same files gets the same ones, and a resubmission with changed code gets new
    ones, so expected values shown in feedback never carry over to the next attempt (no
    free oracle). Without a digest (``grader check``'s public checks, which show no
    reference value) the inputs depend on the student and the test only.
    """
    parts = (secret or "", student, test_id, *((digest,) if digest else ()))
    text = "\0".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def run_test(
    spec: TestSpec,
    sandbox: Runner,
    *,
    seed: int,
    reference: Mapping[str, ModuleType] | None = None,
) -> Outcome:
    """Run one test and turn whatever happens into an :class:`Outcome`."""
    ctx = Context(spec.module, sandbox, np.random.default_rng(seed), reference,
                  spec.marker.timeout, show_expected=spec.show_expected,
                  declared_calls=dict(spec.course_calls), catalogue=spec.catalogue)
    started = time.perf_counter()

    def outcome(status: Status, feedback: str = "",
                diagnosis: Diagnosis | None = None) -> Outcome:
        if status != PASSED:  # which isolated calls may have run the student's own code
            feedback += ctx.isolation_note()
        return Outcome(spec, status, feedback, diagnosis, time.perf_counter() - started,
                       tuple(ctx.calls))

    try:
        spec.func(ctx)
    except CheckFailed as failure:
        return outcome(FAILED, failure.message, failure.diagnosis)
    except StudentError as exc:
        return _student_error(exc, outcome, ctx.catalogue)
    except StudentTimeout as exc:
        return outcome(TIMEOUT, f"{exc}. Look for a loop that never ends or work that grows "
                                "too fast with the input size.")
    except SandboxCrash as exc:
        return outcome(ERROR, f"{exc}.\n{_tail(sandbox.output())}".rstrip())
    except SandboxUnavailable:
        raise  # the grader's own failure: no student may be scored by it
    except Exception as exc:  # the test could not make sense of what the student returned
        where = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return outcome(ERROR, "the grader could not evaluate your result "
                              f"({where}); check the types and shapes your function returns")
    if ctx.passes == 0:
        return outcome(ERROR, "this test recorded no check (a problem with the test itself: "
                              "tell your instructor)")
    return outcome(PASSED)


def _student_error(exc: StudentError, outcome: Callable[..., Outcome],
                   catalogue: Catalogue) -> Outcome:
    if exc.not_implemented:
        return outcome(FAILED, "not implemented yet (raises NotImplementedError)",
                       NOT_IMPLEMENTED)
    if exc.type_name == "MissingFunction":
        return outcome(ERROR, exc.message + ": define it with the contract's name and signature")
    if exc.type_name == "ImportError" and "missing from the submission" in exc.message:
        return outcome(ERROR, f"missing file: {exc.message}")
    text = f"your code raised {exc.type_name}: {exc.message}".rstrip(": ")
    if exc.traceback:
        text += "\n" + exc.traceback.rstrip()
    return outcome(ERROR, text, catalogue.diagnose_exception(exc.type_name, exc.message))


def _tail(output: str, lines: int = 8) -> str:
    kept = output.strip().splitlines()[-lines:]
    return ("Last output:\n" + "\n".join(kept)) if kept else ""


def run_tests(
    specs: Sequence[TestSpec],
    sandbox: Runner,
    *,
    student: str,
    secret: str | None,
    reference: Mapping[str, ModuleType] | None = None,
    progress: Callable[[Outcome], None] | None = None,
    digest: str = "",
) -> list[Outcome]:
    """Run tests in order on one sandbox; one outcome per test, whatever happens.

    Each test is seeded by `seed_for` from ``secret``, ``student``, its id and ``digest``
    (the digest of the files graded; empty for the public checks).
    """
    outcomes = []
    for spec in specs:
        seed = seed_for(secret, student, spec.test_id, digest)
        result = run_test(spec, sandbox, seed=seed, reference=reference)
        outcomes.append(result)
        if progress is not None:
            progress(result)
    return outcomes
