"""Wrong: a sample leaves only strictly above the threshold (> instead of >=).

exercise: exit_thresholds
loses: last_exit, values, edge_cases, pure
"""

import numpy as np


def exit_thresholds(val_probs, fractions):
    confidence = np.asarray(val_probs).max(axis=2)
    exits, samples = confidence.shape
    thresholds = np.full(exits, np.inf)
    gone = np.zeros(samples, dtype=bool)
    for k in range(exits - 1):
        quota = int(np.floor(samples * fractions[k]))
        left = confidence[k, ~gone]
        if 1 <= quota <= left.size:
            thresholds[k] = np.sort(left)[::-1][quota - 1]
        gone |= confidence[k] > thresholds[k]
    thresholds[-1] = -np.inf
    return thresholds
