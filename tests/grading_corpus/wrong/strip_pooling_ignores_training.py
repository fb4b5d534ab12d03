"""Wrong: batch normalization always runs in inference mode (training ignored).

exercise: strip_pooling
loses: training
"""

import keras
from keras import ops


class StripPooling(keras.layers.Layer):
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

    def call(self, inputs):
        rows = self.horizontal_bn(
            self.horizontal(ops.mean(inputs, axis=2, keepdims=True)), training=False
        )
        columns = self.vertical_bn(
            self.vertical(ops.mean(inputs, axis=1, keepdims=True)), training=False
        )
        return inputs * ops.sigmoid(self.gate(ops.relu(rows + columns)))
