"""Trains a small SE-ResNet on one device and data-parallel on all; prints the losses.

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/distribute_worker.py STEPS

Used by tests/test_distribute.py, which sets the environment: the number of
simulated devices is fixed when JAX starts, so it needs a process of its own.
Prints one JSON line: the device count, the loss of every step on one device
and with ``kcv.distribute.data_parallel``, how many devices hold each
weight of the data-parallel model, and whether an uneven batch is refused.
"""

import json
import sys

import keras
import numpy as np

import kcv

BATCH = 16


def train(model, weights, x, y, steps):
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    losses = []
    for step in range(steps):
        batch = slice((step * BATCH) % len(x), (step * BATCH) % len(x) + BATCH)
        losses.append(float(model.train_on_batch(x[batch], y[batch])))
    return losses


def build():
    return kcv.models.SEResNetCIFAR(depth=8, input_shape=(16, 16, 3), classes=4, reduction=4)


def main(steps):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * BATCH, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 4, size=(4 * BATCH,)).astype("int32")
    single = build()
    weights = single.get_weights()
    single_losses = train(single, weights, x, y, steps)
    with kcv.distribute.data_parallel() as distribution:
        kcv.distribute.check_batch_size(BATCH, distribution)
        try:
            kcv.distribute.check_batch_size(BATCH - 1, distribution)
            uneven_rejected = False
        except ValueError:
            uneven_rejected = True
        parallel = build()
        parallel_losses = train(parallel, weights, x, y, steps)
        replicas = sorted({len(v.value.sharding.device_set) for v in parallel.weights})
    print(
        json.dumps(
            {
                "devices": len(keras.distribution.list_devices()),
                "single": single_losses,
                "parallel": parallel_losses,
                "replicas": replicas,
                "uneven_rejected": uneven_rejected,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
