"""Hostile: call() returns an object equal to everything, with a forged shape.

exercise: squeeze_excite
loses: output_shape, numerics, training, gradients, config, compiled
message: not a numeric tensor
"""

import keras
from keras import ops


class AlwaysEqual:
    shape = (2, 5, 6, 16)
    dtype = "float32"

    def __eq__(self, other):
        return True

    def __array__(self, *args, **kwargs):
        return self


class SqueezeExcite(keras.layers.Layer):
    """A correct block, so that only the hostile part can cost points."""

    def __init__(self, reduction=16, **kwargs):
        super().__init__(**kwargs)
        self.reduction = reduction

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(1, channels // self.reduction)
        self.reduce = keras.layers.Dense(hidden, activation="relu")
        self.expand = keras.layers.Dense(channels, activation="sigmoid")
        self.reduce.build((None, channels))
        self.expand.build((None, hidden))

    def call(self, inputs):
        gate = self.expand(self.reduce(ops.mean(inputs, axis=(1, 2))))
        return inputs * gate[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


class SqueezeExcite(SqueezeExcite):
    def call(self, inputs):
        return AlwaysEqual()
