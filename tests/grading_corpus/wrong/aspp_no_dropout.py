"""Wrong: takes `dropout` but never applies it.

exercise: aspp
loses: training
"""

import keras
from keras import ops


def _unit(filters, kernel_size, dilation_rate=1):
    return [
        keras.layers.Conv2D(
            filters, kernel_size, padding="same", dilation_rate=dilation_rate, use_bias=False
        ),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
    ]


def _run(layers, x, training, shape=None):
    for layer in layers:
        if shape is not None:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        else:
            x = layer(x, training=training)
    return x


class ASPP(keras.layers.Layer):
    def __init__(self, filters=256, rates=(6, 12, 18), image_pooling=True, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.rates = filters, tuple(rates)
        self.image_pooling, self.dropout = image_pooling, dropout

    def build(self, input_shape):
        self.atrous = [_unit(self.filters, 3, rate) for rate in self.rates]
        self.conv1x1 = _unit(self.filters, 1)
        for branch in self.atrous + [self.conv1x1]:
            _run(branch, None, None, input_shape)
        branches = 1 + len(self.rates) + bool(self.image_pooling)
        if self.image_pooling:
            self.pool = _unit(self.filters, 1)
            _run(self.pool, None, None, (input_shape[0], 1, 1, input_shape[-1]))
        self.project = _unit(self.filters, 1)
        _run(self.project, None, None, (*input_shape[:-1], branches * self.filters))

    def call(self, inputs, training=None):
        outputs = [_run(self.conv1x1, inputs, training)]
        outputs += [_run(branch, inputs, training) for branch in self.atrous]
        if self.image_pooling:
            pooled = _run(self.pool, ops.mean(inputs, axis=(1, 2), keepdims=True), training)
            outputs.append(pooled + ops.zeros_like(outputs[0]))
        return _run(self.project, ops.concatenate(outputs, axis=-1), training)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "rates": self.rates,
            "image_pooling": self.image_pooling,
            "dropout": self.dropout,
        }
