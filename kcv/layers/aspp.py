"""Atrous Spatial Pyramid Pooling (DeepLab v2, v3, v3+).

Chen et al. "DeepLab: Semantic Image Segmentation with Deep Convolutional
Nets, Atrous Convolution, and Fully Connected CRFs". TPAMI 2018 (v2).
https://arxiv.org/abs/1606.00915
Chen et al. "Rethinking Atrous Convolution for Semantic Image Segmentation".
2017 (v3). https://arxiv.org/abs/1706.05587
Chen et al. "Encoder-Decoder with Atrous Separable Convolution for Semantic
Image Segmentation". ECCV 2018 (v3+). https://arxiv.org/abs/1802.02611
"""

import keras
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout
from kcv.layers.depthwise import DepthwiseSeparableConv

MERGES = ("concat", "sum")


@keras.saving.register_keras_serializable(package="kcv")
class ASPP(keras.layers.Layer):
    """Atrous Spatial Pyramid Pooling: parallel atrous convolutions, merged.

    An atrous (dilated) 3x3 convolution at rate ``r`` reads the input at
    offsets ``{-r, 0, r}²`` around each pixel (v2, Eq. 1): its field of view
    grows with ``r`` at no extra cost. ASPP runs several rates in parallel to
    see objects at several scales.

    ``merge="concat"`` (default, DeepLabv3 Sec. 3.3): a 1x1 branch, one 3x3
    atrous branch per rate and, with ``image_pooling``, an image-level branch
    (global average pooling -> 1x1 -> BN -> ReLU -> upsampled to the input
    size, which for a 1x1 map is an exact broadcast), each producing
    ``filters`` channels; concatenated, then a 1x1 projection + BN + ReLU +
    dropout. Each convolution is conv (no bias) + BN + ReLU, or conv (bias) +
    ReLU with ``batch_norm=False``. torchvision's ``ASPP(2048, (12, 24, 36),
    256)`` has ``(2048·256 + 512) + 3·(9·2048·256 + 512) + (2048·256 + 512)
    + (5·256·256 + 512) = 15,535,104`` parameters, as this layer does.

    ``merge="sum"`` with ``batch_norm=False, image_pooling=False`` is DeepLab
    v2's ASPP: one linear 3x3 atrous convolution per rate, outputs summed
    (then dropout when ``dropout > 0``). v2 stacks three layers per branch
    (3x3 atrous -> 1x1 -> 1x1 to the classes); this layer keeps the single
    atrous layer that defines the module.

    ``separable=True`` uses DeepLabv3+'s atrous separable convolutions in the
    rate branches: depthwise 3x3 at rate ``r`` + BN + ReLU, pointwise 1x1 +
    BN + ReLU (:class:`DepthwiseSeparableConv`).

    ``bn_epsilon`` is the epsilon of every BN: Keras' 1e-3 by default,
    torchvision's 1e-5 for its weights (``kcv.models.DeepLabV3(...,
    convention="torchvision")`` sets it), the separable branches' included.

    Works with unknown spatial sizes (``keras.Input((None, None, C))``).

    Args:
        filters: int. Channels of every branch and of the output.
        rates: tuple of ints. Atrous rates, one 3x3 branch each (v3 at output
            stride 16: ``(6, 12, 18)``; double them at output stride 8).
        image_pooling: bool. Add the image-level pooling branch.
        separable: bool. Atrous separable convolutions in the rate branches.
        merge: str. ``"concat"`` (v3, with 1x1 branch and projection) or
            ``"sum"`` (v2, rate branches only).
        batch_norm: bool. BN after each convolution.
        dropout: float in [0, 1). Dropout after the merge.
        bn_epsilon: float > 0. Epsilon of every BN (Keras' 1e-3; torchvision's
            1e-5).
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A tensor with ``filters`` channels and the input's spatial size.

    Raises:
        ValueError: naming the argument: ``filters``, ``rates``, ``merge``,
            ``dropout``, ``bn_epsilon`` (not > 0), ``data_format``; ``input`` at build when it
            is not a 4D image tensor.

    Example:

    >>> import numpy as np, kcv
    >>> aspp = kcv.layers.ASPP(filters=32, rates=(2, 4))
    >>> aspp(np.ones((1, 16, 16, 64), "float32")).shape
    (1, 16, 16, 32)

    Reference:
        Chen et al., DeepLab (v2), TPAMI 2018, Sec. 3.1-3.2 and Fig. 4;
        Chen et al., Rethinking Atrous Convolution (v3), 2017, Sec. 3.3 and
        Fig. 5; Chen et al., DeepLabv3+, ECCV 2018, Sec. 3.2. Official
        torchvision port: ``models/segmentation/deeplabv3.py`` (``ASPP``).
    """

    def __init__(
        self,
        filters=256,
        rates=(6, 12, 18),
        image_pooling=True,
        separable=False,
        merge="concat",
        batch_norm=True,
        dropout=0.1,
        data_format=None,
        bn_epsilon=conv_bn.KERAS_BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _validation.positive_int("filters", filters)
        self.rates = _validation.int_sequence("rates", rates)
        self.image_pooling = bool(image_pooling)
        self.separable = bool(separable)
        self.merge = _validation.one_of("merge", merge, MERGES)
        self.batch_norm = bool(batch_norm)
        _validation.number("dropout", dropout, 0, 1, high_open=True)
        self.dropout = dropout
        self.data_format = _validation.data_format(data_format)
        self.bn_epsilon = _validation.number("bn_epsilon", bn_epsilon, 0, low_open=True)

    def _conv_unit(self, kernel_size, name, dilation_rate=1, activation="relu"):
        return conv_bn.conv_bn_act(
            self,
            self.filters,
            kernel_size,
            name,
            batch_norm=self.batch_norm,
            activation=activation,
            dilation_rate=dilation_rate,
            bn_epsilon=self.bn_epsilon,
        )

    def _rate_branch(self, index, rate):
        # Named after the rate; a rate given twice (an ablation with equal
        # rates) gets its position too, so that every sublayer name is unique.
        name = f"atrous_rate{rate}"
        if self.rates.count(rate) > 1:
            name = f"{name}_{index}"
        if self.separable:
            return [
                DepthwiseSeparableConv(
                    self.filters,
                    dilation_rate=rate,
                    activation="relu" if self.merge == "concat" else None,
                    batch_norm=self.batch_norm,
                    data_format=self.data_format,
                    bn_epsilon=self.bn_epsilon,
                    dtype=self.dtype_policy,
                    name=name,
                )
            ]
        # v2's summed branches are linear (they output the class scores).
        activation = "relu" if self.merge == "concat" else None
        return self._conv_unit(3, name, dilation_rate=rate, activation=activation)

    def build(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        self.branches = [self._rate_branch(i, rate) for i, rate in enumerate(self.rates)]
        if self.merge == "concat":
            self.branches.insert(0, self._conv_unit(1, "conv1x1"))
        for branch in self.branches:
            conv_bn.build_chain(branch, input_shape)
        pooled_shape = list(input_shape)
        for axis in layout.spatial_axes(self.data_format):
            pooled_shape[axis] = 1
        self.pool_branch = self._conv_unit(1, "image_pool") if self.image_pooling else []
        conv_bn.build_chain(self.pool_branch, tuple(pooled_shape))
        self.projection = []
        if self.merge == "concat":
            merged = list(input_shape)
            merged[layout.channel_axis(self.data_format)] = self.filters * (
                len(self.branches) + self.image_pooling
            )
            self.projection = self._conv_unit(1, "project")
            conv_bn.build_chain(self.projection, tuple(merged))
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def call(self, inputs, training=None):
        outputs = [conv_bn.call_chain(b, inputs, training=training) for b in self.branches]
        if self.image_pooling:
            pooled = ops.mean(inputs, axis=layout.spatial_axes(self.data_format), keepdims=True)
            pooled = conv_bn.call_chain(self.pool_branch, pooled, training=training)
            # Bilinear upsampling of a 1x1 map is a constant map: broadcast it.
            axis = layout.channel_axis(self.data_format)
            ones = ops.ones_like(ops.take(inputs, [0], axis=axis))
            outputs.append(ops.cast(pooled, outputs[0].dtype) * ops.cast(ones, outputs[0].dtype))
        if self.merge == "concat":
            merged = ops.concatenate(outputs, axis=layout.channel_axis(self.data_format))
            merged = conv_bn.call_chain(self.projection, merged, training=training)
        else:
            merged = outputs[0]
            for branch_output in outputs[1:]:
                merged = merged + branch_output
        return self.drop(merged, training=training)

    def compute_output_shape(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        return layout.same_conv_output_shape(input_shape, self.filters, (1, 1), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "rates": self.rates,
                "image_pooling": self.image_pooling,
                "separable": self.separable,
                "merge": self.merge,
                "batch_norm": self.batch_norm,
                "dropout": self.dropout,
                "data_format": self.data_format,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config
