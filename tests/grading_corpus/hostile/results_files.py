"""Hostile: plants forged result files wherever results might go, then returns zeros.

Results travel through a pipe: the files change nothing.

exercise: exit_thresholds
loses: defined, last_exit, values, edge_cases, pure
message: the last threshold is not -inf
"""

import glob
import io
import os

import numpy as np

_forged = io.BytesIO()
np.savez(_forged, **{f"t0/c{i}/out": np.full(3, -np.inf) for i in range(8)})
for folder in {
    os.getcwd(),
    os.path.expanduser("~"),
    os.environ.get("TMPDIR", "/tmp"),
    *glob.glob("/tmp/kcv-grade-*"),
}:
    for name in ("results.npz", "results.json", "out.npz"):
        try:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(_forged.getvalue())
        except OSError:
            pass


def exit_thresholds(val_probs, fractions):
    return np.zeros(len(fractions))
