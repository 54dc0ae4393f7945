"""grader: auto-graded exercises with sandboxed, explained grading.

``from grader import check`` runs the public checks from a notebook (`grader.api.check`); a
course's own Python functions live with the course (its ``[commands]`` folder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "check"]

if TYPE_CHECKING:
    from grader.api import check


def __getattr__(name: str) -> Any:
    # Lazy, so that `import grader` stays cheap for the sandbox and the CLI's --help.
    if name == "check":
        from grader.api import check

        return check
    raise AttributeError(name)
