"""Hostile: ends the process with os._exit(0) from inside the graded call, skipping every handler.

exercise: exit_thresholds
loses: all
message: without valid results
"""

import os


def exit_thresholds(val_probs, fractions):
    os._exit(0)
