"""Hostile: tries to plant a program in the grader's JAX compilation cache.

On JAX the reference processes write the programs they compile to a cache
that every submission then reads (kcv.grading.sandbox.compilation_cache).
A submission that could write there could replace a program the next
submission runs. The jail binds the cache read-only: each attempt below
must fail, and the correct layer then keeps full marks. Nothing here
changes a file that exists (opening for append writes nothing).

exercise: squeeze_excite
loses: none
"""

import os

import keras
from keras import ops

cache = os.environ.get("JAX_COMPILATION_CACHE_DIR", "")
entries = sorted(os.listdir(cache)) if os.path.isdir(cache) else []
if not entries:
    raise RuntimeError("no compilation cache to attack: this test would prove nothing")
planted = []
try:
    with open(os.path.join(cache, entries[0]), "ab"):
        planted.append(f"can open {entries[0]} for writing")
except OSError:
    pass
try:
    with open(os.path.join(cache, "kcv-hostile-planted-cache"), "wb"):
        planted.append("can add an entry")
except OSError:
    pass
if planted:
    raise RuntimeError("poisoned the cache: " + "; ".join(planted))


class SqueezeExcite(keras.layers.Layer):
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

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
