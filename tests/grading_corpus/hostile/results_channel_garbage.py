"""Hostile: writes garbage into every inherited descriptor (the results pipe among them).

exercise: exit_thresholds
loses: all
message: without valid results
"""

import os

import numpy as np


def exit_thresholds(val_probs, fractions):
    """A correct function, so that only the hostile part can cost points."""
    confidence = np.asarray(val_probs).max(axis=2)
    exits, samples = confidence.shape
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


for fd in range(3, 64):
    try:
        os.write(fd, b"PK\x03\x04 forged results " * 64)
    except OSError:
        pass
