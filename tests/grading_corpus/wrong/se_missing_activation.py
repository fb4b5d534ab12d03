"""Wrong: the first fully connected layer of the excitation has no ReLU.

exercise: squeeze_excite
loses: numerics, training, gradients, config, compiled
message: diagnosis: there is no ReLU between the two fully connected layers
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
        self.reduce = keras.layers.Dense(hidden)  # the ReLU is missing
        self.expand = keras.layers.Dense(channels, activation="sigmoid")
        self.reduce.build((None, channels))
        self.expand.build((None, hidden))

    def call(self, inputs):
        gate = self.expand(self.reduce(ops.mean(inputs, axis=(1, 2))))
        return inputs * gate[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
