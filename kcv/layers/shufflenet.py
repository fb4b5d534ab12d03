"""Channel shuffle and the ShuffleNet v2 unit.

Zhang, Zhou, Lin, Sun. "ShuffleNet: An Extremely Efficient Convolutional
Neural Network for Mobile Devices". CVPR 2018. https://arxiv.org/abs/1707.01083
(the channel shuffle, Sec. 3.1 and Fig. 1).
Ma, Zhang, Zheng, Sun. "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design". ECCV 2018. https://arxiv.org/abs/1807.11164 (the unit,
Sec. 4 and Fig. 3c/3d).

Official code for the details (branch order, shuffle, no convolution bias):
torchvision ``models/shufflenetv2.py`` (``channel_shuffle``,
``InvertedResidual``).
"""

import keras
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout


def _shuffle(x, groups, data_format):
    """Reshapes the channels to ``(groups, n)``, transposes to ``(n, groups)``, flattens."""
    shape = ops.shape(x)
    if data_format == "channels_last":
        h, w, c = shape[1], shape[2], shape[3]
        x = ops.reshape(x, (-1, h, w, groups, c // groups))
        x = ops.transpose(x, (0, 1, 2, 4, 3))
        return ops.reshape(x, (-1, h, w, c))
    c, h, w = shape[1], shape[2], shape[3]
    x = ops.reshape(x, (-1, groups, c // groups, h, w))
    x = ops.transpose(x, (0, 2, 1, 3, 4))
    return ops.reshape(x, (-1, c, h, w))


@keras.saving.register_keras_serializable(package="kcv")
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet's channel shuffle: lets information cross channel groups.

    With ``C = g·n`` channels the layer reshapes the channel axis to
    ``(g, n)``, transposes it to ``(n, g)`` and flattens it back (paper,
    Sec. 3.1, Fig. 1c): output channel ``i·g + j`` is input channel
    ``j·n + i``, so each group of the next grouped convolution receives
    channels from every group of the previous one. For ``C = 6, g = 2`` the
    order becomes ``0, 3, 1, 4, 2, 5``. No weights; a permutation of the
    channels, identical to torchvision's ``channel_shuffle`` on
    ``channels_first`` tensors.

    Args:
        groups: int. The number of groups ``g``; it must divide the input
            channels (checked at build).
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A tensor of the input's shape, channels permuted.

    Example:

    >>> import numpy as np, kcv
    >>> x = np.arange(6, dtype="float32").reshape(1, 1, 1, 6)
    >>> np.asarray(kcv.layers.ChannelShuffle(2)(x)).ravel().tolist()
    [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]

    Reference:
        Zhang et al., ShuffleNet, CVPR 2018, Sec. 3.1, Fig. 1;
        torchvision ``models/shufflenetv2.py``, ``channel_shuffle``.
    """

    def __init__(self, groups, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.groups = _validation.positive_int("groups", groups)
        self.data_format = _validation.data_format(data_format)

    def build(self, input_shape):
        channels = _validation.image_shape(self, input_shape, self.data_format)
        if channels % self.groups:
            _validation.fail("groups", f"a divisor of {channels} (the input channels)", self.groups)

    def call(self, inputs):
        return _shuffle(inputs, self.groups, self.data_format)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "data_format": self.data_format})
        return config


@keras.saving.register_keras_serializable(package="kcv")
class ShuffleNetV2Unit(keras.layers.Layer):
    """The ShuffleNet v2 unit: channel split, one light branch, concat, shuffle.

    Stride 1 (paper, Fig. 3c): the ``C`` input channels are split in two
    halves; the first passes unchanged (guideline G1-G4: equal widths, no
    group convolution, fewer fragments, no element-wise add), the second goes
    through ``1x1 conv + BN + ReLU -> 3x3 depthwise + BN -> 1x1 conv + BN +
    ReLU``; the two are concatenated ``[first half, branch]`` and shuffled
    with 2 groups. Stride 2 (Fig. 3d): no split; the left branch is ``3x3
    depthwise/2 + BN -> 1x1 conv + BN + ReLU``, the right branch the one
    above with a stride-2 depthwise, each giving ``filters / 2`` channels;
    concatenated ``[left, right]`` and shuffled, so the output doubles the
    channels (or sets them to ``filters``) and halves the spatial size.

    Convolutions have no bias (BN follows each). Branch order, the shuffle
    and the sublayers' names (``branch1_*`` left, ``branch2_*`` right)
    follow torchvision's ``InvertedResidual`` so that its weights map one to
    one. Trainable parameters with ``b = filters / 2`` (BN: 2 per channel):
    stride 1, ``b² + 2b + 9b + 2b + b² + 2b = 2b² + 15b`` (1,512 for
    ``filters = 48``); stride 2 from ``C`` channels, ``9C + 2C + C·b + 2b``
    (left) ``+ C·b + 2b + 9b + 2b + b² + 2b`` (right), 2,400 for ``C = 24,
    filters = 48``.

    ``padding="symmetric"`` pads the stride-2 depthwise convolutions as
    torchvision does (``padding=1`` on both sides, an explicit
    ``ZeroPadding2D``; ``"same"`` pads an even size by ``(0, 1)``), and
    ``bn_epsilon=1e-5`` is torchvision's BN: with both the unit computes what
    torchvision's computes with the same weights.

    Args:
        filters: int. Output channels, even. With stride 1 they must equal
            the input channels (checked at build).
        strides: int. 1 (the basic unit) or 2 (the down-sampling unit).
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        padding: str. ``"same"`` (Keras' rule) or ``"symmetric"``
            (torchvision's), see :func:`kcv.layers.conv_bn.padding_layers`.
        bn_epsilon: float > 0. Epsilon of every BN (Keras' default 1e-3).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A tensor with ``filters`` channels and the spatial size divided by the
        stride (rounded up, "same" padding).

    Example:

    >>> import numpy as np, kcv
    >>> unit = kcv.layers.ShuffleNetV2Unit(48, strides=2)
    >>> unit(np.ones((1, 16, 16, 24), "float32")).shape
    (1, 8, 8, 48)

    Reference:
        Ma et al., ShuffleNet V2, ECCV 2018, Sec. 4, Fig. 3c/3d;
        torchvision ``models/shufflenetv2.py``, ``InvertedResidual``.
    """

    def __init__(
        self,
        filters,
        strides=1,
        data_format=None,
        padding="same",
        bn_epsilon=conv_bn.KERAS_BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _validation.positive_int("filters", filters, minimum=2)
        if self.filters % 2:
            _validation.fail(
                "filters", "an even integer >= 2 (two branches of filters / 2)", filters
            )
        self.strides = _validation.one_of("strides", strides, (1, 2))
        self.data_format = _validation.data_format(data_format)
        self.padding = _validation.one_of("padding", padding, conv_bn.PADDINGS)
        self.bn_epsilon = _validation.number("bn_epsilon", bn_epsilon, 0, low_open=True)

    def _depthwise_bn(self, name):
        return conv_bn.depthwise_bn_act(
            self,
            3,
            name,
            strides=self.strides,
            padding=self.padding,
            activation=None,
            bn_epsilon=self.bn_epsilon,
        )

    def build(self, input_shape):
        channels = _validation.image_shape(self, input_shape, self.data_format)
        if self.strides == 1 and channels != self.filters:
            _validation.fail(
                "filters",
                f"the input channels ({channels}) when `strides` is 1 (half passes unchanged)",
                self.filters,
            )
        half = self.filters // 2
        if self.strides == 1:
            self.branch1 = []
            shape = list(input_shape)
            shape[layout.channel_axis(self.data_format)] = half
            branch_input = tuple(shape)
        else:
            self.branch1 = self._depthwise_bn("branch1_depthwise") + conv_bn.conv_bn_act(
                self, half, 1, "branch1_pointwise", bn_epsilon=self.bn_epsilon
            )
            conv_bn.build_chain(self.branch1, input_shape)
            branch_input = tuple(input_shape)
        self.branch2 = (
            conv_bn.conv_bn_act(self, half, 1, "branch2_reduce", bn_epsilon=self.bn_epsilon)
            + self._depthwise_bn("branch2_depthwise")
            + conv_bn.conv_bn_act(self, half, 1, "branch2_pointwise", bn_epsilon=self.bn_epsilon)
        )
        conv_bn.build_chain(self.branch2, branch_input)

    def call(self, inputs, training=None):
        axis = layout.channel_axis(self.data_format)
        if self.strides == 1:
            left, right = ops.split(inputs, 2, axis=axis)
        else:
            left = conv_bn.call_chain(self.branch1, inputs, training=training)
            right = inputs
        right = conv_bn.call_chain(self.branch2, right, training=training)
        return _shuffle(ops.concatenate([left, right], axis=axis), 2, self.data_format)

    def compute_output_shape(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        return layout.same_conv_output_shape(
            input_shape, self.filters, (self.strides, self.strides), self.data_format
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "data_format": self.data_format,
                "padding": self.padding,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config
