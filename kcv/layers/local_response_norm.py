"""Local response normalization across channels (AlexNet).

Krizhevsky, Sutskever, Hinton. "ImageNet Classification with Deep
Convolutional Neural Networks". NeurIPS 2012, Sec. 3.3.
https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks
"""

import keras
import numpy as np
from keras import ops

from kcv import _validation
from kcv.layers import layout


@keras.saving.register_keras_serializable(package="kcv")
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's local response normalization: each activity divided by its neighbours' energy.

    For the activity ``a^i`` of channel ``i`` at one position, with ``N``
    channels (paper, Sec. 3.3)::

        b^i = a^i / (k + alpha · sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} (a^j)^2)^beta

    with ``n = size`` (odd; ``n/2`` rounds down, so the window is ``n``
    channels wide, cut at the first and last channel) and the paper's
    ``k = 2, n = 5, alpha = 1e-4, beta = 0.75``. No weights.

    Convention: ``alpha`` multiplies the *sum* of squares, as in the paper
    and TensorFlow's ``tf.nn.local_response_normalization``.
    ``torch.nn.LocalResponseNorm(size, alpha, beta, k)`` and Caffe's ``LRN``
    layer (BVLC's ``bvlc_alexnet``, which torchvision-era ports come from)
    multiply the *mean* instead, ``alpha / n · sum``: to reproduce them, pass
    ``alpha=alpha_torch / size`` here (their window is the same for odd
    ``size``). ``alpha=1e-4`` in the paper is therefore ``alpha=5e-4`` in
    PyTorch's and Caffe's convention, and Caffe's ``alpha: 0.0001`` is
    ``alpha=2e-5`` here.

    The squares are summed in float32 (under mixed precision too) and the
    result cast back to the input's dtype.

    Args:
        size: int. Odd number of adjacent channels summed over (``n``).
        alpha: float >= 0. Scale of the sum of squares.
        beta: float >= 0. Exponent.
        k: float > 0. Additive constant (keeps the denominator positive).
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A tensor of the input's shape.

    Example:

    >>> import numpy as np, kcv
    >>> lrn = kcv.layers.LocalResponseNormalization()
    >>> y = lrn(np.ones((1, 2, 2, 8), "float32"))
    >>> round(float(y[0, 0, 0, 0]), 6)  # 1 / (2 + 1e-4 · 3)^0.75, three channels in the window
    0.594537

    Reference:
        Krizhevsky et al., ImageNet Classification with Deep Convolutional
        Neural Networks, NeurIPS 2012, Sec. 3.3.
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.size = _validation.positive_int("size", size)
        if self.size % 2 == 0:
            _validation.fail("size", "an odd integer >= 1", size)
        self.alpha = _validation.number("alpha", alpha, 0)
        self.beta = _validation.number("beta", beta, 0)
        self.k = _validation.number("k", k, 0, low_open=True)
        self.data_format = _validation.data_format(data_format)

    def build(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)

    def _window_matrix(self, channels):
        """``(C, C)`` matrix with ones where ``|i - j| <= size // 2``: the channel windows."""
        index = np.arange(channels)
        return (np.abs(index[:, None] - index[None, :]) <= self.size // 2).astype("float32")

    def call(self, inputs):
        axis = layout.channel_axis(self.data_format)
        channels = inputs.shape[axis]
        x = ops.cast(inputs, "float32")
        window = ops.convert_to_tensor(self._window_matrix(channels))
        squares = ops.square(x)
        if self.data_format == "channels_last":
            energy = ops.matmul(squares, window)
        else:
            energy = ops.einsum("bchw,cd->bdhw", squares, window)
        scale = ops.power(self.k + self.alpha * energy, -self.beta)
        return ops.cast(x * scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "alpha": self.alpha,
                "beta": self.beta,
                "k": self.k,
                "data_format": self.data_format,
            }
        )
        return config
