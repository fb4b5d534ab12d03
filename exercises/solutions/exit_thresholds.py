"""Instructor solution: MSDNet's budgeted-batch exit thresholds (exercise exit_thresholds)."""

import numpy as np


def exit_thresholds(val_probs, fractions):
    """One confidence threshold per exit so that fractions[k] of the samples leave at exit k."""
    val_probs = np.asarray(val_probs, dtype="float64")
    exits, samples, _ = val_probs.shape
    confidence = val_probs.max(axis=2)
    thresholds = np.full(exits, np.inf)
    gone = np.zeros(samples, dtype=bool)
    for k in range(exits - 1):
        quota = int(np.floor(samples * fractions[k]))
        left = confidence[k, ~gone]
        if 1 <= quota <= left.size:
            thresholds[k] = np.sort(left)[::-1][quota - 1]
        gone |= confidence[k] >= thresholds[k]
    thresholds[-1] = -np.inf
    return thresholds
