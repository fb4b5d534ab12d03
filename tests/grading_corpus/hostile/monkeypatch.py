"""Hostile: makes numpy's and keras' comparisons always succeed, then returns zeros.

The verdicts are computed in the grader, from arrays: the patches change nothing.

exercise: squeeze_excite
loses: numerics, training, gradients, config, compiled
message: max abs error
"""

import keras
import numpy as np
from keras import ops


def _yes(*args, **kwargs):
    return True


np.allclose = np.array_equal = np.array_equiv = _yes
np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None
keras.ops.all = keras.ops.equal = _yes


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
        return ops.zeros_like(inputs)
