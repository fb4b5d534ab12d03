"""Instructor solution: the Squeeze-and-Excitation block (exercise squeeze_excite)."""

import keras
from keras import ops


class SqueezeExcite(keras.layers.Layer):
    """x * sigmoid(W2 relu(W1 GAP(x) + b1) + b2), channels_last."""

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
        squeezed = ops.mean(inputs, axis=(1, 2))
        gate = self.expand(self.reduce(squeezed))
        return inputs * gate[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
