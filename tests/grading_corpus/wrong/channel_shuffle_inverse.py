"""Wrong: splits the channels as (n, groups), the inverse permutation.

exercise: channel_shuffle
loses: numerics, training, config, compiled
message: diagnosis: this is the inverse permutation
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
        x = ops.reshape(inputs, (-1, shape[1], shape[2], channels // self.groups, self.groups))
        x = ops.transpose(x, (0, 1, 2, 4, 3))
        return ops.reshape(x, (-1, shape[1], shape[2], channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}
