"""The points of a course, per module and contract function, and whether the ``[points]``
table of ``course.toml`` agrees with the hidden tests."""

from __future__ import annotations

from collections.abc import Mapping

from grader.course.config import Course, CourseError

__all__ = ["listing", "mistakes", "verify"]

#: how far two point counts may differ and still agree (sums of floats)
_TOLERANCE = 1e-9


def listing(course: Course) -> dict[str, dict[str, float]]:
    """Modules -> functions -> points: from the hidden tests when present, else from the
    ``[points]`` table of ``course.toml`` (as in a student release).

    Parameters
    ----------
    course : Course
        The course, with or without its hidden tests.

    Returns
    -------
    dict of str to dict of str to float
        Every course module, in order, to its contract functions, in order, to their points
        (0 for a function no hidden test grades).
    """
    hidden = course.hidden_tests.is_dir()
    specs = course.collect(hidden=True) if hidden else []  # every mistake of them at once
    result: dict[str, dict[str, float]] = {}
    for module in course.modules:
        functions = dict.fromkeys(course.functions(module), 0.0)
        if hidden:
            for spec in (s for s in specs if s.module == module):
                functions[spec.function] = functions.get(spec.function, 0.0) + spec.points
        else:
            for name in functions:
                functions[name] = course.points.get(f"{module}.{name}", 0.0)
        result[module] = functions
    return result


def mistakes(course: Course,
             given: Mapping[str, Mapping[str, float]] | None = None) -> list[str]:
    """Where ``course.toml``'s ``[points]`` table disagrees with the hidden tests, one line
    each: a key naming no module or function (``"moments.skew"``), a function or module whose
    tests give other points (``"moments.variance: the hidden tests give 6, [points] says
    5"``), a function the tests give points that the table leaves out.

    Parameters
    ----------
    course : Course
        The course. Without a ``[points]`` table, or without hidden tests (a student
        release), there is nothing to compare.
    given : mapping of str to mapping of str to float, optional
        The hidden tests' points, `listing` (default: computed here).

    Returns
    -------
    list of str
        The disagreements (none when the table and the tests agree).

    Raises
    ------
    CourseError
        The hidden tests do not load.
    """
    if not course.points or not course.hidden_tests.is_dir():
        return []
    points = listing(course) if given is None else given
    tests = {**{f"{m}.{f}": p for m, fs in points.items() for f, p in fs.items()},
             **{m: sum(fs.values()) for m, fs in points.items()}}
    found = [f"[points] {key!r} names no course module or function"
             for key in course.points if key not in tests]
    found += [f"{key}: the hidden tests give {tests[key]:g}, [points] says {value:g}"
              for key, value in course.points.items()
              if key in tests and abs(tests[key] - value) > _TOLERANCE]
    found += [f"{m}.{f}: the hidden tests give {p:g}, [points] lists neither it nor {m}"
              for m, fs in points.items() for f, p in fs.items()
              if p and f"{m}.{f}" not in course.points and m not in course.points]
    return found


def verify(course: Course, given: Mapping[str, Mapping[str, float]] | None = None) -> None:
    """Refuse a ``[points]`` table that disagrees with the hidden tests: the points students
    were told must be the points they are graded on. Without a table (or hidden tests) this
    loads nothing.

    Parameters
    ----------
    course : Course
        The course.
    given : mapping of str to mapping of str to float, optional
        The hidden tests' points, `listing` (default: computed here when needed).

    Raises
    ------
    CourseError
        Naming ``course.toml`` and each disagreement (`mistakes`), or the hidden tests do not
        load.
    """
    found = mistakes(course, given)
    if found:
        config = course.root / "course.toml"
        raise CourseError.of([f"{config}: {problem} (make [points] and the hidden tests' "
                              "points= agree)" for problem in found])
