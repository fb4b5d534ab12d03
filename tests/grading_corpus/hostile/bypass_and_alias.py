"""Hostile: removes the import guard and hands in kcv's own function.

The probe reports that kcv was imported.
Run without the jail, where kcv exists to be reused: in the jail it does not.

exercise: exit_thresholds
isolation: process
loses: all
message: it imported kcv
"""

import builtins

_sys = getattr(builtins, "__imp" + "ort__")("s" + "ys")
getattr(_sys, "meta_" + "path").pop(0)
exit_thresholds = getattr(builtins, "__imp" + "ort__")(
    "kc" + "v.adaptive", fromlist=["exit_thresholds"]
).exit_thresholds
