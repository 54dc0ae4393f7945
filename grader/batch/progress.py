"""The progress of ``grader grade`` on stderr: a bar with rate and ETA on a terminal, a few
plain lines otherwise.

On a terminal, `Progress` draws one `tqdm` bar (done/total, rate, elapsed and time left, the
last student's score); messages printed while it runs (a grader failure, the executor's own
notes) appear above it, never through it. Anywhere else (a log file, a pipe, CI) it prints
plain lines, one per student for a small class and one per `PLAIN_STEP_PERCENT` of the class
for a large one (and one at least every `PLAIN_MAX_SILENCE` seconds), each in one parseable
shape::

    [50/1000] ben: 80/100 (1.2 s) 5%, 3.4 students/s, 04:40 left

The `MODES`: ``auto`` (the above), ``steps`` (plain lines by steps even on a terminal) and
``each`` (a plain line per student, for a tool that follows every student).

Student ids reach the stream only through `grader.util.inert.one_line`.
"""

from __future__ import annotations

import io
import os
import time
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn, TextIO, cast

from grader.batch.jobs import Graded
from grader.util import inert

if TYPE_CHECKING:  # imported when used: a run without a terminal draws no bar
    from tqdm import tqdm

__all__ = ["MODES", "PLAIN_ALL_UP_TO", "PLAIN_MAX_SILENCE", "PLAIN_STEP_PERCENT", "Progress"]

#: tqdm's own bar, its rate always in students per second (never seconds per student)
BAR_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
              "[{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]")

#: how progress is shown: a bar on a terminal else steps, steps, or a line per student
MODES = ("auto", "steps", "each")

#: without a terminal: a line per student up to this many students, else a line per step of
#: this many percent, and a line at least every this many seconds
PLAIN_ALL_UP_TO, PLAIN_STEP_PERCENT, PLAIN_MAX_SILENCE = 20, 5, 30.0


class Progress:
    """How far grading is, shown on ``stream`` as it goes.

    Parameters
    ----------
    total : int
        The submissions to grade in this run.
    stream : TextIO
        Where progress goes (stderr): a bar if it is a terminal, plain lines otherwise.
    mode : {"auto", "steps", "each"}
        ``auto``: a bar on a terminal, else plain lines by steps; ``steps``: plain lines by
        steps; ``each``: a plain line per student.

    Attributes
    ----------
    done : int
        Submissions graded so far.
    """

    def __init__(self, total: int, stream: TextIO, mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown progress mode {mode!r}: use one of {', '.join(MODES)}")
        self.total, self.done, self._stream, self._each = total, 0, stream, mode == "each"
        self._started = self._last_line = time.monotonic()
        self._bar: tqdm[NoReturn] | None = None
        if total and mode == "auto" and _is_terminal(stream):
            from tqdm import tqdm

            sized = _has_size(stream)  # a terminal of unknown size is taken for 80 x 24
            self._bar = tqdm(total=total, file=stream, desc="grading", unit=" students",
                             dynamic_ncols=sized, ncols=None if sized else 80,
                             nrows=None if sized else 24, leave=True, bar_format=BAR_FORMAT)

    @property
    def log(self) -> TextIO:
        """A stream for other messages during grading: whole lines go above the bar (the
        progress stream itself when there is no bar)."""
        if self._bar is None:
            return self._stream
        return cast(TextIO, _AboveTheBar(self._stream))

    def advance(self, graded: Graded) -> None:
        """Count one more graded submission and show it."""
        self.done += 1
        shown = (f"{inert.one_line(graded.student)}: {graded.score:g}/{graded.max_score:g}")
        if self._bar is not None:
            self._bar.set_postfix_str(shown, refresh=False)
            self._bar.update(1)
            return
        now = time.monotonic()
        if not self._plain_due(now):
            return
        from tqdm import tqdm

        self._last_line = now
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate else 0.0
        print(f"[{self.done}/{self.total}] {shown} ({graded.seconds:.1f} s) "
              f"{100 * self.done // self.total}%, {rate:.2f} students/s, "
              f"{tqdm.format_interval(left)} left", file=self._stream, flush=True)

    def failed(self, why: str) -> None:
        """Count one more submission, which got no result, and print ``why`` (made inert)."""
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
        self.note(f"grader failure: {why}")

    def note(self, line: str) -> None:
        """Print ``line`` (made inert) above the bar, or as a plain line."""
        if self._bar is not None:
            self._bar.write(inert.terminal(line), file=self._stream)
        else:
            print(inert.terminal(line), file=self._stream, flush=True)

    def close(self) -> None:
        """Finish the bar (it stays on screen, with the time taken)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _plain_due(self, now: float) -> bool:
        """Whether the plain line of the ``done``-th submission is printed."""
        if self._each or self.total <= PLAIN_ALL_UP_TO or self.done in (1, self.total):
            return True
        step = 100 // PLAIN_STEP_PERCENT
        crossed = self.done * step // self.total > (self.done - 1) * step // self.total
        return crossed or now - self._last_line >= PLAIN_MAX_SILENCE


def _is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed or odd stream is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _has_size(stream: TextIO) -> bool:
    """Whether the terminal ``stream`` states its size (a fresh pseudo-terminal says 0 x 0,
    and tqdm draws no bar in 0 rows)."""
    try:
        size = os.get_terminal_size(stream.fileno())
        return size.columns > 0 and size.lines > 0
    except (AttributeError, ValueError, OSError):
        return False


class _AboveTheBar(io.TextIOBase):
    """A text stream whose whole lines are printed above the progress bar (`tqdm.write`)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream, self._pending = stream, ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        from tqdm import tqdm

        for line in lines:
            tqdm.write(line, file=self._stream)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()
