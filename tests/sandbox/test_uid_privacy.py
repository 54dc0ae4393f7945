"""At the uid isolation level (root without bubblewrap: the child runs as uid 65534 and can
read whatever any user may), student code reads nothing that decides a grade and no other
student's work: the grader takes the "other" permissions off the reference, the hidden tests,
``course.toml``, the course's mutants and version control, the output folder and every
submission it is given, before the first child starts."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import TOY_SOLUTION, _reachable_by_nobody, _venv_under_tmp, make_toy_course

from grader.engine import results

ON_CI = os.environ.get("CI") == "true"

SPY = '''\
import json

PATHS = {paths}


def add_one(x):
    """Read what it should not, and show what it got in its feedback."""
    seen = {{}}
    for name, path in PATHS.items():
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                seen[name] = "read: " + fh.read(40)
        except OSError as exc:
            seen[name] = "refused: " + type(exc).__name__
    raise ValueError("SEEN " + json.dumps(seen, sort_keys=True))
'''


@pytest.mark.slow
def test_at_the_uid_level_a_submission_reads_no_answer_and_no_other_student() -> None:
    if os.geteuid() != 0:
        pytest.skip("the uid level needs root")
    python = _venv_under_tmp()
    if not _reachable_by_nobody(python):
        message = "no Python here that uid 65534 can start"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="grader-uid-privacy-") as shared:
        root = Path(shared)
        root.chmod(0o755)  # as an instructor's folder often is: anyone may enter
        course = make_toy_course(root / "course").root
        (course / "mutants").mkdir()
        (course / "mutants" / "toy.py").write_text("MUTANT quoting the reference\n")
        (course / ".git").mkdir()
        (course / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        victim = root / "class" / "victim"
        victim.mkdir(parents=True)
        (victim / "toy.py").write_text("# VICTIM's own work\n" + TOY_SOLUTION)
        paths = {"solution": course / "solutions" / "toy.py",
                 "hidden test": course / "autograde_tests" / "test_toy.py",
                 "course.toml": course / "course.toml",
                 "mutant": course / "mutants" / "toy.py",
                 "git": course / ".git" / "HEAD",
                 "other student": victim / "toy.py",
                 "public stub": course / "exercises" / "toy.py"}
        for path in root.rglob("*"):  # the umask of a shared machine: all readable
            path.chmod(0o755 if path.is_dir() else 0o644)
        spy = root / "class" / "spy"
        spy.mkdir()
        (spy / "toy.py").write_text(SPY.format(paths=repr({k: str(v)
                                                            for k, v in paths.items()})))
        spy.chmod(0o755)
        (spy / "toy.py").chmod(0o644)
        out = root / "out"
        env = {**os.environ, "PATH": str(python.parent)}  # no bubblewrap: the uid level
        proc = subprocess.run(
            [str(python), "-m", "grader", "grade", str(root / "class"), "--out", str(out),
             "--jobs", "1", "--course", str(course)],
            capture_output=True, text=True, timeout=600, env=env, cwd=root)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "reduced isolation (uid)" in proc.stderr
        graded = {r["student"]: r for r in results.load_all(out)}
    assert graded["victim"]["score"] == graded["victim"]["max_score"]
    text = json.dumps(graded["spy"])
    start = text.index("SEEN ") + len("SEEN ")
    seen = json.loads(json.loads('"' + text[start:text.index("}", start) + 1] + '"'))
    assert seen.pop("public stub").startswith("read: ")  # the probe itself works
    assert seen == {name: "refused: PermissionError" for name in seen}, seen
    assert set(seen) == set(paths) - {"public stub"}
