"""Grading a class: finding and unpacking submissions, the pipeline and its executors.

From the bottom: `cells` (notebook cells as modules), `unpacked` (a submission and what was
read from it), `submissions` (which files are read, and from where), `pool` (worker processes
under a deadline), `jobs` (one submission read, graded and written; the run's shared
`jobs.BatchState`), `executors` (local worker processes or a Dask cluster), `progress` (a bar
on a terminal, a few plain lines elsewhere), `summary` (what the run prints: the whole output
folder) and `pipeline` (`grader grade`: a class, reruns).
"""
