"""Wrong: the pooling branch averages instead of taking the maximum.

exercise: inception_module
loses: numerics, training, gradients, config, compiled
message: diagnosis: the pooling branch averages
"""

import keras
from keras import ops


class InceptionModule(keras.layers.Layer):
    """Four branches (1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max pool -> 1x1), concatenated."""

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
        self.filters_1x1 = filters_1x1
        self.filters_3x3_reduce = filters_3x3_reduce
        self.filters_3x3 = filters_3x3
        self.filters_5x5_reduce = filters_5x5_reduce
        self.filters_5x5 = filters_5x5
        self.filters_pool_proj = filters_pool_proj
        self.batch_norm = batch_norm

    def _unit(self, filters, kernel_size):
        """Conv (bias unless BN follows) [-> BN] -> ReLU, as a list of layers."""
        layers = [
            keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=not self.batch_norm)
        ]
        if self.batch_norm:
            layers.append(keras.layers.BatchNormalization())
        return layers + [keras.layers.ReLU()]

    def build(self, input_shape):
        self.branch_1x1 = self._unit(self.filters_1x1, 1)
        self.branch_3x3 = self._unit(self.filters_3x3_reduce, 1) + self._unit(self.filters_3x3, 3)
        self.branch_5x5 = self._unit(self.filters_5x5_reduce, 1) + self._unit(self.filters_5x5, 5)
        self.branch_pool = [
            keras.layers.AveragePooling2D(3, strides=1, padding="same")
        ] + self._unit(self.filters_pool_proj, 1)
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

    def compute_output_shape(self, input_shape):
        channels = self.filters_1x1 + self.filters_3x3 + self.filters_5x5 + self.filters_pool_proj
        return (*input_shape[:-1], channels)

    def get_config(self):
        return {
            **super().get_config(),
            "filters_1x1": self.filters_1x1,
            "filters_3x3_reduce": self.filters_3x3_reduce,
            "filters_3x3": self.filters_3x3,
            "filters_5x5_reduce": self.filters_5x5_reduce,
            "filters_5x5": self.filters_5x5,
            "filters_pool_proj": self.filters_pool_proj,
            "batch_norm": self.batch_norm,
        }
