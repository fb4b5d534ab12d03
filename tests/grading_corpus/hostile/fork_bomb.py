"""Hostile: forks a tree of detached processes (new sessions) that outlive it.

Bounded (126 processes, each ends after 613 s) in case the grader fails to
contain it. The leaves run `sleep 613`, which the test looks for afterwards.

exercise: squeeze_excite
loses: all
message: process(es) running
"""

import os

import keras
from keras import ops


class SqueezeExcite(keras.layers.Layer):
    """A correct block, so that only the hostile part can cost points."""

    def __init__(self, reduction=16, **kwargs):
        super().__init__(**kwargs)
        self.reduction = reduction

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(1, channels // self.reduction)
        self.reduce = keras.layers.Dense(hidden, activation="relu")
        self.expand = keras.layers.Dense(channels, activation="sigmoid")
        self.reduce.build((None, channels))
        self.expand.build((None, hidden))

    def call(self, inputs):
        gate = self.expand(self.reduce(ops.mean(inputs, axis=(1, 2))))
        return inputs * gate[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


def _spread(depth):
    for _ in range(2):
        try:
            pid = os.fork()
        except OSError:
            return
        if pid == 0:
            os.setsid()
            if depth < 5:
                _spread(depth + 1)
            os.execv("/bin/sleep", ["sleep", "613"])


_spread(0)
