"""Wrong: reshapes and merges back without the transpose (the identity).

exercise: channel_shuffle
loses: numerics, training, config, compiled
message: the transpose of the (groups, n) axes is missing
"""

import keras
from keras import ops


class ChannelShuffle(keras.layers.Layer):
    """(B, H, W, G·n) -> view (B, H, W, G, n) -> swap G and n -> (B, H, W, n·G)."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def build(self, input_shape):
        pass

    def call(self, inputs):
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        x = ops.reshape(inputs, (-1, shape[1], shape[2], self.groups, channels // self.groups))
        return ops.reshape(x, (-1, shape[1], shape[2], channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}
