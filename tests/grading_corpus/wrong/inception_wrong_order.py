"""Wrong: creates the 5x5 branch before the 3x3 branch (same parameters, wrong order).

exercise: inception_module
loses: numerics, training, gradients, config, compiled
"""

import keras
from keras import ops


class InceptionModule(keras.layers.Layer):
    def __init__(
        self,
        filters_1x1,
        filters_3x3_reduce,
        filters_3x3,
        filters_5x5_reduce,
        filters_5x5,
        filters_pool_proj,
        batch_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = (
            filters_1x1,
            filters_3x3_reduce,
            filters_3x3,
            filters_5x5_reduce,
            filters_5x5,
            filters_pool_proj,
        )
        self.batch_norm = batch_norm

    def _unit(self, filters, kernel_size):
        layers = [
            keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=not self.batch_norm)
        ]
        if self.batch_norm:
            layers.append(keras.layers.BatchNormalization())
        return layers + [keras.layers.ReLU()]

    def build(self, input_shape):
        f1, f3r, f3, f5r, f5, fp = self.filters
        self.branch_1x1 = self._unit(f1, 1)
        self.branch_5x5 = self._unit(f5r, 1) + self._unit(f5, 5)
        self.branch_3x3 = self._unit(f3r, 1) + self._unit(f3, 3)
        self.branch_pool = [keras.layers.MaxPooling2D(3, strides=1, padding="same")] + self._unit(
            fp, 1
        )
        for branch in (self.branch_1x1, self.branch_3x3, self.branch_5x5, self.branch_pool):
            shape = input_shape
            for layer in branch:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        outputs = []
        for branch in (self.branch_1x1, self.branch_3x3, self.branch_5x5, self.branch_pool):
            x = inputs
            for layer in branch:
                x = layer(x, training=training)
            outputs.append(x)
        return ops.concatenate(outputs, axis=-1)

    def get_config(self):
        names = (
            "filters_1x1",
            "filters_3x3_reduce",
            "filters_3x3",
            "filters_5x5_reduce",
            "filters_5x5",
            "filters_pool_proj",
        )
        return {
            **super().get_config(),
            **dict(zip(names, self.filters)),
            "batch_norm": self.batch_norm,
        }
