"""Run collected checks or hidden tests against one submission's sandbox.

Each test gets a fresh :class:`grader.authoring.context.Context` with its own seeded rng, and ends
in one :class:`Outcome`. A test passes only on positive evidence: at least one expectation
recorded and none failed. Whatever the student's code does (raise, hang, crash, return junk)
becomes that test's outcome; nothing escapes to stop the run.

A failing test is never the student's fault by default. A *grader error* is a test that fails
through its own code: it costs the student nothing (`Outcome.score` gives its points), its
status is ``error`` with `Outcome.grader_error` set, and ``grader grade`` exits 1 naming it.
`run_test` reports one when the test's code raises

- a mistake the test API recognises as the author's
  (`grader.authoring.expectations.AuthorError`: an unregistered misconception key, an
  undeclared isolation, ``ctx.ref`` in a public check), or
- anything before the test has called the student's code at all, or an exception no value of
  the student's can cause (``NameError``, ``ImportError``, ``NotImplementedError``, a missing
  attribute of a module or of the context);

and when the test ends without having called the student's code at all (``ctx.ref`` where
``ctx.student`` was meant): whatever it recorded says nothing of the submission, and would give
every student its points silently.

An exception raised after the student's code returned may come from what it returned (a list
where an array belongs): `run_test` calls that the student's error. `run_tests`, given the
reference, settles every such doubt: each test worth points that a student does not pass
(except a stub's ``NotImplementedError`` and a timeout) is run once more, in this process,
on the reference solution with the same seed and so the same inputs (`confirm`); if the
reference does not pass it either, the test is at fault and the outcome becomes a grader
error. A test worth 0 points costs no one anything and is not run again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import traceback
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from grader.authoring import asserts
from grader.authoring.context import Context, StudentModule
from grader.authoring.expectations import AuthorError, CheckFailed, Expectations
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
from grader.sandbox.inprocess import InProcess

#: the statuses by their old names (``PASSED == "passed"``)
PASSED, FAILED, ERROR, TIMEOUT = Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT
NOT_IMPLEMENTED = Diagnosis(
    "not_implemented", "not implemented yet",
    "The function still raises NotImplementedError: replace that line with your code.",
)
#: the grader package, whose frames are not the course's
_GRADER = Path(__file__).resolve().parents[1]
#: exceptions no value returned by the student's code can cause in the test's own code
_AUTHORS_ONLY = (NameError, ImportError, NotImplementedError, SyntaxError)
GRADER_ERROR_NOTE = ("This is a grader error: the test itself is at fault, not your code, and "
                     "it costs you nothing (you get its points). Your instructor is told.")
#: what the author of a test that recorded nothing, or never ran the student's code, should
#: change (`Outcome.author_note`)
NO_CHECK_NOTE = ("this test recorded no check: make it end in ctx.expect_..., a plain assert or "
                 "an assert_... call as a statement (np.testing.assert_allclose), and make sure "
                 "one is reached")
NO_CALL_NOTE = ("this test never calls the student's code (ctx.student...), so it gives every "
                "submission the same verdict: compare what ctx.student returns, not ctx.ref "
                "with itself")


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
    grader_error : bool
        The test failed through its own fault, not the student's (status ``error``): see the
        module docstring.
    author_note : str
        What the course's author should change in the test, when its fault is one the grader
        can name (it recorded no check, it never called the student's code); ``""`` otherwise.
        For ``grader selftest``: the feedback is the student's text.
    """

    spec: TestSpec
    status: Status
    feedback: str
    diagnosis: Diagnosis | None
    seconds: float
    calls: tuple[str, ...] = ()
    grader_error: bool = False
    author_note: str = ""

    @property
    def score(self) -> float:
        """The test's points if it passed or is a grader error (the student is not charged
        for the author's mistake), else 0."""
        return self.spec.points if self.status == PASSED or self.grader_error else 0.0

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
        with asserts.recording(ctx):
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
    except Exception as exc:
        where = traceback.format_exception_only(type(exc), exc)[-1].strip()
        if _authors(exc, ctx):
            said = str(exc) if isinstance(exc, AuthorError) else f"the test raised {where}"
            return grader_error(outcome(ERROR), f"{said}{_line_of(exc, spec)}")
        if isinstance(exc, AssertionError):  # an assert of a helper module, not rewritten
            return outcome(FAILED, f"{where}{_line_of(exc, spec)}")
        # the test could not make sense of what the student returned
        return outcome(ERROR, "the grader could not evaluate your result "
                              f"({where}); check the types and shapes your function returns")
    if not ctx.calls:  # it never looked at the student's code: its verdict is no one's
        why = ("this test recorded no check and called none of your functions"
               if ctx.passes == 0 else
               "this test never called any of your functions, so it says nothing of your code")
        return dataclasses.replace(grader_error(outcome(ERROR), why), author_note=NO_CALL_NOTE)
    if ctx.passes == 0:
        return dataclasses.replace(
            outcome(ERROR, "this test recorded no check (a problem with the test itself: "
                           "tell your instructor)"), author_note=NO_CHECK_NOTE)
    return outcome(PASSED)


def _authors(exc: Exception, ctx: Context) -> bool:
    """Whether an exception of the test's own code is the author's mistake whatever the
    student wrote (see the module docstring)."""
    if isinstance(exc, (AuthorError, *_AUTHORS_ONLY)) or not ctx.calls:
        return True
    # a missing attribute of a module (ctx.ref.tanh_primee, np.foo) or of the test API
    return isinstance(exc, AttributeError) and isinstance(
        getattr(exc, "obj", None), ModuleType | Expectations | StudentModule)


def _line_of(exc: BaseException, spec: TestSpec) -> str:
    """`` (test_layer.py, line 12)``: the last line of the course's own files (the test's
    file, its helpers; not the grader's) that ``exc`` went through, or nothing."""
    code = getattr(spec.func, "__code__", None)
    if code is None:
        return ""
    course = Path(code.co_filename).resolve().parent.parent
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if (where := Path(f.filename).resolve()).is_relative_to(course)
              and not where.is_relative_to(_GRADER)]
    if not frames:
        return ""
    return f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})"


def grader_error(outcome: Outcome, why: str) -> Outcome:
    """``outcome`` as a grader error: status ``error``, the test's points given, feedback
    saying why and that the student is not charged (see the module docstring)."""
    return dataclasses.replace(outcome, status=ERROR, diagnosis=None, grader_error=True,
                               feedback=f"{why}.\n{GRADER_ERROR_NOTE}")


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
    confirmed: MutableMapping[str, bool] | None = None,
) -> list[Outcome]:
    """Run tests in order on one sandbox; one outcome per test, whatever happens.

    Each test is seeded by `seed_for` from ``secret``, ``student``, its id and ``digest``
    (the digest of the files graded; empty for the public checks). ``confirmed`` remembers,
    across the submissions one worker grades, which tests the reference was seen to pass
    (`confirm`).
    """
    outcomes = []
    for spec in specs:
        seed = seed_for(secret, student, spec.test_id, digest)
        result = run_test(spec, sandbox, seed=seed, reference=reference)
        if reference is not None:
            result = confirm(result, seed=seed, reference=reference, confirmed=confirmed)
        outcomes.append(result)
        if progress is not None:
            progress(result)
    return outcomes


def confirm(outcome: Outcome, *, seed: int, reference: Mapping[str, ModuleType],
            confirmed: MutableMapping[str, bool] | None = None) -> Outcome:
    """A hidden test's outcome, or a grader error if the reference does not pass the test
    either on the same inputs.

    Only an outcome that can cost points for a reason the reference would share is run again:
    not a pass, not a test worth 0 points, not a stub's ``NotImplementedError``, not a
    timeout (the reference's speed in this process says nothing about the sandbox's), not a
    grader error already.

    Parameters
    ----------
    outcome : Outcome
        The student's outcome of one test.
    seed : int
        The seed the student's run used (so the reference gets the same inputs).
    reference : mapping of str to module
        The reference solutions, run here, in this process
        (`grader.sandbox.inprocess.InProcess`).
    confirmed : mutable mapping of str to bool, optional
        Test ids the reference was already seen to pass (for another student of the same
        worker): not run again, so a class of failing students costs one run of the
        reference per test, not one per student. A reference that fails only for some seeds
        is `grader selftest`'s to find (it grades the reference for many ids).

    Returns
    -------
    Outcome
        ``outcome``, or a grader error that quotes what the reference's run said.
    """
    if (outcome.status in (PASSED, TIMEOUT) or outcome.grader_error or outcome.not_implemented
            or outcome.spec.points <= 0):
        return outcome
    if confirmed is not None and confirmed.get(outcome.spec.test_id):
        return outcome
    again = run_test(outcome.spec, InProcess(dict(reference)), seed=seed, reference=reference)
    if again.status == PASSED:
        if confirmed is not None:
            confirmed[outcome.spec.test_id] = True
        return outcome
    said = (again.feedback.strip().splitlines() or ["no feedback"])[0][:300]
    return grader_error(outcome, "the reference solution does not pass this test either, on "
                                 f"the same inputs (it gives: {said})")
