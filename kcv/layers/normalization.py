"""Keras' batch normalization, with PyTorch's fused kernel for training on the torch backend.

Reference:
    Ioffe, Szegedy. "Batch Normalization: Accelerating Deep Network Training
    by Reducing Internal Covariate Shift". ICML 2015.
    https://arxiv.org/abs/1502.03167
"""

import keras

from kcv import backend


@keras.saving.register_keras_serializable(package="kcv")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization``, computed in one fused kernel when training on torch.

    The same layer as Keras' (a subclass: same arguments, weights, saved
    variables and ``get_config``; ``isinstance`` checks for Keras' class
    hold), computing the same function. Only the training step on the torch
    backend differs in how it computes: Keras' torch backend builds it from
    separate operations (the moments, subtract, multiply, add, each with its
    own gradient), where PyTorch has one fused kernel forward and backward;
    there :func:`kcv.backend.torch_batch_norm_training` calls that kernel
    with Keras' conventions kept (the batch variance biased for both the
    normalization and ``moving_variance``, float32 statistics under mixed
    precision, the same moving-average update). Inference, the other
    backends, and the cases the fused kernel does not cover (a ``mask``,
    ``renorm``, ``synchronized``, a single value per channel) are Keras' own
    ``call``. kcv's blocks and models build this class.

    Args:
        **kwargs: as ``keras.layers.BatchNormalization``.

    Returns:
        The normalized tensor, in the layer's compute dtype.

    Example:

    >>> import numpy as np, kcv
    >>> bn = kcv.layers.BatchNormalization()
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (64, 4, 4, 8)).astype("float32")
    >>> y = np.asarray(bn(x, training=True))
    >>> bool(abs(y.mean()) < 1e-5 and abs(y.std() - 1) < 1e-3)
    True

    Reference:
        Ioffe, Szegedy, Batch Normalization, ICML 2015, Algorithm 1 (the
        batch statistics and the learned scale and shift).
    """

    def call(self, inputs, training=None, mask=None):
        fused = (
            training
            and self.trainable
            and mask is None
            and not self.renorm
            and not self.synchronized
            and backend.name() == "torch"
        )
        if fused:
            outputs = backend.torch_batch_norm_training(self, inputs)
            if outputs is not None:
                return outputs
        return super().call(inputs, training=training, mask=mask)
