"""Wrong: no ReLU after the addition (returns branch + shortcut).

exercise: resnext_block
loses: numerics, training, gradients, config, compiled
message: the ReLU after the addition is missing
"""

import keras


class ResNeXtBottleneck(keras.layers.Layer):
    """1x1 -> BN -> ReLU -> grouped 3x3 (stride) -> BN -> ReLU -> 1x1 (4F) -> BN, + shortcut, ReLU."""

    def __init__(self, filters, strides=1, groups=1, width_per_group=64, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides
        self.groups = groups
        self.width_per_group = width_per_group

    def build(self, input_shape):
        channels = input_shape[-1]
        width = int(self.filters * self.width_per_group / 64) * self.groups
        out = 4 * self.filters
        self.branch = [
            keras.layers.Conv2D(width, 1, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(
                width, 3, strides=self.strides, padding="same", groups=self.groups, use_bias=False
            ),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(out, 1, use_bias=False),
            keras.layers.BatchNormalization(),
        ]
        self.projection = []
        if self.strides != 1 or channels != out:
            self.projection = [
                keras.layers.Conv2D(out, 1, strides=self.strides, use_bias=False),
                keras.layers.BatchNormalization(),
            ]
        for layers in (self.branch, self.projection):
            shape = input_shape
            for layer in layers:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.branch:
            x = layer(x, training=training)
        shortcut = inputs
        for layer in self.projection:
            shortcut = layer(shortcut, training=training)
        return x + shortcut

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.strides != 1:
            height = None if height is None else -(-height // self.strides)
            width = None if width is None else -(-width // self.strides)
        return (batch, height, width, 4 * self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "groups": self.groups,
            "width_per_group": self.width_per_group,
        }
