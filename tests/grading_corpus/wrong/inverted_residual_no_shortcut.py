"""Wrong: never adds the shortcut, even when stride 1 and the channel counts match.

exercise: inverted_residual
loses: numerics, training, gradients, config, compiled
message: diagnosis: the shortcut is missing
"""

import keras


class InvertedResidual(keras.layers.Layer):
    def __init__(self, filters, expansion=6, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.expansion, self.strides = filters, expansion, strides

    def build(self, input_shape):
        hidden = int(round(input_shape[-1] * self.expansion))
        self.stack = []
        if self.expansion != 1:
            self.stack += [
                keras.layers.Conv2D(hidden, 1, use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(6.0),
            ]
        self.stack += [
            keras.layers.DepthwiseConv2D(3, strides=self.strides, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(6.0),
            keras.layers.Conv2D(self.filters, 1, use_bias=False),
            keras.layers.BatchNormalization(),
        ]
        shape = input_shape
        for layer in self.stack:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "expansion": self.expansion,
            "strides": self.strides,
        }
