"""Wrong: squeezes with numpy — fine eagerly, but it cannot be traced (symbolic call, jit).

Gradients still reach the weights (numpy only touches the input). Graded on JAX.

exercise: squeeze_excite
loses: output_shape, compiled
"""

import keras
import numpy as np


class SqueezeExcite(keras.layers.Layer):
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
        squeezed = np.asarray(inputs).mean(axis=(1, 2))
        gate = self.expand(self.reduce(squeezed))
        return inputs * gate[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
