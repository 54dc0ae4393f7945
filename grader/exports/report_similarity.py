"""The instructor report's "Similar submissions" section, from ``similarity.json``.

Ranking a class's pairs costs far more than the rest of the report (every submission is
tokenized), so the report never computes it: ``grader similarity SUBMISSIONS --out
RESULTS/similarity.json`` writes it beside the results, and every later ``grader report`` (or
``grader grade --report``) on that folder shows it. Student ids reach the page only as
escaped HTML.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Final

from grader.exports.similarity import REPORT_FILE, Ranking, percent, read

__all__ = ["SHOWN", "section"]

#: pairs shown in the report
SHOWN: Final = 20


def section(out: Path, students: int) -> str:
    """The section's HTML for the results folder ``out`` holding ``students`` results."""
    path = out / REPORT_FILE
    ranking = read(path) if path.is_file() else None
    if ranking is None:
        return ("<p>Not computed. Run <code>grader similarity SUBMISSIONS --out "
                f"{html.escape(str(path))}</code>, then build this report again.</p>")
    when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    seen = ranking.students + len(ranking.unreadable)  # with those holding no code
    stale = (f" <strong>It read {seen} submissions, this report holds {students} results: "
             "run it again after grading new submissions.</strong>" if seen != students
             else "")
    intro = (f"<p>From <code>grader similarity</code>, "
             f"{when.isoformat(timespec='minutes')}: {ranking.students} submissions, "
             f"{ranking.total_pairs} pairs. The share of both students' code (beyond the "
             "stubs and passages common to many submissions) that matches the other's, "
             "after names, strings, comments and layout are set aside. A high share is a "
             f"reason to read both submissions, not proof of copying.{stale}</p>")
    return intro + _table(ranking)


def _table(ranking: Ranking) -> str:
    if not ranking.pairs:
        return "<p>No two submissions share code beyond the stubs.</p>"
    rows = []
    for number, pair in enumerate(ranking.pairs[:SHOWN], 1):
        files = "".join(f"<li>{html.escape(who)}: " + html.escape(", ".join(
            f"{name} {percent(share)}" for name, share in found)) + "</li>"
            for who, found in ((pair.first, pair.first_files),
                               (pair.second, pair.second_files)))
        rows.append(
            f'<tr data-pair="{html.escape(pair.first)} {html.escape(pair.second)}">'
            f"<td class=num>{number}</td><td class='num similarity'>{percent(pair.similarity)}</td>"
            f"<td class=student>{html.escape(pair.first)}</td>"
            f"<td class=num>{percent(pair.first_share)}</td>"
            f"<td class=student>{html.escape(pair.second)}</td>"
            f"<td class=num>{percent(pair.second_share)}</td>"
            f"<td class=num>{pair.matched}</td><td><ul>{files}</ul></td></tr>")
    return ("<table id=similarity-table><tr><th class=num>rank</th><th class=num>similarity"
            "</th><th>student</th><th class=num>of theirs</th><th>student</th>"
            "<th class=num>of theirs</th><th class=num>matched tokens</th>"
            f"<th>files with matched code (share matched)</th></tr>{''.join(rows)}</table>")
