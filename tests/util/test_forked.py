"""forked_map (grader/util/forked.py): work in forked copies of this process, in order."""

from __future__ import annotations

import os

import pytest

from grader.util.forked import WorkerFailed, forked_map


@pytest.mark.parametrize("jobs", [1, 2, 3, 10])
def test_are_results_in_order_whatever_the_jobs(jobs: int) -> None:
    assert list(forked_map(lambda x: x * x, list(range(11)), jobs)) == [
        x * x for x in range(11)]


def test_does_work_run_in_children_with_this_process_state() -> None:
    """The work is inherited, not pickled: a closure over local state works, in other pids."""
    state = {"offset": 100}
    pids = list(forked_map(lambda x: (x + state["offset"], os.getpid()), [1, 2, 3, 4], 2))
    assert [value for value, _ in pids] == [101, 102, 103, 104]
    assert os.getpid() not in {pid for _, pid in pids}
    assert len({pid for _, pid in pids}) == 2


def test_does_an_error_in_the_work_reach_the_caller() -> None:
    def work(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    results = forked_map(work, [1, 2, 3, 4, 5], 2)
    assert next(results) == 1 and next(results) == 2
    with pytest.raises(WorkerFailed, match="ValueError: three"):
        next(results)


def test_does_a_dead_child_fail_the_map() -> None:
    with pytest.raises(WorkerFailed, match="a worker ended before item"):
        list(forked_map(lambda x: os._exit(3) if x == 2 else x, [1, 2, 3, 4], 2))


def test_is_an_empty_map_empty() -> None:
    assert list(forked_map(lambda x: x, [], 4)) == []
