"""Hostile: fills shared memory, which no rlimit caps, while being imported.

exercise: exit_thresholds
loses: all
message: of memory (all kinds, shared memory and tmpfs files included)
needs: cgroup
"""

import mmap

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


# MAP_SHARED | MAP_ANONYMOUS pages are shmem: RLIMIT_DATA does not count them.
# Bounded at 3 GiB, so that on a grader without a memory cgroup this test
# machine survives (and the submission then scores, which the test expects).
hoard = []
for _ in range(24):
    block = mmap.mmap(-1, 128 << 20, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    block.write(b"\1" * (128 << 20))
    hoard.append(block)
