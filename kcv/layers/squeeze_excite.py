"""Squeeze-and-Excitation (SENet).

Hu, Shen, Albanie, Sun, Wu. "Squeeze-and-Excitation Networks". CVPR 2018 /
TPAMI 2019. https://arxiv.org/abs/1709.01507
"""

import keras
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout

GATES = ("sigmoid", "hard_sigmoid")


@keras.saving.register_keras_serializable(package="kcv")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-Excitation block: recalibrates channels by a learned gate.

    For an input ``U`` with ``C`` channels the block computes (paper, Eq. 2-4)

    * squeeze: ``z_c = mean_{i,j} u_c(i, j)`` (global average pooling);
    * excitation: ``s = gate(W2 · relu(W1 · z + b1) + b2)`` with
      ``W1 ∈ R^{C/r × C}`` and ``W2 ∈ R^{C × C/r}``;
    * scale: ``x̃_c = s_c · u_c``.

    The two fully connected layers have biases, as in the official Caffe
    models; the reduced width is ``max(1, C // reduction)`` so that narrow
    inputs keep at least one hidden unit. The block has
    ``2·C·(C // r) + (C // r) + C`` parameters: 8,464 for ``C=256, r=16``.

    ``gate="hard_sigmoid"`` (``relu6(x + 3) / 6``) is the cheaper gate that
    MobileNetV3 uses in its SE blocks (Howard et al., ICCV 2019). Keras 3's
    ``hard_sigmoid`` is exactly PyTorch's ``nn.Hardsigmoid`` (Keras 2's was
    ``clip(0.2·x + 0.5, 0, 1)``, a different function). ``squeeze_channels``
    sets the reduced width directly, for MobileNetV3's
    ``make_divisible(C // 4, 8)`` (torchvision ``ops.SqueezeExcitation``
    with ``squeeze_channels``): for ``C = 72`` that is 24, where
    ``72 // 4 = 18``.

    Args:
        reduction: int, or None when ``squeeze_channels`` is set. The
            reduction ratio ``r`` (paper default 16).
        gate: str. ``"sigmoid"`` (paper) or ``"hard_sigmoid"``.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.
        squeeze_channels: int or None. Width of the reduced layer; overrides
            ``reduction`` when set (None: ``max(1, C // reduction)``).
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Returns:
        A tensor of the input's shape: the input scaled per channel.

    Example:

    >>> import numpy as np, kcv
    >>> se = kcv.layers.SqueezeExcite(reduction=16)
    >>> se(np.ones((2, 8, 8, 256), "float32")).shape
    (2, 8, 8, 256)
    >>> se.count_params()
    8464

    Reference:
        Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, Sec. 3 and Fig. 2.
    """

    def __init__(
        self, reduction=16, gate="sigmoid", data_format=None, squeeze_channels=None, **kwargs
    ):
        super().__init__(**kwargs)
        if squeeze_channels is not None:
            _validation.positive_int("squeeze_channels", squeeze_channels)
        if reduction is not None or squeeze_channels is None:
            _validation.positive_int("reduction", reduction)
        self.reduction = reduction
        self.gate = _validation.one_of("gate", gate, GATES)
        self.data_format = _validation.data_format(data_format)
        self.squeeze_channels = squeeze_channels
        self.supports_masking = False

    def build(self, input_shape):
        channels = _validation.image_shape(self, input_shape, self.data_format)
        hidden = self.squeeze_channels or max(1, channels // self.reduction)
        self.reduce = keras.layers.Dense(
            hidden, activation="relu", dtype=self.dtype_policy, name="reduce"
        )
        self.expand = keras.layers.Dense(
            channels, activation=self.gate, dtype=self.dtype_policy, name="expand"
        )
        conv_bn.build_chain([self.reduce, self.expand], (input_shape[0], channels))

    def call(self, inputs):
        scale = layout.per_channel(self.excitation(inputs), self.data_format)
        return inputs * ops.cast(scale, inputs.dtype)

    def excitation(self, inputs):
        """The gate ``s`` (squeeze, then excitation), one value per channel.

        What the block multiplies its input by; SENet's Fig. 6 plots its
        mean per class to show how the gates specialise with depth.

        Args:
            inputs: 4D tensor, the block's input (built layer).

        Returns:
            A ``(batch, channels)`` tensor of gate values (in [0, 1]).

        Example:

        >>> import numpy as np, kcv
        >>> se = kcv.layers.SqueezeExcite(reduction=4)
        >>> x = np.ones((2, 8, 8, 16), "float32")
        >>> tuple(se(x).shape), tuple(se.excitation(x).shape)
        ((2, 8, 8, 16), (2, 16))

        Reference:
            Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, Eq. 2-3
            and Sec. 7.2 (Fig. 6).
        """
        squeezed = ops.mean(inputs, axis=layout.spatial_axes(self.data_format))
        return self.expand(self.reduce(squeezed))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "gate": self.gate,
                "data_format": self.data_format,
                "squeeze_channels": self.squeeze_channels,
            }
        )
        return config
