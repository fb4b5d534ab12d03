"""Wrong: right thresholds, but it sorts the caller's array in place.

exercise: exit_thresholds
loses: pure
"""

import numpy as np


def exit_thresholds(val_probs, fractions):
    val_probs.sort(axis=2)  # modifies the argument
    confidence = val_probs[:, :, -1]
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
