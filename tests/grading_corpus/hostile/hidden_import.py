"""Hostile: imports the reference by a name built at run time (invisible to the source scan).

The grading process refuses to import kcv.

exercise: exit_thresholds
loses: all
message: is not available to submissions
"""

import builtins

_load = getattr(builtins, "__imp" + "ort__")
exit_thresholds = _load("kc" + "v.adaptive", fromlist=["exit_thresholds"]).exit_thresholds
