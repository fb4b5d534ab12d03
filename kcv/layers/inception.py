"""The Inception module (GoogLeNet).

Szegedy et al. "Going Deeper with Convolutions". CVPR 2015.
https://arxiv.org/abs/1409.4842
Ioffe, Szegedy. "Batch Normalization". ICML 2015 (BN-Inception: BN after
every convolution, the 5x5 replaced by two 3x3). https://arxiv.org/abs/1502.03167
"""

import keras
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout
from kcv.layers.pooling import MaxPooling2D

_FILTER_ARGS = (
    "filters_1x1",
    "filters_3x3_reduce",
    "filters_3x3",
    "filters_5x5_reduce",
    "filters_5x5",
    "filters_pool_proj",
)


@keras.saving.register_keras_serializable(package="kcv")
class InceptionModule(keras.layers.Layer):
    """GoogLeNet's Inception module: four parallel branches, concatenated.

    Branches (paper, Fig. 2b), all "same"-padded with stride 1:

    1. 1x1 convolution;
    2. 1x1 reduction -> 3x3 convolution;
    3. 1x1 reduction -> 5x5 convolution (``factorize_5x5=True``: two 3x3
       convolutions with the same receptive field, as in BN-Inception and the
       common CIFAR-10 GoogLeNet; ``wide_kernel=3``: one 3x3, torchvision's
       ``googlenet``, see below);
    4. 3x3 max pooling, stride 1 -> 1x1 projection.

    The output has ``filters_1x1 + filters_3x3 + filters_5x5 +
    filters_pool_proj`` channels. Every convolution is followed by ReLU. With
    ``batch_norm=False`` (the paper) convolutions carry a bias; with
    ``batch_norm=True`` they have none and BN sits between convolution and
    ReLU. Module inception(3a) (192 -> 64, 96/128, 16/32, 32) has
    ``(192·64+64) + (192·96+96) + (9·96·128+128) + (192·16+16) +
    (25·16·32+32) + (192·32+32) = 163,696`` parameters; the paper's Table 1
    rounds to 159K.

    Args:
        filters_1x1: int. Channels of the 1x1 branch ("#1x1" in Table 1).
        filters_3x3_reduce: int. 1x1 reduction before the 3x3 ("#3x3 reduce").
        filters_3x3: int. Channels of the 3x3 branch ("#3x3").
        filters_5x5_reduce: int. 1x1 reduction before the 5x5 ("#5x5 reduce").
        filters_5x5: int. Channels of the 5x5 branch ("#5x5").
        filters_pool_proj: int. 1x1 projection after max pooling ("pool proj").
        batch_norm: bool. Conv + BN + ReLU instead of conv (bias) + ReLU.
        factorize_5x5: bool. Two 3x3 convolutions in place of the 5x5.
        wide_kernel: int, 5 or 3. Kernel of the third branch's single
            convolution: 5 (the paper) or 3, torchvision's ``googlenet``,
            which builds this branch with a 3x3 (a slip it keeps for its
            pretrained weights, pytorch/vision issue 906; 8,192 fewer
            weights in inception(3a)). The layer keeps the name
            ``branch_5x5`` either way.
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        The four branch outputs concatenated on the channel axis; spatial
        size unchanged.

    Example:

    >>> import numpy as np, kcv
    >>> block = kcv.layers.InceptionModule(64, 96, 128, 16, 32, 32)  # inception(3a)
    >>> block(np.ones((1, 28, 28, 192), "float32")).shape
    (1, 28, 28, 256)
    >>> block.count_params()
    163696

    Reference:
        Szegedy et al., Going Deeper with Convolutions, CVPR 2015, Sec. 4-5,
        Fig. 2b, Table 1.
    """

    def __init__(
        self,
        filters_1x1,
        filters_3x3_reduce,
        filters_3x3,
        filters_5x5_reduce,
        filters_5x5,
        filters_pool_proj,
        batch_norm=False,
        factorize_5x5=False,
        wide_kernel=5,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        values = (
            filters_1x1,
            filters_3x3_reduce,
            filters_3x3,
            filters_5x5_reduce,
            filters_5x5,
            filters_pool_proj,
        )
        for argument, value in zip(_FILTER_ARGS, values):
            setattr(self, argument, _validation.positive_int(argument, value))
        self.batch_norm = bool(batch_norm)
        self.factorize_5x5 = bool(factorize_5x5)
        self.wide_kernel = _validation.one_of("wide_kernel", wide_kernel, (5, 3))
        if self.factorize_5x5 and self.wide_kernel != 5:
            _validation.fail(
                "wide_kernel", "5 with factorize_5x5=True (the two 3x3s replace a 5x5)", wide_kernel
            )
        self.data_format = _validation.data_format(data_format)

    def _conv(self, filters, kernel_size, name):
        return conv_bn.conv_bn_act(self, filters, kernel_size, name, batch_norm=self.batch_norm)

    def build(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        if self.factorize_5x5:
            wide = self._conv(self.filters_5x5, 3, "branch_5x5a") + self._conv(
                self.filters_5x5, 3, "branch_5x5b"
            )
        else:
            wide = self._conv(self.filters_5x5, self.wide_kernel, "branch_5x5")
        self.branches = [
            self._conv(self.filters_1x1, 1, "branch_1x1"),
            self._conv(self.filters_3x3_reduce, 1, "branch_3x3_reduce")
            + self._conv(self.filters_3x3, 3, "branch_3x3"),
            self._conv(self.filters_5x5_reduce, 1, "branch_5x5_reduce") + wide,
            [
                MaxPooling2D(
                    3,
                    strides=1,
                    padding="same",
                    data_format=self.data_format,
                    dtype=self.dtype_policy,
                    name="branch_pool",
                )
            ]
            + self._conv(self.filters_pool_proj, 1, "branch_pool_proj"),
        ]
        for branch in self.branches:
            conv_bn.build_chain(branch, input_shape)

    def call(self, inputs, training=None):
        outputs = [conv_bn.call_chain(b, inputs, training=training) for b in self.branches]
        return ops.concatenate(outputs, axis=layout.channel_axis(self.data_format))

    def compute_output_shape(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        channels = self.filters_1x1 + self.filters_3x3 + self.filters_5x5 + self.filters_pool_proj
        return layout.same_conv_output_shape(input_shape, channels, (1, 1), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({argument: getattr(self, argument) for argument in _FILTER_ARGS})
        config.update(
            {
                "batch_norm": self.batch_norm,
                "factorize_5x5": self.factorize_5x5,
                "wide_kernel": self.wide_kernel,
                "data_format": self.data_format,
            }
        )
        return config
