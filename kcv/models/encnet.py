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

from kcv._validation import positive_int
from kcv.layers import ContextEncoding
from kcv.layers import Encoding
from kcv.layers.layout import channel_axis
from kcv.models._utils import apply_conv_bn_act
from kcv.models._utils import check_classes
from kcv.models._utils import check_dropout
from kcv.models._utils import check_weights
from kcv.models._utils import classifier
from kcv.models._utils import image_input
from kcv.models.deeplab import RESNET_BACKBONES
from kcv.models.deeplab import atrous_backbone
from kcv.models.deeplab import segmentation_output
from kcv.models.senet import resnet_stages


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
            :func:`kcv.models.deeplab.atrous_backbone`).
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
    check_weights(weights)
    check_classes(classes)
    positive_int("num_codes", num_codes)
    positive_int("head_filters", head_filters)
    check_dropout(dropout)
    inputs, data_format, _, features = atrous_backbone(
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


def _encoding_gate(x, num_codes, reduction, data_format, name):
    """The official CIFAR ``EncLayer``: channel gates from an L2-normalised encoding.

    ``1x1 conv (C/r) + BN + ReLU -> Encoding (K) -> flatten (K·C/r) -> L2
    normalisation -> dense (C) + sigmoid``; the output is ``x`` times the
    gates.
    """
    axis = channel_axis(data_format)
    channels = x.shape[axis]
    reduced = channels // reduction
    y = apply_conv_bn_act(x, reduced, 1, f"{name}_reduce", data_format)
    y = Encoding(num_codes, data_format=data_format, name=f"{name}_encoding")(y)
    y = keras.layers.Reshape((num_codes * reduced,), name=f"{name}_flatten")(y)
    y = keras.layers.UnitNormalization(name=f"{name}_l2_normalize")(y)
    y = keras.layers.Dense(channels, activation="sigmoid", name=f"{name}_gate")(y)
    gate_shape = (1, 1, channels) if axis == -1 else (channels, 1, 1)
    y = keras.layers.Reshape(gate_shape, name=f"{name}_gate_reshape")(y)
    return keras.layers.Multiply(name=f"{name}_scale")([x, y])


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
    -> ReLU`` (:func:`kcv.models.senet.resnet_stages` with an encoding gate
    as its ``block_hook``); the gate is the official ``EncLayer``:
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
    >>> model.output_shape, model.get_layer("conv4_block2_enc_encoding").output.shape
    ((None, 10), (None, 4, 16))

    Reference:
        Zhang et al., Context Encoding for Semantic Segmentation, CVPR 2018,
        CIFAR-10 experiment; PyTorch-Encoding ``experiments/recognition/model/``
        (``encnet.py``, ``mynn.py``).
    """
    check_weights(weights)
    check_classes(classes)
    positive_int("widen", widen)
    positive_int("num_codes", num_codes)
    if (
        isinstance(reduction, bool)
        or not isinstance(reduction, int)
        or not 1 <= reduction <= 16 * widen
    ):
        raise ValueError(
            f"`reduction` must be an integer in [1, 16·widen = {16 * widen}] (the gates "
            f"reduce at least 16·widen channels by it), received {reduction!r}."
        )
    inputs, data_format = image_input(input_shape, 32, min_size=4, channels=None)

    def hook(x, point, stage, block, name):
        if point != "residual":
            return x
        return _encoding_gate(x, num_codes, reduction, data_format, f"{name}_enc")

    x = apply_conv_bn_act(inputs, 16 * widen, 3, "conv1", data_format)
    widths = (16 * widen, 32 * widen, 64 * widen)
    x = resnet_stages(x, "basic", (2, 2, 2), widths, (1, 2, 2), data_format, block_hook=hook)[-1]
    x = keras.layers.BatchNormalization(axis=channel_axis(data_format), name="final_bn")(x)
    x = keras.layers.Activation("relu", name="final_relu")(x)
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
