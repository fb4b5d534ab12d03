"""Instructor solution: MobileNetV2's inverted residual block (exercise inverted_residual)."""

import keras


class InvertedResidual(keras.layers.Layer):
    """1x1 expand -> BN -> ReLU6 -> 3x3 depthwise -> BN -> ReLU6 -> 1x1 project -> BN [+ x]."""

    def __init__(self, filters, expansion=6, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.expansion = expansion
        self.strides = strides

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = int(round(channels * self.expansion))
        self.layers_ = []
        if self.expansion != 1:
            self.layers_ += [
                keras.layers.Conv2D(hidden, 1, use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(6.0),
            ]
        self.layers_ += [
            keras.layers.DepthwiseConv2D(3, strides=self.strides, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(6.0),
            keras.layers.Conv2D(self.filters, 1, use_bias=False),
            keras.layers.BatchNormalization(),
        ]
        self.residual = self.strides == 1 and channels == self.filters
        shape = input_shape
        for layer in self.layers_:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.layers_:
            x = layer(x, training=training)
        return x + inputs if self.residual else x

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.strides == 2:
            height = None if height is None else (height + 1) // 2
            width = None if width is None else (width + 1) // 2
        return (batch, height, width, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "expansion": self.expansion,
            "strides": self.strides,
        }
