"""EncNet: Context Encoding for semantic segmentation, and its CIFAR-10 network.

Zhang, Dana, Shi, Zhang, Wang, Tyagi, Agrawal. "Context Encoding for Semantic
Segmentation". CVPR 2018. https://arxiv.org/abs/1803.08904

Official code: PyTorch-Encoding (zhanghang1989), ``encoding/models/sseg/encnet.py``
(``EncNet``, ``EncHead``, ``EncModule``) for segmentation; for the CIFAR-10
experiment, the ``experiments/recognition/model/`` code of its
early releases (``encnet.py``: ``Net``; ``mynn.py``: ``EncBasicBlock``,
``EncLayer``).
"""

import keras
from keras import ops

from kcv import _validation
from kcv.layers import ContextEncoding
from kcv.layers import Encoding
from kcv.layers import conv_bn
from kcv.layers import layout
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.layers.layout import channel_axis
from kcv.layers.normalization import BatchNormalization
from kcv.models.common import classifier
from kcv.models.common import image_input
from kcv.models.resnet import resnet_stages
from kcv.models.segmentation import RESNET_BACKBONES
from kcv.models.segmentation import segmentation_encoder
from kcv.models.segmentation import segmentation_output


def EncNet(
    input_shape,
    classes,
    backbone="resnet50",
    num_codes=32,
    se_loss=True,
    output_stride=8,
    head_filters=512,
    dropout=0.1,
    weights=None,
    classifier_activation=None,
    name="encnet",
):
    """EncNet: a dilated ResNet and a Context Encoding head with SE-loss output.

    ``dilated ResNet (output stride 8) -> 3x3 conv (512) + BN + ReLU ->
    ContextEncoding (K codewords) -> spatial dropout 0.1 -> 1x1 conv to
    classes -> bilinear upsampling by 8`` (paper, Sec. 3.4 and Fig. 2; the
    official ``EncHead``: ``conv5``, ``encmodule``, ``conv6``).
    :class:`kcv.layers.ContextEncoding` learns a global context vector from
    an Encoding layer over all pixels and scales the channels with it; with
    ``se_loss`` it also predicts which classes appear in the image (the
    Semantic Encoding loss, Sec. 3.3), a second output.

    Training with SE-loss (the paper's ``L = L_seg + 0.2·L_se``): the SE
    output's targets are :func:`kcv.losses.presence_targets` of the masks,
    its loss :class:`kcv.losses.SELoss` (``weight=0.2`` is the α), e.g.::

        model.compile(
            optimizer="adam",
            loss={"segmentation": keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True, ignore_class=255),
                  "se_logits": kcv.losses.SELoss(weight=0.2)})
        model.fit(images, {"segmentation": masks,
                           "se_logits": kcv.losses.presence_targets(masks, classes)})

    Parameters, ``backbone="resnet50"``, K = 32, 21 classes: ResNet-50
    features 23,508,032 + 3x3 conv 2048 -> 512 + BN 9,438,208 + Context
    Encoding on 512 channels 542,304 (= PyTorch-Encoding's ``EncModule``)
    + SE head ``512·21 + 21`` + logits ``512·21 + 21`` = 33,510,090.

    Left out of the official model: the FCN auxiliary head on the third
    stage (``aux=True``: 3x3 conv 1024 -> 256 + BN + ReLU, dropout, 1x1 to
    classes; 2,359,808 + ``257·classes`` parameters), a training aid
    outside the paper's architecture; the lateral connections of the
    PASCAL models (``lateral=True``: stage 2 and 3 features through 1x1
    convolutions to 512, fused with the head by a 3x3 convolution); and
    PyTorch-Encoding's deep stem (three 3x3 convolutions 64-64-128 instead
    of the 7x7: +123,776 parameters with ResNet-50). The upsampling has
    half-pixel centres where the official code uses ``align_corners=True``
    (see :func:`kcv.models.DeepLabV3`), so height and width must be
    multiples of the output stride; spatial dropout (``SpatialDropout2D``)
    is PyTorch's ``Dropout2d``; BN uses Keras' defaults.

    Args:
        input_shape: tuple. ``(H, W, C)`` (``(C, H, W)`` in
            ``channels_first``); H and W multiples of ``output_stride``, or
            None.
        classes: int. Number of classes.
        backbone: str. ``"resnet50"``, ``"resnet101"`` or ``"resnet_tiny"``
            (the last to train on a CPU; see
            :func:`kcv.models.segmentation.segmentation_encoder`).
        num_codes: int. Codewords ``K`` of the Encoding layer (paper: 32).
        se_loss: bool. Whether to output the SE-loss logits too.
        output_stride: 8 (paper) or 16. Total stride of the backbone.
        head_filters: int. Channels of the head (official: 512).
        dropout: float in [0, 1). Spatial dropout before the classifier.
        weights: None. kcv ships no pretrained weights.
        classifier_activation: str, callable or None. Activation of the
            segmentation output (None: logits; ``"softmax"`` over the
            channel axis). The SE output stays logits.
        name: str. Model name.

    Returns:
        A ``keras.Model``. With ``se_loss``: two outputs,
        ``"segmentation"`` ``(B, H, W, classes)`` (``(B, classes, H, W)`` in
        ``channels_first``) and ``"se_logits"`` ``(B, classes)``; without,
        the segmentation alone.

    Example:

    >>> import kcv
    >>> model = kcv.models.EncNet(
    ...     (32, 32, 3), classes=4, backbone="resnet_tiny", num_codes=8, head_filters=64)
    >>> model.output_names, model.output_shape
    (['segmentation', 'se_logits'], [(None, 32, 32, 4), (None, 4)])

    Reference:
        Zhang et al., Context Encoding for Semantic Segmentation, CVPR 2018,
        Sec. 3, Fig. 2, Sec. 4.1 (α = 0.2); PyTorch-Encoding
        ``encoding/models/sseg/encnet.py``.
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    _validation.positive_int("num_codes", num_codes)
    _validation.positive_int("head_filters", head_filters)
    _validation.number("dropout", dropout, 0, 1, high_open=True)
    inputs, data_format, _, features = segmentation_encoder(
        input_shape, backbone, output_stride, choices=RESNET_BACKBONES
    )
    x = apply_conv_bn_act(features, head_filters, 3, "head_conv", data_format)
    encoded = ContextEncoding(
        num_codes,
        se_classes=classes if se_loss else None,
        data_format=data_format,
        name="context_encoding",
    )(x)
    x = encoded[0] if se_loss else encoded
    x = keras.layers.SpatialDropout2D(dropout, data_format=data_format, name="head_dropout")(x)
    segmentation = segmentation_output(
        x, classes, output_stride, data_format, classifier_activation
    )
    if not se_loss:
        return keras.Model(inputs, segmentation, name=name)
    se_logits = keras.layers.Identity(name="se_logits")(encoded[1])
    return keras.Model(inputs, [segmentation, se_logits], name=name)


@keras.saving.register_keras_serializable(package="kcv")
class EncodingGate(keras.layers.Layer):
    """The official CIFAR ``EncLayer``: channel gates from an L2-normalised encoding.

    ``1x1 conv (C/r) + BN + ReLU -> Encoding (K codewords) -> flatten
    (K·C/r) -> L2 normalisation -> dense (C) + sigmoid``; the output is the
    input times the gates, one per channel. It plays the part of SE in
    EncNet's CIFAR network (the ``attention`` of its residual blocks), with
    an :class:`kcv.layers.Encoding` instead of average pooling; unlike
    :class:`kcv.layers.ContextEncoding` it keeps every codeword's residual
    (flattened; no BN over codewords, no mean) and has no SE loss.

    Parameters on ``C`` channels, ``D = C // r``: ``C·D + 2D`` (1x1 + BN,
    no bias; the official one has a bias, ``D`` more) + ``K·D + K``
    (codewords, smoothing factors) + ``K·D·C + C`` (dense).

    Args:
        num_codes: int. Codewords ``K`` (official default 16).
        reduction: int. Channel reduction ``r`` before the Encoding layer (4).
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``...).

    Returns:
        A tensor of the input's shape: the input scaled per channel.

    Example:

    >>> import numpy as np
    >>> gate = EncodingGate(num_codes=4)
    >>> gate(np.ones((2, 8, 8, 16), "float32")).shape
    (2, 8, 8, 16)
    >>> gate.count_params()  # 16·4 + 8 (+ 8 BN statistics) + 4·4 + 4 + 4·4·16 + 16
    372

    Reference:
        Zhang et al., Context Encoding for Semantic Segmentation, CVPR 2018,
        CIFAR-10 experiment; PyTorch-Encoding ``experiments/recognition/model/mynn.py``
        (``EncLayer``).
    """

    def __init__(self, num_codes=16, reduction=4, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.num_codes = _validation.positive_int("num_codes", num_codes)
        self.reduction = _validation.positive_int("reduction", reduction)
        self.data_format = _validation.data_format(data_format)
        self.supports_masking = False

    def build(self, input_shape):
        channels = _validation.image_shape(self, input_shape, self.data_format)
        reduced = channels // self.reduction
        if reduced < 1:
            _validation.fail(
                "reduction", f"at most the input channels ({channels})", self.reduction
            )
        self.reduce = conv_bn.conv_bn_act(self, reduced, 1, "reduce")
        shape = conv_bn.build_chain(self.reduce, input_shape)
        self.encoding = Encoding(
            self.num_codes, data_format=self.data_format, dtype=self.dtype_policy, name="encoding"
        )
        self.normalize = keras.layers.UnitNormalization(
            dtype=self.dtype_policy, name="l2_normalize"
        )
        self.gate = keras.layers.Dense(
            channels, activation="sigmoid", dtype=self.dtype_policy, name="gate"
        )
        self.encoding.build(shape)
        flat = (input_shape[0], self.num_codes * reduced)
        conv_bn.build_chain([self.normalize, self.gate], flat)

    def call(self, inputs, training=None):
        y = conv_bn.call_chain(self.reduce, inputs, training=training)
        y = self.encoding(y)
        y = ops.reshape(y, (-1, y.shape[1] * y.shape[2]))
        y = self.gate(self.normalize(y))
        return inputs * ops.cast(layout.per_channel(y, self.data_format), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_codes": self.num_codes,
                "reduction": self.reduction,
                "data_format": self.data_format,
            }
        )
        return config


def EncNetCIFAR(
    widen=4,
    num_codes=16,
    include_top=True,
    weights=None,
    input_shape=None,
    classes=10,
    pooling=None,
    classifier_activation="softmax",
    reduction=4,
    name="encnet_cifar",
):
    """EncNet's 14-layer CIFAR-10 network: an encoding gate in every residual block.

    ``conv 3x3 (16w) + BN + ReLU -> 3 stages of 2 basic blocks (16w, 32w,
    64w channels; 32x32 -> 16x16 -> 8x8) -> BN + ReLU -> global average pool
    -> dense``: 1 + 12 convolutions and the classifier, 14 layers (the
    paper's CIFAR-10 experiment, whose EncNets are named by their codewords
    and base width, e.g. 16 codewords at 64 channels for ``widen=4``). A basic
    block is ``3x3 + BN + ReLU -> 3x3 + BN -> encoding gate -> + shortcut
    -> ReLU`` (:class:`kcv.layers.BasicBlock` with an :class:`EncodingGate`
    as its ``attention``); the gate is the official ``EncLayer``:
    ``1x1 conv (C/4) + BN + ReLU -> Encoding (K codewords) -> flatten
    (K·C/4) -> L2 normalisation -> dense (C) + sigmoid``, which scales the
    block's channels, as SE does but from an Encoding layer instead of
    average pooling. Unlike the segmentation head's
    :class:`kcv.layers.ContextEncoding`, it keeps every codeword's residual
    (flattened, no BN over codewords, no mean) and has no SE loss.

    Structure from the official experiments code (``Net`` with
    ``EncBasicBlock``, ``num_blocks=[2, 2, 2]``, base width
    ``args.widen·16``, ``EncLayer(planes, K, reduction=4)``), including its
    BN + ReLU after the last block (a leftover of the pre-activation
    ResNet it derives from). Differences: no bias before BN (the official
    stem convolution and the 1x1 reductions of ``EncLayer`` have one: they
    add ``16w`` and ``2·(4w + 8w + 16w) = 56w`` parameters); shortcut
    projections are 1x1 conv + BN, as every kcv ResNet, where the official
    ones are a 1x1 conv with bias and no BN (one more parameter per
    channel here: ``32w + 64w = 96w``); global average pooling instead of
    ``AvgPool2d(8)`` (the same at 32x32). So the official count is this one
    minus ``24w`` (96 fewer at ``widen=4``). Shake-shake regularisation, which the paper adds for its
    best result, is a training scheme and is left out; the paper's table of
    parameter counts could not be checked here.

    Args:
        widen: int. Width factor ``w``: stages of 16w, 32w, 64w channels
            (``4``: 64, 128, 256).
        num_codes: int. Codewords ``K`` of each encoding gate (official
            default 16).
        include_top: bool. Whether to end with global average pooling and a
            dense ``classes`` layer.
        weights: None. kcv ships no pretrained weights.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 4; None means 32x32 RGB.
        classes: int. Number of classes (CIFAR-10: 10).
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classifier_activation: str, callable or None. None returns logits.
        reduction: int. Channel reduction before the Encoding layer (4).
        name: str. Model name.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the ``64w``-channel
        features with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.EncNetCIFAR(widen=1, num_codes=4)
    >>> gate = model.get_layer("conv4_block2").attention  # an EncodingGate
    >>> model.output_shape, tuple(gate.encoding.codewords.shape)  # K x C/4
    ((None, 10), (4, 16))

    Reference:
        Zhang et al., Context Encoding for Semantic Segmentation, CVPR 2018,
        CIFAR-10 experiment; PyTorch-Encoding ``experiments/recognition/model/``
        (``encnet.py``, ``mynn.py``).
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    _validation.positive_int("widen", widen)
    _validation.positive_int("num_codes", num_codes)
    if not _validation.positive_int("reduction", reduction) <= 16 * widen:
        _validation.fail(
            "reduction",
            f"an integer in [1, 16·widen = {16 * widen}] (the gates reduce at least "
            "16·widen channels by it)",
            reduction,
        )
    inputs, data_format = image_input(input_shape, 32, min_size=4, channels=None)

    def gate(stage, block):
        return EncodingGate(num_codes, reduction, data_format=data_format, name="enc")

    x = apply_conv_bn_act(inputs, 16 * widen, 3, "conv1", data_format)
    widths = (16 * widen, 32 * widen, 64 * widen)
    x = resnet_stages(x, "basic", (2, 2, 2), widths, (1, 2, 2), data_format, attention=gate)[-1]
    x = BatchNormalization(axis=channel_axis(data_format), name="final_bn")(x)
    x = keras.layers.Activation("relu", name="final_relu")(x)
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
