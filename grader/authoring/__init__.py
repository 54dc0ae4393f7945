"""The API course authors write public checks and hidden tests with.

A public check (``checks/check_<module>.py``) or a hidden test
(``autograde_tests/test_<module>.py``) is a function of one argument, the :class:`Context`::

    from grader.authoring import Context, graded

    @graded("sigmoid", points=1.0, visibility="visible")
    def test_sigmoid_matches_reference(ctx: Context) -> None:
        \"\"\"sigmoid matches the reference on random inputs\"\"\"
        z = ctx.rng.normal(0.0, 3.0, size=(4, 5))
        ctx.expect_close(ctx.student.sigmoid(z), ctx.ref.sigmoid(z), rtol=1e-10, atol=1e-12)

The first docstring line is the name a student sees. ``ctx.student.<function>(...)`` runs the
student's function in the sandbox and returns plain data rebuilt in this process;
``ctx.ref`` is the reference solution (hidden tests only). A test passes when it recorded at
least one passing expectation and no failure: positive evidence only.

Helpers shared by one course's checks and tests live with the course, not here
(``checks/course_helpers.py``, see `grader.course.config`), and so do the course's own
misconceptions (``checks/misconceptions.toml``).

The modules, each one idea:

- `grader.authoring.markers`: `public` and `graded`, the decorators of checks and tests;
- `grader.authoring.context`: the `Context` (the student's code, the reference, isolation),
  built on `grader.authoring.expectations` (what a test records, `CheckFailed`);
- `grader.authoring.compare`: tolerance-aware comparison with teaching messages
  (`grader.authoring.elementwise` compares arrays, `grader.authoring.wording` says values,
  `grader.authoring.comparison` holds the outcome);
- `grader.authoring.gradcheck`: numerical gradients (five-point differences) and
  `grader.authoring.gradient_checks`, which compares them with backprop's;
- `grader.authoring.misconceptions`: the `Catalogue` of known mistakes and their hints,
  which words what `grader.authoring.detectors` (with `grader.authoring.factors`) recognise.

This package re-exports what checks and tests use; the function `compare` is re-exported
under the name of its module, so import the module's other names from
``grader.authoring.compare`` itself.
"""

from grader.authoring.compare import Comparison, ComparisonError, compare
from grader.authoring.context import (
    Context,
    StudentFunction,
    StudentModule,
    UndeclaredCall,
    raised_in,
)
from grader.authoring.expectations import AuthorError, CheckFailed
from grader.authoring.gradient_checks import (
    GradCheck,
    GradientCheckError,
    check_directional,
    check_gradient,
)
from grader.authoring.markers import (
    VISIBILITIES,
    Marker,
    TestFunction,
    Visibility,
    graded,
    public,
)
from grader.authoring.misconceptions import Catalogue, Diagnosis, Misconception

__all__ = [
    "VISIBILITIES", "AuthorError", "Catalogue", "CheckFailed", "Comparison", "ComparisonError",
    "Context", "Diagnosis", "GradCheck", "GradientCheckError", "Marker", "Misconception",
    "StudentFunction", "StudentModule", "TestFunction", "UndeclaredCall", "Visibility",
    "check_directional", "check_gradient", "compare", "graded", "public", "raised_in",
]
