"""Grading one submission: running tests, outcomes, feedback, results and their schema."""
