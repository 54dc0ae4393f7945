"""Writing results out: the gradebook, the instructor report."""
