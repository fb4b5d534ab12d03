"""Wrong: codewords stored transposed, (C, K) instead of (K, C) — same count, wrong layout.

exercise: encoding
loses: numerics, training, gradients, config, compiled
"""

import keras
from keras import ops


class Encoding(keras.layers.Layer):
    def __init__(self, num_codes=32, **kwargs):
        super().__init__(**kwargs)
        self.num_codes = num_codes

    def build(self, input_shape):
        channels = input_shape[-1]
        self.codewords = self.add_weight(name="codewords", shape=(channels, self.num_codes))
        self.scale = self.add_weight(name="scale", shape=(self.num_codes,))

    def call(self, inputs):
        codes = ops.transpose(self.codewords)
        x = ops.reshape(inputs, (ops.shape(inputs)[0], -1, inputs.shape[-1]))
        distances = (
            ops.sum(ops.square(x), axis=-1, keepdims=True)
            - 2.0 * ops.matmul(x, self.codewords)
            + ops.sum(ops.square(codes), axis=-1)
        )
        assignment = ops.softmax(distances * self.scale, axis=-1)
        weighted = ops.matmul(ops.transpose(assignment, (0, 2, 1)), x)
        return weighted - ops.expand_dims(ops.sum(assignment, axis=1), -1) * codes

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes}
