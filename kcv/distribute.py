"""Data-parallel training of any kcv model with ``keras.distribution`` (JAX backend).

Data parallelism keeps one replica of the weights on every device, splits
each batch across the devices, and averages the gradients, so that the
result is the training on one device with the whole batch (the same loss
trajectory, up to the order of floating-point sums). Keras 3 implements it
for the JAX backend in ``keras.distribution``: under a ``DataParallel``
distribution, variables are created replicated and the trainer shards every
batch along its first axis; XLA inserts the gradient all-reduce and computes
batch-normalization statistics over the whole batch.

On TensorFlow the same job is done by ``tf.distribute.MirroredStrategy`` and
on PyTorch by ``DistributedDataParallel``; the book's appendix "Training on
several devices" shows all three. kcv adds nothing to those engines: this
module only checks what goes wrong silently or with a backend stack trace
(the wrong backend, a batch that does not split evenly).

Example (``XLA_FLAGS=--xla_force_host_platform_device_count=2`` simulates
two CPU devices; set it before JAX starts):

>>> import keras, kcv
>>> train = kcv.data.shapes(256, size=32, seed=0)
>>> with kcv.distribute.data_parallel() as distribution:
...     model = kcv.models.SEResNetCIFAR(depth=20, input_shape=(32, 32, 3))
...     batch = kcv.distribute.global_batch_size(64, distribution)  # 64 per device
...     model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
...     history = model.fit(train.x, train.y, batch_size=batch, epochs=1, verbose=0)

Reference:
    Keras, "Distributed training with Keras 3"
    (https://keras.io/guides/distribution/); Goyal et al. "Accurate, Large
    Minibatch SGD: Training ImageNet in 1 Hour", 2017 (why the global batch
    size, not the per-device one, sets the learning rate).
"""

import contextlib

import keras

from kcv import _validation

SUPPORTED_BACKEND = "jax"


def _device_count(distribution):
    return int(distribution.device_mesh.devices.size)


@contextlib.contextmanager
def data_parallel(devices=None):
    """Trains and predicts with one replica per device inside the ``with`` block.

    Build, compile and fit the model inside the block: variables created
    there are replicated on every device, and every batch that ``fit``,
    ``evaluate``, ``predict`` or ``train_on_batch`` sees is split along its
    first axis.

    Args:
        devices: device names as ``keras.distribution.list_devices()`` gives
            them (e.g. ``["cpu:0", "cpu:1"]``); default all of the backend's
            devices.

    Yields:
        The ``keras.distribution.DataParallel`` in force.

    Raises:
        ValueError: when the backend is not JAX (with what to use instead),
            or ``devices`` is empty or names devices the backend lacks.

    Example:

    >>> with kcv.distribute.data_parallel(["cpu:0", "cpu:1"]):
    ...     model = kcv.models.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), classes=10)
    ...     model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    ...     history = model.fit(x, y, batch_size=128, verbose=0)
    """
    backend = keras.backend.backend()
    if backend != SUPPORTED_BACKEND:
        _validation.fail(
            "KERAS_BACKEND",
            f"{SUPPORTED_BACKEND!r} for data_parallel (keras.distribution); on TensorFlow use "
            "tf.distribute.MirroredStrategy, on PyTorch "
            "torch.nn.parallel.DistributedDataParallel (the book's appendix shows both)",
            backend,
        )
    available = keras.distribution.list_devices()
    if devices is None:
        devices = available
    devices = list(devices)
    if not devices:
        _validation.fail("devices", "a non-empty list of devices", devices)
    unknown = [d for d in devices if d not in available]
    if unknown:
        _validation.fail("devices", f"among {available}", devices)
    distribution = keras.distribution.DataParallel(devices=devices)
    with distribution.scope():
        yield distribution


def global_batch_size(per_device, distribution):
    """The batch size to pass to ``fit`` for ``per_device`` images on each device.

    Args:
        per_device: images per device and step, a positive integer.
        distribution: the ``DataParallel`` from :func:`data_parallel`.

    Returns:
        ``per_device`` times the number of devices.

    Raises:
        ValueError: when ``per_device`` is not a positive integer.
    """
    _validation.positive_int("per_device", per_device)
    return per_device * _device_count(distribution)


def check_batch_size(batch_size, distribution):
    """Raises unless ``batch_size`` splits evenly over the devices of ``distribution``.

    JAX shards a batch in equal parts; a batch of 30 on 4 devices fails
    deep inside XLA. Call this before ``fit`` (and mind the last, partial
    batch of an epoch: drop it, or pick a data set size that divides).

    Args:
        batch_size: the global batch size.
        distribution: the ``DataParallel`` from :func:`data_parallel`.

    Raises:
        ValueError: naming the batch size and the device count.
    """
    devices = _device_count(distribution)
    if batch_size % devices:
        _validation.fail(
            "batch_size", f"a multiple of the {devices} devices of the distribution", batch_size
        )
