"""Wrong: the assignment softmax normalises over the positions instead of the codewords.

exercise: encoding
loses: numerics, training, gradients, config, compiled
message: diagnosis: the softmax runs over the positions
"""

import math

import keras
from keras import ops


class Encoding(keras.layers.Layer):
    """e_k = sum_i a_ik (x_i - c_k), a_ik = softmax_k(scale_k ||x_i - c_k||^2)."""

    def __init__(self, num_codes=32, **kwargs):
        super().__init__(**kwargs)
        self.num_codes = num_codes

    def build(self, input_shape):
        channels = input_shape[-1]
        bound = 1.0 / math.sqrt(self.num_codes * channels)
        self.codewords = self.add_weight(
            name="codewords",
            shape=(self.num_codes, channels),
            initializer=keras.initializers.RandomUniform(-bound, bound),
        )
        self.scale = self.add_weight(
            name="scale",
            shape=(self.num_codes,),
            initializer=keras.initializers.RandomUniform(-1.0, 0.0),
        )

    def call(self, inputs):
        channels = inputs.shape[-1]
        x = ops.reshape(inputs, (ops.shape(inputs)[0], -1, channels))  # (B, N, C)
        distances = (
            ops.sum(ops.square(x), axis=-1, keepdims=True)  # ||x_i||²
            - 2.0 * ops.matmul(x, ops.transpose(self.codewords))  # - 2 x_i·c_k
            + ops.sum(ops.square(self.codewords), axis=-1)  # + ||c_k||²
        )
        assignment = ops.softmax(distances * self.scale, axis=1)  # (B, N, K)
        weighted = ops.matmul(ops.transpose(assignment, (0, 2, 1)), x)  # Σ_i a_ik x_i
        return weighted - ops.expand_dims(ops.sum(assignment, axis=1), -1) * self.codewords

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_codes, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes}
