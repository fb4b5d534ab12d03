"""Hostile: removes the import guard, imports kcv, subclasses the reference.

The probe reports the kcv class in the MRO.
Run without the jail, where kcv exists to be reused: in the jail it does not.

exercise: squeeze_excite
isolation: process
loses: all
message: derives from kcv.layers
"""

import builtins

_sys = getattr(builtins, "__imp" + "ort__")("s" + "ys")
getattr(_sys, "meta_" + "path").pop(0)
_layers = getattr(builtins, "__imp" + "ort__")("kc" + "v.layers", fromlist=["SqueezeExcite"])


class SqueezeExcite(_layers.SqueezeExcite):
    pass
