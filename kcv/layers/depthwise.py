"""Depthwise separable and inverted-residual convolutions (MobileNet v1/v2/v3, Xception).

Howard et al. "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications". 2017. https://arxiv.org/abs/1704.04861
Sandler et al. "MobileNetV2: Inverted Residuals and Linear Bottlenecks".
CVPR 2018. https://arxiv.org/abs/1801.04381
Chollet. "Xception: Deep Learning with Depthwise Separable Convolutions".
CVPR 2017. https://arxiv.org/abs/1610.02357
Howard et al. "Searching for MobileNetV3". ICCV 2019 (SE in the inverted
residual, explicit expanded widths). https://arxiv.org/abs/1905.02244
"""

import keras

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout
from kcv.layers.squeeze_excite import SqueezeExcite


def _check_strides(strides, dilation_rate):
    strides = _validation.int_pair("strides", strides)
    dilation_rate = _validation.int_pair("dilation_rate", dilation_rate)
    if any(s not in (1, 2) for s in strides):
        _validation.fail("strides", "1 or 2 (per axis), as in MobileNet", strides)
    if max(strides) > 1 and max(dilation_rate) > 1:
        _validation.fail(
            "strides",
            f"1 when `dilation_rate` > 1 (here {dilation_rate!r}): an atrous block does not stride",
            strides,
        )
    return strides, dilation_rate


class _ConvBlock(keras.layers.Layer):
    """Shared plumbing: a sequence of sublayers built and called in order."""

    def build(self, input_shape):
        self._in_channels = _validation.image_shape(self, input_shape, self.data_format)
        self.blocks = self._make_layers(self._in_channels)
        conv_bn.build_chain(self.blocks, input_shape)

    def call(self, inputs, training=None):
        return conv_bn.call_chain(self.blocks, inputs, training=training)

    def compute_output_shape(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        return layout.same_conv_output_shape(
            input_shape, self.filters, self.strides, self.data_format
        )


@keras.saving.register_keras_serializable(package="kcv")
class DepthwiseSeparableConv(_ConvBlock):
    """MobileNet v1 block: depthwise ``k×k`` + BN + act, pointwise 1x1 + BN + act.

    A standard ``k×k`` convolution from ``M`` to ``N`` channels costs
    ``k²·M·N·H·W`` multiply-adds; the separable pair costs
    ``k²·M·H·W + M·N·H·W`` (paper, Eq. 5), a ratio of ``1/N + 1/k²``.
    Convolutions have no bias when followed by BN (official code); with
    ``batch_norm=False`` both convolutions carry a bias and no BN is applied,
    the form Xception's separable convolutions take before their BN.

    Args:
        filters: int. Output channels ``N`` of the pointwise convolution.
        kernel_size: int or pair. Depthwise kernel, default 3.
        strides: 1 or 2 (per axis). Stride of the depthwise convolution.
        dilation_rate: int or pair. Atrous rate of the depthwise convolution
            (cannot be combined with strides > 1).
        depth_multiplier: int. Depthwise outputs per input channel.
        activation: str or None. Applied after each BN; MobileNet uses "relu"
            (``keras.applications`` uses "relu6").
        batch_norm: bool. BN after each convolution (paper) or biases instead.
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        bn_epsilon: float > 0. Epsilon of both BNs (Keras' default 1e-3;
            PyTorch's 1e-5 for torchvision's weights).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A tensor with ``filters`` channels and the spatial size divided by the
        stride (rounded up, "same" padding).

    Example:

    >>> import numpy as np, kcv
    >>> block = kcv.layers.DepthwiseSeparableConv(64, strides=2)
    >>> block(np.ones((1, 32, 32, 32), "float32")).shape
    (1, 16, 16, 64)

    Reference:
        Howard et al., MobileNets, 2017, Sec. 3.1 and Fig. 3.
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        dilation_rate=1,
        depth_multiplier=1,
        activation="relu",
        batch_norm=True,
        data_format=None,
        bn_epsilon=conv_bn.KERAS_BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _validation.positive_int("filters", filters)
        self.kernel_size = _validation.int_pair("kernel_size", kernel_size)
        self.strides, self.dilation_rate = _check_strides(strides, dilation_rate)
        self.depth_multiplier = _validation.positive_int("depth_multiplier", depth_multiplier)
        self.activation = _validation.activation("activation", activation)
        self.batch_norm = bool(batch_norm)
        self.data_format = _validation.data_format(data_format)
        self.bn_epsilon = _validation.number("bn_epsilon", bn_epsilon, 0, low_open=True)

    def _make_layers(self, in_channels):
        layers = conv_bn.depthwise_bn_act(
            self,
            self.kernel_size,
            "depthwise",
            depth_multiplier=self.depth_multiplier,
            strides=self.strides,
            dilation_rate=self.dilation_rate,
            batch_norm=self.batch_norm,
            activation=self.activation,
            bn_epsilon=self.bn_epsilon,
        )
        return layers + conv_bn.conv_bn_act(
            self,
            self.filters,
            1,
            "pointwise",
            batch_norm=self.batch_norm,
            activation=self.activation,
            bn_epsilon=self.bn_epsilon,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "dilation_rate": self.dilation_rate,
                "depth_multiplier": self.depth_multiplier,
                "activation": self.activation,
                "batch_norm": self.batch_norm,
                "data_format": self.data_format,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kcv")
class InvertedResidual(_ConvBlock):
    """MobileNet v2 inverted residual with linear bottleneck (v3 with SE).

    ``x -> 1x1 expand to t·C + BN + act -> k×k depthwise + BN + act
    [-> SE] -> 1x1 linear projection + BN (no activation) [+ x]``
    (paper, Table 1 and Fig. 3b). The expansion is skipped when ``t = 1``, as
    in the official code's first bottleneck. The shortcut is added only when
    the stride is 1 and the input already has ``filters`` channels.
    Convolutions have no bias (BN follows each). Trainable parameters for
    24 -> 24, t = 6: ``24·144 + 2·144 + 9·144 + 2·144 + 144·24 + 2·24 = 8,832``.

    MobileNetV3 (paper, Tables 1-2; torchvision ``models/mobilenetv3.py``)
    gives the expanded width of each block explicitly (16 -> 72, 80 -> 200,
    80 -> 184, ...), not as a factor: ``expanded_channels`` overrides
    ``expansion``, and the expansion is then skipped when the width equals
    the input channels, torchvision's rule.

    With ``se_reduction`` or ``se_channels`` set, a :class:`SqueezeExcite`
    block (ReLU inside, gate ``se_gate``) recalibrates the expanded channels
    after the depthwise stage, where MobileNetV3 places it. Its reduced width
    is ``se_channels`` when given, else ``max(1, hidden // se_reduction)``
    (SENet's rule). MobileNetV3's width is ``make_divisible(hidden // 4, 8)``
    (24 for 72 channels, where ``72 // 4 = 18``):
    :func:`kcv.models.MobileNetV3` passes it as ``se_channels``. Its gate,
    ``"hard_sigmoid"``, is Keras 3's ``relu6(x + 3) / 6``, the same function
    as torchvision's ``nn.Hardsigmoid``; ``"hard_swish"`` is
    ``x · relu6(x + 3) / 6``, torchvision's ``nn.Hardswish``.

    ``padding="symmetric"`` pads a strided depthwise convolution as
    torchvision does (``(k - 1) // 2`` on both sides, an explicit
    ``ZeroPadding2D``), where ``"same"`` pads a 3x3/2 on an even size by
    ``(0, 1)`` and a 5x5/2 by ``(1, 2)``; with ``bn_epsilon`` (1e-5 in
    torchvision's MobileNetV2, 1e-3 in its MobileNetV3 and Keras) the block
    computes what torchvision's computes with the same weights.

    Args:
        filters: int. Output channels of the projection.
        expansion: int or float >= 1. Expansion factor ``t``; the hidden width
            is ``round(C_in · t)``.
        kernel_size: int or pair. Depthwise kernel, default 3.
        strides: 1 or 2 (per axis). Stride of the depthwise convolution.
        dilation_rate: int or pair. Atrous rate of the depthwise convolution,
            as in DeepLabv3's MobileNetV2 backbone (strides must then be 1).
        se_reduction: int or None. Reduction ratio of an SE block; None for v2.
        se_gate: str. Gate of the SE block, "hard_sigmoid" (v3) or "sigmoid".
        activation: str. Non-linearity after expansion and depthwise; "relu6"
            (v2), "relu" or "hard_swish" (v3).
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        expanded_channels: int or None. The hidden width, overriding
            ``expansion`` (MobileNetV3's "exp size"); None uses ``expansion``.
        se_channels: int or None. Reduced width of the SE block (adds one
            when ``se_reduction`` is None); None: ``hidden // se_reduction``.
        padding: str. ``"same"`` (Keras' rule) or ``"symmetric"``
            (torchvision's), see :func:`kcv.layers.conv_bn.padding_layers`.
        bn_epsilon: float > 0. Epsilon of every BN (Keras' default 1e-3).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A tensor with ``filters`` channels and the spatial size divided by the
        stride (rounded up).

    Example:

    >>> import numpy as np, kcv
    >>> block = kcv.layers.InvertedResidual(24, expansion=6)
    >>> block(np.ones((1, 16, 16, 24), "float32")).shape
    (1, 16, 16, 24)
    >>> v3 = kcv.layers.InvertedResidual(  # MobileNetV3-Large, 24 -> 40, exp 72
    ...     40, kernel_size=5, strides=2, activation="relu", expanded_channels=72,
    ...     se_channels=24)
    >>> v3(np.ones((1, 16, 16, 24), "float32")).shape
    (1, 8, 8, 40)

    Reference:
        Sandler et al., MobileNetV2, CVPR 2018, Sec. 3-4, Table 1;
        Howard et al., Searching for MobileNetV3, ICCV 2019, Sec. 5.2-5.3,
        Tables 1-2; torchvision ``models/mobilenetv3.py``.
    """

    def __init__(
        self,
        filters,
        expansion=6,
        kernel_size=3,
        strides=1,
        se_reduction=None,
        activation="relu6",
        dilation_rate=1,
        se_gate="hard_sigmoid",
        data_format=None,
        expanded_channels=None,
        se_channels=None,
        padding="same",
        bn_epsilon=conv_bn.KERAS_BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _validation.positive_int("filters", filters)
        _validation.number("expansion", expansion, 1)
        self.expansion = expansion
        self.kernel_size = _validation.int_pair("kernel_size", kernel_size)
        self.strides, self.dilation_rate = _check_strides(strides, dilation_rate)
        if se_reduction is not None:
            _validation.positive_int("se_reduction", se_reduction)
        self.se_reduction = se_reduction
        self.se_gate = _validation.one_of("se_gate", se_gate, ("sigmoid", "hard_sigmoid"))
        self.activation = _validation.activation("activation", activation)
        self.data_format = _validation.data_format(data_format)
        if expanded_channels is not None:
            _validation.positive_int("expanded_channels", expanded_channels)
        self.expanded_channels = expanded_channels
        if se_channels is not None:
            _validation.positive_int("se_channels", se_channels)
        self.se_channels = se_channels
        self.padding = _validation.one_of("padding", padding, conv_bn.PADDINGS)
        self.bn_epsilon = _validation.number("bn_epsilon", bn_epsilon, 0, low_open=True)

    def _make_layers(self, in_channels):
        if self.expanded_channels is None:
            hidden = int(round(in_channels * self.expansion))
            expand = self.expansion != 1
        else:
            hidden = self.expanded_channels
            expand = hidden != in_channels
        epsilon = self.bn_epsilon
        layers = []
        if expand:
            layers += conv_bn.conv_bn_act(
                self, hidden, 1, "expand", activation=self.activation, bn_epsilon=epsilon
            )
        layers += conv_bn.depthwise_bn_act(
            self,
            self.kernel_size,
            "depthwise",
            strides=self.strides,
            dilation_rate=self.dilation_rate,
            padding=self.padding,
            activation=self.activation,
            bn_epsilon=epsilon,
        )
        if self.se_reduction is not None or self.se_channels is not None:
            layers.append(
                SqueezeExcite(
                    None if self.se_channels is not None else self.se_reduction,
                    gate=self.se_gate,
                    data_format=self.data_format,
                    squeeze_channels=self.se_channels,
                    dtype=self.dtype_policy,
                    name="squeeze_excite",
                )
            )
        return layers + conv_bn.conv_bn_act(
            self, self.filters, 1, "project", activation=None, bn_epsilon=epsilon
        )

    @property
    def has_residual(self):
        """True when the block adds its input (stride 1, same channel count)."""
        return self.strides == (1, 1) and self._in_channels == self.filters

    def call(self, inputs, training=None):
        outputs = super().call(inputs, training=training)
        return outputs + inputs if self.has_residual else outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "expansion": self.expansion,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "se_reduction": self.se_reduction,
                "activation": self.activation,
                "dilation_rate": self.dilation_rate,
                "se_gate": self.se_gate,
                "data_format": self.data_format,
                "expanded_channels": self.expanded_channels,
                "se_channels": self.se_channels,
                "padding": self.padding,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config
