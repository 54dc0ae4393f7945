"""Markers: the decorators that make a function a public check or a hidden test.

A public check (``checks/check_<module>.py``) or a hidden test
(``autograde_tests/test_<module>.py``) is a function of one argument, the
`grader.authoring.context.Context`, marked with `public` or `graded`::

    @graded("sigmoid", points=1.0, visibility="visible")
    def test_sigmoid_matches_reference(ctx: Context) -> None:
        \"\"\"sigmoid matches the reference on random inputs\"\"\"

The decorator records a `Marker` on the function; `grader.course.config.Course.collect` finds
the marked functions of each check or test file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

if TYPE_CHECKING:
    from grader.authoring.context import Context

__all__ = ["VISIBILITIES", "Marker", "TestFunction", "Visibility", "graded", "public"]

Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
VISIBILITIES: tuple[str, ...] = ("hidden", "after_due_date", "after_published", "visible")
TestFunction = Callable[["Context"], None]
F = TypeVar("F", bound=TestFunction)


@dataclass(frozen=True)
class Marker:
    """What a decorator records on a test function.

    Attributes
    ----------
    function : str
        The contract function the test grades (its points belong to that function).
    points : float
        Points of the test (0 for public checks).
    visibility : str
        Gradescope's visibility word.
    timeout : float or None
        Seconds each student call in this test may take (None: the course default).
    public : bool
        True for a public check (runs on the student's machine, needs no reference).
    uses : tuple of str
        Other student functions a public check depends on beyond those it calls itself
        (``"activations.sigmoid_prime"``, or a bare name of the same module): what the
        function under test may call inside the student's code, where the check cannot see.
    """

    function: str
    points: float
    visibility: str
    timeout: float | None
    public: bool
    uses: tuple[str, ...] = ()


def graded(
    function: str,
    *,
    points: float,
    visibility: Visibility = "hidden",
    timeout: float | None = None,
) -> Callable[[F], F]:
    """Mark a hidden test of ``function`` worth ``points``.

    Parameters
    ----------
    function : str
        Name of the contract function graded (in the test file's module).
    points : float
        Points awarded when the test passes (all or nothing).
    visibility : {"hidden", "after_due_date", "after_published", "visible"}
        When students see the test's result (Gradescope's words).
    timeout : float, optional
        Per-call deadline in seconds for this test's student calls.
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, not {visibility!r}")
    if points < 0:
        raise ValueError("points must be >= 0")

    def mark(func: F) -> F:
        func.__grader_marker__ = Marker(function, float(points), visibility, timeout, False)  # type: ignore[attr-defined]
        return func

    return mark


def public(function: str, *, uses: Sequence[str] = (),
           timeout: float | None = None) -> Callable[[F], F]:
    """Mark a public check of ``function`` (no points; needs no reference solution).

    Parameters
    ----------
    function : str
        Name of the contract function checked (in the check file's module).
    uses : sequence of str, optional
        Other student functions the result depends on that the check does not call itself:
        those ``function`` may call in the student's code (``"cost"`` of the same module,
        ``"activations.sigmoid_prime"`` of another). When one of them, or a function the
        check calls itself, fails its own check, ``grader check`` reports this check's
        failure as that function's instead of diagnosing ``function`` (`grader.engine.blame`).
    timeout : float, optional
        Per-call deadline in seconds for this check's student calls.
    """

    def mark(func: F) -> F:
        func.__grader_marker__ = Marker(function, 0.0, "visible", timeout, True,  # type: ignore[attr-defined]
                                        tuple(uses))
        return func

    return mark
