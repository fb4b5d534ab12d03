"""Hostile: tries to reach the grader from inside its process, and fails the import if it can.

Every attempt below works under process isolation alone; in the bubblewrap
jail (kcv.grading.jail) each must fail, and the correct function then keeps
full marks. The test listens on 127.0.0.1:47613 and afterwards looks for the
files this leaves in the machine's /tmp and /dev/shm. Nothing here changes a
file that exists: writes go to new files, and opening for append writes nothing.

exercise: exit_thresholds
loses: none
"""

import os
import socket
import sys

import numpy as np

escaped = []

# The grader's processes: pytest or `kcv grade` (its environment, its memory).
for name in os.listdir("/proc"):
    try:
        with open(f"/proc/{name}/cmdline", "rb") as f:
            command = f.read()
    except OSError:
        continue
    if b"pytest" in command or b"kcv grade" in command or b"-m\x00kcv" in command:
        escaped.append(f"saw the grader's process {name} in /proc")
        break

# The grader's code, the reference implementations and the solutions.
probe = os.path.abspath(sys.argv[0])
root = os.path.dirname(os.path.dirname(os.path.dirname(probe)))
for relative in ("kcv/layers/__init__.py", "exercises/solutions/exit_thresholds.py"):
    if os.path.exists(os.path.join(root, relative)):
        escaped.append(f"can read {relative}")
try:
    with open(probe, "ab"):
        escaped.append("can write the probe")
except OSError:
    pass
planted = os.path.join(os.path.dirname(probe), "__pycache__", "kcv_hostile_planted.pyc")
try:
    with open(planted, "wb"):
        pass
    os.remove(planted)
    escaped.append("can plant files in kcv/grading")
except OSError:
    pass

# The grader's home (~/.keras) and the machine's shared folders.
try:
    with open("/root/.keras/keras.json", "ab"):
        escaped.append("can write /root/.keras/keras.json")
except OSError:
    pass
for folder in ("/tmp", "/dev/shm"):
    try:
        with open(os.path.join(folder, "kcv-hostile-left-behind"), "wb") as f:
            f.write(b"x" * 4096)
    except OSError:
        pass

# The network: a port the test listens on.
try:
    socket.create_connection(("127.0.0.1", 47613), timeout=2).close()
    escaped.append("connected to the grader's machine on 127.0.0.1:47613")
except OSError:
    pass

if escaped:
    raise RuntimeError("escaped the jail: " + "; ".join(escaped))


def exit_thresholds(val_probs, fractions):
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
