"""Wrong: returns the gate instead of the input rescaled by it.

exercise: strip_pooling
loses: numerics, training, gradients, config, compiled
message: diagnosis: the output is the gate itself
"""

import keras
from keras import ops


class StripPooling(keras.layers.Layer):
    """x * sigmoid(conv1x1(relu(BN(conv3x1(row means)) + BN(conv1x3(column means)))))."""

    def build(self, input_shape):
        batch, height, width, channels = input_shape
        self.horizontal = keras.layers.Conv2D(channels, (3, 1), padding="same", use_bias=False)
        self.horizontal_bn = keras.layers.BatchNormalization()
        self.vertical = keras.layers.Conv2D(channels, (1, 3), padding="same", use_bias=False)
        self.vertical_bn = keras.layers.BatchNormalization()
        self.gate = keras.layers.Conv2D(channels, 1)
        self.horizontal.build((batch, height, 1, channels))
        self.horizontal_bn.build((batch, height, 1, channels))
        self.vertical.build((batch, 1, width, channels))
        self.vertical_bn.build((batch, 1, width, channels))
        self.gate.build(input_shape)

    def call(self, inputs, training=None):
        rows = ops.mean(inputs, axis=2, keepdims=True)  # (B, H, 1, C)
        columns = ops.mean(inputs, axis=1, keepdims=True)  # (B, 1, W, C)
        rows = self.horizontal_bn(self.horizontal(rows), training=training)
        columns = self.vertical_bn(self.vertical(columns), training=training)
        gate = ops.sigmoid(self.gate(ops.relu(rows + columns)))
        return gate

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
