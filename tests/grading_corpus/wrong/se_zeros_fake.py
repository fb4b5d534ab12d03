"""Wrong: a shape-only fake — the right weights, but it returns zeros.

exercise: squeeze_excite
loses: numerics, training, gradients, config, compiled
"""

import keras
from keras import ops


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
        return ops.zeros_like(inputs)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
