"""Wrong: returns the gate (broadcast to the input's shape) instead of x * gate.

exercise: squeeze_excite
loses: numerics, training, gradients, config, compiled
message: diagnosis: the output is the gate s itself
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
        gate = self.expand(self.reduce(ops.mean(inputs, axis=(1, 2))))
        return ops.broadcast_to(gate[:, None, None, :], ops.shape(inputs))  # not x * gate

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
