"""The capstone's training setup: the defaults of ``grader curves`` and of
:func:`commands.training_curves.curves` (kept apart so that ``grader --help`` imports nothing
heavy to show them)."""

EPOCHS = 10
"""Passes over the training set, for each way of training."""
BATCH_SIZE = 32
"""Mini-batch size of SGD."""
LR = 3.0
"""Learning rate of both ways."""
HIDDEN = 32
"""Hidden units of the MLP [64, HIDDEN, 10]."""
SEED = 0
"""Seeds the initial parameters and the shuffles."""
