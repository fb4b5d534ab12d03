"""Wrong: the excitation has no sigmoid, so the gate is not in (0, 1).

exercise: squeeze_excite
loses: numerics, training, gradients, config, compiled
message: diagnosis: the gate has no sigmoid
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
        self.expand = keras.layers.Dense(channels)  # the sigmoid is missing
        self.reduce.build((None, channels))
        self.expand.build((None, hidden))

    def call(self, inputs):
        gate = self.expand(self.reduce(ops.mean(inputs, axis=(1, 2))))
        return inputs * gate[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
