"""Wrong: concatenates the 3x3 expansion before the 1x1 expansion.

exercise: fire_module
loses: numerics, training, gradients, config, compiled
message: puts the 1x1 expansion first
"""

import keras
from keras import ops


class FireModule(keras.layers.Layer):
    """relu(1x1 squeeze), then [relu(1x1 expand), relu(3x3 expand)] on the channel axis."""

    def __init__(self, squeeze, expand_1x1, expand_3x3, **kwargs):
        super().__init__(**kwargs)
        self.squeeze = squeeze
        self.expand_1x1 = expand_1x1
        self.expand_3x3 = expand_3x3

    def build(self, input_shape):
        self.squeeze_conv = keras.layers.Conv2D(self.squeeze, 1, activation="relu")
        self.expand_1x1_conv = keras.layers.Conv2D(self.expand_1x1, 1, activation="relu")
        self.expand_3x3_conv = keras.layers.Conv2D(
            self.expand_3x3, 3, padding="same", activation="relu"
        )
        self.squeeze_conv.build(input_shape)
        squeezed = self.squeeze_conv.compute_output_shape(input_shape)
        self.expand_1x1_conv.build(squeezed)
        self.expand_3x3_conv.build(squeezed)

    def call(self, inputs):
        q = self.squeeze_conv(inputs)
        return ops.concatenate([self.expand_3x3_conv(q), self.expand_1x1_conv(q)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.expand_1x1 + self.expand_3x3)

    def get_config(self):
        return {
            **super().get_config(),
            "squeeze": self.squeeze,
            "expand_1x1": self.expand_1x1,
            "expand_3x3": self.expand_3x3,
        }
