"""The points of a course, per module and contract function."""

from __future__ import annotations

from grader.course.config import Course


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
    result: dict[str, dict[str, float]] = {}
    for module in course.modules:
        functions = dict.fromkeys(course.functions(module), 0.0)
        if hidden:
            for spec in course.collect([module], hidden=True):
                functions[spec.function] = functions.get(spec.function, 0.0) + spec.points
        else:
            for name in functions:
                functions[name] = course.points.get(f"{module}.{name}", 0.0)
        result[module] = functions
    return result
