"""Hostile: removes the import guard and wraps the reference in a layer of its own.

The probe reports the kcv sublayer.
Run without the jail, where kcv exists to be reused: in the jail it does not.

exercise: squeeze_excite
isolation: process
loses: all
message: sublayer
"""

import builtins

import keras

_sys = getattr(builtins, "__imp" + "ort__")("s" + "ys")
getattr(_sys, "meta_" + "path").pop(0)
_layers = getattr(builtins, "__imp" + "ort__")("kc" + "v.layers", fromlist=["SqueezeExcite"])


class SqueezeExcite(keras.layers.Layer):
    def __init__(self, reduction=16, **kwargs):
        super().__init__(**kwargs)
        self.reduction = reduction
        self.inner = _layers.SqueezeExcite(reduction)

    def call(self, inputs):
        return self.inner(inputs)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
