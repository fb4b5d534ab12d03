"""Residual blocks: ResNet's basic block and bottleneck, ResNeXt's grouped bottleneck.

He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition". CVPR 2016.
https://arxiv.org/abs/1512.03385
Xie, Girshick, Dollár, Tu, He. "Aggregated Residual Transformations for Deep
Neural Networks" (ResNeXt). CVPR 2017. https://arxiv.org/abs/1611.05431

Layout, widths and parameter counts follow torchvision ``models/resnet.py``
(``BasicBlock``, ``Bottleneck``; the stride of a bottleneck on its 3x3
convolution, "ResNet v1.5"). The networks built from these blocks (ResNet,
ResNeXt, SE-ResNet, the dilated encoders of DeepLab, EncNet and SPNet) are in
:mod:`kcv.models.resnet`. A block is extended by passing layers: ``attention``
recalibrates the residual branch before the addition (SENet's
:class:`kcv.layers.SqueezeExcite`, EncNet's encoding gate) and
``inner_attention`` acts inside the branch, after its 3x3 convolution (SPNet's
:class:`kcv.layers.StripPooling`).
"""

import keras
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout


def _extension(argument, value, data_format):
    """Checks an ``attention`` / ``inner_attention`` argument: None or a Layer in the block's format."""
    if value is None:
        return None
    if not isinstance(value, keras.layers.Layer):
        _validation.fail(
            argument,
            "None or a keras.layers.Layer instance (e.g. kcv.layers.SqueezeExcite(16))",
            value,
        )
    own = getattr(value, "data_format", data_format)
    if own != data_format:
        _validation.fail(
            argument,
            f"a layer with the block's data_format {data_format!r}",
            value,
            received=f"{type(value).__name__} with data_format={own!r}",
        )
    return value


class _ResidualBlock(keras.layers.Layer):
    """What the residual blocks share: arguments, shortcut, extensions, config.

    Subclasses set ``expansion`` and implement ``_branch(channels)``, which
    returns the units of the residual branch as lists of layers (from
    :func:`kcv.layers.conv_bn.conv_bn_act`); ``inner_attention`` follows the
    unit at index ``_inner_after``.
    """

    expansion = 1
    _inner_after = 0

    def __init__(
        self,
        filters,
        strides=1,
        dilation_rate=1,
        attention=None,
        inner_attention=None,
        data_format=None,
        plain=False,
        padding="same",
        bn_epsilon=conv_bn.KERAS_BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.plain = _validation.boolean("plain", plain)
        self.padding = _validation.one_of("padding", padding, conv_bn.PADDINGS)
        self.bn_epsilon = _validation.number("bn_epsilon", bn_epsilon, 0, low_open=True)
        self.filters = _validation.positive_int("filters", filters)
        self.strides = _validation.positive_int("strides", strides)
        self.dilation_rate = _validation.positive_int("dilation_rate", dilation_rate)
        if self.strides > 1 and self.dilation_rate > 1:
            _validation.fail(
                "dilation_rate",
                f"1 when `strides` > 1 (here {self.strides}): a dilated block does not stride",
                dilation_rate,
            )
        self.data_format = _validation.data_format(data_format)
        self.attention = _extension("attention", attention, self.data_format)
        self.inner_attention = _extension("inner_attention", inner_attention, self.data_format)
        self.supports_masking = False

    @property
    def output_channels(self):
        """Channels of the block's output: ``expansion · filters``."""
        return self.expansion * self.filters

    def build(self, input_shape):
        channels = _validation.image_shape(self, input_shape, self.data_format)
        units = self._branch(channels)
        shape = tuple(input_shape)
        for index, unit in enumerate(units):
            shape = conv_bn.build_chain(unit, shape)
            if index == self._inner_after:
                shape = self._build_extension("inner_attention", self.inner_attention, shape)
        self._build_extension("attention", self.attention, shape)
        # Each unit is an attribute named after its convolution (conv1, conv2...).
        for index, unit in enumerate(units, start=1):
            setattr(self, f"conv{index}", unit)
        self._depth = len(units)
        # Identity shortcut where the shape is kept, else a 1x1 projection + BN
        # (He et al., Sec. 3.3, option B); none in a plain block.
        self.shortcut = None
        if not self.plain and (self.strides != 1 or channels != self.output_channels):
            self.shortcut = conv_bn.conv_bn_act(
                self,
                self.output_channels,
                1,
                "shortcut",
                activation=None,
                strides=self.strides,
                **self._unit_options,
            )
            conv_bn.build_chain(self.shortcut, input_shape)

    @property
    def _unit_options(self):
        """The padding convention and BN epsilon every unit of the block takes."""
        return {"padding": self.padding, "bn_epsilon": self.bn_epsilon}

    @property
    def units(self):
        """The units of the residual branch, ``[conv1, conv2, ...]`` (lists: [padding], conv, BN, [ReLU])."""
        return [getattr(self, f"conv{index}") for index in range(1, self._depth + 1)]

    def _build_extension(self, argument, layer, shape):
        if layer is None:
            return shape
        if not layer.built:
            layer.build(shape)
        try:
            output = tuple(layer.compute_output_shape(shape))
        except NotImplementedError:  # a layer that only has call(): trace it
            output = tuple(layer.compute_output_spec(keras.KerasTensor(shape)).shape)
        if output != tuple(shape):
            _validation.fail(
                argument,
                f"a layer that keeps the shape of its input {tuple(shape)}",
                layer,
                received=f"{type(layer).__name__} giving {output}",
            )
        return shape

    @staticmethod
    def _extend(layer, x, training):
        # An extension with its own dtype policy (float32 under a mixed block)
        # hands back the block's compute dtype.
        return ops.cast(layer(x, training=training), x.dtype)

    def call(self, inputs, training=None):
        x = self.residual(inputs, training=training)
        if self.attention is not None:
            x = self._extend(self.attention, x, training)
        if self.plain:
            return ops.relu(x)
        shortcut = inputs
        if self.shortcut is not None:
            shortcut = conv_bn.call_chain(self.shortcut, inputs, training=training)
        return ops.relu(x + shortcut)

    def residual(self, inputs, training=None):
        """The residual branch up to its last BN: what ``attention`` receives.

        The branch's units (with ``inner_attention``), without ``attention``,
        the shortcut and the final ReLU. With an SE ``attention``,
        ``block.attention.excitation(block.residual(x))`` is the block's
        channel gate, the quantity SENet's Fig. 6 averages per class.

        Args:
            inputs: 4D tensor, the block's input (built layer).
            training: bool or None. Batch-norm mode.

        Returns:
            A tensor of the block's output shape.

        Example:

        >>> import numpy as np, kcv
        >>> block = kcv.layers.BasicBlock(8, attention=kcv.layers.SqueezeExcite(4))
        >>> x = np.ones((2, 6, 6, 8), "float32")
        >>> tuple(block(x).shape), tuple(block.attention.excitation(block.residual(x)).shape)
        ((2, 6, 6, 8), (2, 8))
        """
        x = inputs
        for index, unit in enumerate(self.units):
            x = conv_bn.call_chain(unit, x, training=training)
            if index == self._inner_after and self.inner_attention is not None:
                x = self._extend(self.inner_attention, x, training)
        return x

    def compute_output_shape(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        return layout.same_conv_output_shape(
            input_shape, self.output_channels, (self.strides, self.strides), self.data_format
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "dilation_rate": self.dilation_rate,
                "attention": _serialize(self.attention),
                "inner_attention": _serialize(self.inner_attention),
                "data_format": self.data_format,
                "plain": self.plain,
                "padding": self.padding,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("attention", "inner_attention"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return super().from_config(config)


def _serialize(layer):
    return None if layer is None else keras.saving.serialize_keras_object(layer)


@keras.saving.register_keras_serializable(package="kcv")
class BasicBlock(_ResidualBlock):
    """ResNet's basic block: two 3x3 convolutions and a shortcut.

    ``3x3 (filters, strides) + BN + ReLU [-> inner_attention] -> 3x3
    (filters) + BN [-> attention] -> + shortcut -> ReLU`` (He et al., Fig. 2
    left; ResNet-18/34 and the CIFAR ResNets). Convolutions have no bias
    (BN follows each); ``dilation_rate`` dilates both 3x3 convolutions. The
    shortcut is the identity where the block keeps the shape, else a 1x1
    projection with stride ``strides`` + BN (option B of Sec. 3.3; the
    paper's CIFAR networks pad with zeros instead, option A).

    Parameters: ``9·C·F + 9·F² + 4F`` (+ ``C·F + 2F`` with a projection) for
    ``C`` input channels and ``F = filters``, plus those of the extensions.

    Args:
        filters: int. Channels of both convolutions and of the output.
        strides: int. Stride of the first convolution (and the projection).
        dilation_rate: int. Dilation of both convolutions (1 when
            ``strides`` > 1).
        attention: ``keras.layers.Layer`` or None. Applied to the residual
            branch after its last BN, before the addition, as SENet places
            its SE block (e.g. ``kcv.layers.SqueezeExcite(16)``); must keep
            the shape and use the block's ``data_format``. Serialized with the
            block (``keras.saving.serialize_keras_object``).
        inner_attention: ``keras.layers.Layer`` or None. Applied after the
            first convolution + BN + ReLU; same rules.
        data_format: str or None. ``"channels_last"`` or
            ``"channels_first"``; None reads ``keras.config.image_data_format()``.
        plain: bool. True drops the shortcut (and its projection): the block
            returns ``relu(residual)``, a layer of He et al.'s *plain*
            networks (Sec. 4.1), the baseline of the degradation experiment.
        padding: str. ``"same"`` (Keras' rule: a stride-2 3x3 on an even
            size pads one pixel at the end) or ``"symmetric"`` (torchvision's
            ``padding=1`` on both sides, an explicit ``ZeroPadding2D`` before
            the strided convolution), see
            :func:`kcv.layers.conv_bn.padding_layers`. Only a strided block
            differs; the weights are the same.
        bn_epsilon: float > 0. Epsilon of every BN (Keras' default 1e-3;
            torchvision's ``nn.BatchNorm2d`` uses 1e-5).
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Returns:
        ``relu(residual + shortcut)``: ``filters`` channels, spatial size
        ``ceil(n / strides)``.

    Example:

    >>> import numpy as np, kcv
    >>> block = kcv.layers.BasicBlock(64)
    >>> block(np.ones((2, 8, 8, 64), "float32")).shape
    (2, 8, 8, 64)
    >>> kcv.analysis.count_params(block)  # trainable: 2 x (3x3x64x64 + BN), no projection
    73984

    Reference:
        He et al., Deep Residual Learning for Image Recognition, CVPR 2016,
        Sec. 3.3, Fig. 2 and Table 1; torchvision ``BasicBlock``.
    """

    expansion = 1
    _inner_after = 0

    def _branch(self, channels):
        return [
            conv_bn.conv_bn_act(
                self,
                self.filters,
                3,
                "conv1",
                strides=self.strides,
                dilation_rate=self.dilation_rate,
                **self._unit_options,
            ),
            conv_bn.conv_bn_act(
                self,
                self.filters,
                3,
                "conv2",
                dilation_rate=self.dilation_rate,
                activation=None,
                **self._unit_options,
            ),
        ]


@keras.saving.register_keras_serializable(package="kcv")
class Bottleneck(_ResidualBlock):
    """ResNet's bottleneck block, with ResNeXt's grouped 3x3.

    ``1x1 (width) + BN + ReLU -> 3x3 (width, strides, dilation_rate,
    groups) + BN + ReLU [-> inner_attention] -> 1x1 (4·filters) + BN [->
    attention] -> + shortcut -> ReLU`` (He et al., Fig. 5 right). The
    stride sits on the 3x3 convolution, as in torchvision and timm ("ResNet
    v1.5"); the original Caffe ResNet strides the first 1x1, with the same
    parameters. Convolutions have no bias (BN follows each). The shortcut is
    the identity where the block keeps the shape, else a 1x1 projection to
    ``4·filters`` with stride ``strides`` + BN.

    ResNeXt's aggregated transformations (Xie et al., Fig. 3c) are the 3x3
    convolution split into ``groups`` groups; the width is torchvision's
    ``width = int(filters · width_per_group / 64) · groups``: ``filters``
    for ResNet (``groups=1, width_per_group=64``), 128 for the first stage
    of ResNeXt-50 32x4d (``filters=64, groups=32, width_per_group=4``).

    Parameters: ``C·w + 9·w²/groups + 4F·w + 2w + 2w + 8F`` (+ ``4C·F +
    8F`` with a projection) for ``C`` input channels, ``F = filters`` and
    ``w = width``, plus those of the extensions.

    Args:
        filters: int. Bottleneck filters ``F``; the block outputs ``4·F``
            channels (``expansion = 4``).
        strides: int. Stride of the 3x3 convolution (and the projection).
        dilation_rate: int. Dilation of the 3x3 convolution (1 when
            ``strides`` > 1).
        groups: int. Groups of the 3x3 convolution (ResNeXt's cardinality).
        width_per_group: int. Width of each group at ``filters=64`` (64:
            ResNet; 4 in ResNeXt 32x4d).
        attention: ``keras.layers.Layer`` or None. Applied to the residual
            branch after its last BN, before the addition, as SENet places
            its SE block (e.g. ``kcv.layers.SqueezeExcite(16)``); must keep
            the shape and use the block's ``data_format``. Serialized with the
            block (``keras.saving.serialize_keras_object``).
        inner_attention: ``keras.layers.Layer`` or None. Applied after the
            3x3 convolution + BN + ReLU, on ``width`` channels, before the
            last 1x1 (where SPNet puts its strip pooling); same rules.
        data_format: str or None. ``"channels_last"`` or
            ``"channels_first"``; None reads ``keras.config.image_data_format()``.
        plain: bool. True drops the shortcut (and its projection): the block
            returns ``relu(residual)`` (He et al.'s plain networks, Sec. 4.1).
        padding: str. ``"same"`` or ``"symmetric"`` (torchvision's padding
            of the strided 3x3), as for :class:`BasicBlock`.
        bn_epsilon: float > 0. Epsilon of every BN (Keras' 1e-3; torchvision 1e-5).
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Returns:
        ``relu(residual + shortcut)``: ``4·filters`` channels, spatial size
        ``ceil(n / strides)``.

    Example:

    >>> import numpy as np, kcv
    >>> block = kcv.layers.Bottleneck(64)
    >>> block(np.ones((2, 8, 8, 256), "float32")).shape
    (2, 8, 8, 256)
    >>> kcv.analysis.count_params(block)  # trainable: ResNet-50's conv2_x block, no projection
    70400
    >>> kcv.layers.Bottleneck(64, groups=32, width_per_group=4).width  # ResNeXt-50 32x4d
    128

    Reference:
        He et al., Deep Residual Learning for Image Recognition, CVPR 2016,
        Sec. 3.3, Fig. 5; Xie et al., Aggregated Residual Transformations,
        CVPR 2017, Sec. 3.3, Fig. 3, Table 1; torchvision ``Bottleneck``.
    """

    expansion = 4
    _inner_after = 1

    def __init__(
        self,
        filters,
        strides=1,
        dilation_rate=1,
        groups=1,
        width_per_group=64,
        attention=None,
        inner_attention=None,
        data_format=None,
        plain=False,
        padding="same",
        bn_epsilon=conv_bn.KERAS_BN_EPSILON,
        **kwargs,
    ):
        super().__init__(
            filters,
            strides=strides,
            dilation_rate=dilation_rate,
            attention=attention,
            inner_attention=inner_attention,
            data_format=data_format,
            plain=plain,
            padding=padding,
            bn_epsilon=bn_epsilon,
            **kwargs,
        )
        self.groups = _validation.positive_int("groups", groups)
        self.width_per_group = _validation.positive_int("width_per_group", width_per_group)
        if int(self.filters * self.width_per_group / 64) < 1:
            _validation.fail(
                "width_per_group",
                f"large enough that int(filters · width_per_group / 64) >= 1 "
                f"(filters={self.filters})",
                width_per_group,
            )

    @property
    def width(self):
        """Channels of the 1x1 reduction and the 3x3 convolution."""
        return int(self.filters * self.width_per_group / 64) * self.groups

    def _branch(self, channels):
        options = self._unit_options
        return [
            conv_bn.conv_bn_act(self, self.width, 1, "conv1", **options),
            conv_bn.conv_bn_act(
                self,
                self.width,
                3,
                "conv2",
                groups=self.groups,
                strides=self.strides,
                dilation_rate=self.dilation_rate,
                **options,
            ),
            conv_bn.conv_bn_act(self, self.output_channels, 1, "conv3", activation=None, **options),
        ]

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "width_per_group": self.width_per_group})
        return config
