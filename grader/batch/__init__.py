"""Grading a class: finding and unpacking submissions, the pipeline and its executors."""
