"""Wrong: squeezes with a global max instead of a global average.

exercise: squeeze_excite
loses: numerics, training, gradients, config, compiled
message: the squeeze takes the maximum over height and width
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
        gate = self.expand(self.reduce(ops.max(inputs, axis=(1, 2))))
        return inputs * gate[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
