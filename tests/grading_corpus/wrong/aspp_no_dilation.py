"""Wrong: the 3x3 branches ignore their rate (ordinary 3x3 convolutions).

exercise: aspp
loses: numerics, training, gradients, config, compiled
message: diagnosis: the 3x3 branches are not atrous
"""

import keras
from keras import ops


def _unit(filters, kernel_size, dilation_rate=1):
    """Conv (no bias) -> BN -> ReLU."""
    return [
        keras.layers.Conv2D(
            filters, kernel_size, padding="same", dilation_rate=dilation_rate, use_bias=False
        ),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
    ]


def _build(layers, shape):
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)


def _call(layers, x, training):
    for layer in layers:
        x = layer(x, training=training)
    return x


class ASPP(keras.layers.Layer):
    """1x1, one 3x3 atrous branch per rate, image pooling; concat -> 1x1 -> BN -> ReLU -> dropout."""

    def __init__(self, filters=256, rates=(6, 12, 18), image_pooling=True, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.rates = tuple(rates)
        self.image_pooling = image_pooling
        self.dropout = dropout

    def build(self, input_shape):
        # Creation order = weight order: rate branches, 1x1, pooling, projection.
        self.atrous = [_unit(self.filters, 3) for _ in self.rates]
        self.conv1x1 = _unit(self.filters, 1)
        for branch in self.atrous + [self.conv1x1]:
            _build(branch, input_shape)
        branches = 1 + len(self.rates)
        if self.image_pooling:
            self.pool = _unit(self.filters, 1)
            _build(self.pool, (input_shape[0], 1, 1, input_shape[-1]))
            branches += 1
        self.project = _unit(self.filters, 1)
        _build(self.project, (*input_shape[:-1], branches * self.filters))
        self.drop = keras.layers.Dropout(self.dropout)

    def call(self, inputs, training=None):
        outputs = [_call(self.conv1x1, inputs, training)]
        outputs += [_call(branch, inputs, training) for branch in self.atrous]
        if self.image_pooling:
            pooled = ops.mean(inputs, axis=(1, 2), keepdims=True)
            pooled = _call(self.pool, pooled, training)
            outputs.append(pooled + ops.zeros_like(outputs[0]))
        merged = _call(self.project, ops.concatenate(outputs, axis=-1), training)
        return self.drop(merged, training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "rates": self.rates,
            "image_pooling": self.image_pooling,
            "dropout": self.dropout,
        }
