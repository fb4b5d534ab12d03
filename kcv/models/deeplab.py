"""DeepLabv3 and DeepLabv3+: an atrous backbone, ASPP, and a light decoder.

Chen, Papandreou, Schroff, Adam. "Rethinking Atrous Convolution for Semantic
Image Segmentation". 2017 (v3). https://arxiv.org/abs/1706.05587
Chen, Zhu, Papandreou, Schroff, Adam. "Encoder-Decoder with Atrous Separable
Convolution for Semantic Image Segmentation". ECCV 2018 (v3+).
https://arxiv.org/abs/1802.02611

Official code: tensorflow/models ``research/deeplab`` (``model.py``:
``extract_features``, ``refine_by_decoder``; ``core/feature_extractor.py``).
Conventions compared with torchvision ``models/segmentation/deeplabv3.py``
(``DeepLabHead``, ``deeplabv3_resnet50``) and keras-hub
``models/deeplab_v3/`` (``DeepLabV3Backbone``).

The encoder (:func:`kcv.models.segmentation.segmentation_encoder`, a
MobileNetV2 or ResNet at output stride 16 or 8) and the output step
(:func:`kcv.models.segmentation.segmentation_output`) are shared with
:mod:`kcv.models.encnet` and :mod:`kcv.models.spnet`.
"""

import keras

from kcv import _validation
from kcv.layers import ASPP
from kcv.layers import DepthwiseSeparableConv
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.layers.layout import channel_axis
from kcv.models.common import convention_options
from kcv.models.segmentation import OUTPUT_STRIDES
from kcv.models.segmentation import segmentation_encoder
from kcv.models.segmentation import segmentation_output
from kcv.models.segmentation import upsample


def _rates(rates, output_stride):
    """The ASPP rates at ``output_stride``, from ``rates`` given for output stride 16."""
    rates = _validation.int_sequence("rates", rates)
    return tuple(r * 16 // output_stride for r in rates)


def DeepLabV3(
    input_shape,
    classes,
    backbone="mobilenet_v2",
    output_stride=16,
    rates=(6, 12, 18),
    alpha=1.0,
    filters=256,
    weights=None,
    classifier_activation=None,
    name="deeplab_v3",
    convention="keras",
):
    """DeepLabv3: an atrous backbone, ASPP, logits upsampled to the input size.

    ``backbone at output stride 16 or 8 -> ASPP (filters) -> 1x1 conv to
    classes -> bilinear upsampling by the output stride`` (DeepLabv3, Sec.
    3.3 and Fig. 5): the atrous backbone (:func:`kcv.models.segmentation.segmentation_encoder`) keeps the
    features at 1/16 or 1/8 of the input, :class:`kcv.layers.ASPP` (1x1
    branch, three 3x3 atrous branches, image pooling, each ``filters``
    channels + BN + ReLU; concatenated, 1x1 projection + BN + ReLU, dropout
    0.1) gathers context at several scales, and a 1x1 convolution with bias
    gives the logits. ``rates`` are the atrous rates at output stride 16;
    at output stride 8 they are doubled (paper, Sec. 3.3: (6, 12, 18) ->
    (12, 24, 36)).

    Parameters, ``backbone="resnet50"``, output stride 8, 21 classes:
    ResNet-50 features 23,508,032 + ASPP on 2048 channels 15,535,104 +
    logits ``256·21 + 21`` = 39,048,533. torchvision's
    ``deeplabv3_resnet50`` (same backbone, ASPP rates (12, 24, 36)) has
    39,638,869 without its auxiliary FCN head (42,004,074 with it): its
    ``DeepLabHead`` adds a 3x3 convolution 256 -> 256 + BN + ReLU between
    ASPP and the logits (589,824 + 512), which the paper does not have, and
    its ASPP drops out 0.5 (here 0.1, as the official code's keep
    probability 0.9).

    ``convention="torchvision"`` builds torchvision's network, into which
    its weights load (:func:`kcv.weights.load_torchvision`): PyTorch's
    padding of the strided layers and BN epsilon 1e-5 in the backbone and
    ASPP (:func:`kcv.models.common.convention_options`), ASPP dropout 0.5,
    and ``DeepLabHead``'s 3x3 convolution ``filters -> filters`` (no bias)
    + BN + ReLU between ASPP and the logits (layers ``head_conv``,
    ``head_conv_bn``, ``head_conv_act``). With ``backbone="resnet50"``,
    output stride 8 and 21 classes that is 39,048,533 + 589,824 + 512 =
    39,638,869 parameters, ``deeplabv3_resnet50``'s 42,004,074 less its
    auxiliary classifier (``aux_classifier``, ``FCNHead(1024, 21)``:
    2,365,205), which kcv does not build (it serves training only);
    ``backbone="resnet101"``: 58,630,997, ``deeplabv3_resnet101``'s
    60,996,202 less the same head. torchvision's ResNet DeepLabs use output
    stride 8 (``replace_stride_with_dilation=[False, True, True]``, ASPP
    rates 12, 24, 36). The other backbones take the convention too, but
    torchvision has no weights for them (its mobile DeepLabV3 is a dilated
    MobileNetV3-Large, which kcv does not build).

    Differences from the paper and the official code: the upsampling is
    ``keras.layers.UpSampling2D(interpolation="bilinear")`` (half-pixel
    centres, PyTorch's ``align_corners=False``, as torchvision), where the
    official TensorFlow code resizes with ``align_corners=True`` on inputs
    of size ``k·output_stride + 1`` (513); here height and width must be
    multiples of the output stride, so that upsampling the logits by it
    gives the input size exactly. DeepLab's MobileNetV2 model drops the
    atrous branches of ASPP (image pooling and 1x1 only); here ASPP keeps
    them. BN uses Keras' epsilon unless ``convention="torchvision"``. No
    multi-grid rates in the last block; pretrained weights are torchvision's
    (``convention="torchvision"``), loaded by :func:`kcv.weights.load_torchvision`.

    Args:
        input_shape: tuple. ``(H, W, C)`` (``(C, H, W)`` in
            ``channels_first``); H and W multiples of ``output_stride``, or
            None for any size that is (the model then accepts several sizes).
        classes: int. Number of classes (logit channels).
        backbone: str. ``"mobilenet_v2"`` (width ``alpha``), ``"resnet50"``,
            ``"resnet101"`` or ``"resnet_tiny"`` (see
            :func:`kcv.models.segmentation.segmentation_encoder`).
            For a chapter on a laptop CPU: ``"mobilenet_v2"`` with
            ``alpha=0.35`` or ``"resnet_tiny"``, with ``filters=64``.
        output_stride: 16 or 8. Ratio of the input size to the feature size.
        rates: tuple of ints. Atrous rates of ASPP at output stride 16.
        alpha: float > 0. Width multiplier of the MobileNetV2 backbone.
        filters: int. Channels of every ASPP branch (paper: 256).
        weights: None. kcv ships no pretrained weights (torchvision's load
            with :func:`kcv.weights.load_torchvision`, see above).
        classifier_activation: str, callable or None. None (default) returns
            logits; ``"softmax"`` acts over the channel axis.
        name: str. Model name.
        convention: str. ``"keras"`` (default: the paper's head, Keras'
            padding and BN epsilon) or ``"torchvision"`` (torchvision's
            ``DeepLabHead`` and arithmetic, see above).

    Returns:
        A ``keras.Model`` from images to ``(B, H, W, classes)`` logits
        (``(B, classes, H, W)`` in ``channels_first``), output named
        ``"segmentation"``.

    Raises:
        ValueError: naming the argument (``backbone``, ``output_stride``,
            ``input_shape``, ``rates``, ``classes``, ``filters``, ``alpha``,
            ``weights``, ``classifier_activation``, ``convention``).

    Example:

    >>> import kcv
    >>> model = kcv.models.DeepLabV3((64, 64, 3), classes=5, alpha=0.35, filters=64)
    >>> model.output_shape
    (None, 64, 64, 5)
    >>> model.get_layer("aspp").rates, model.get_layer("aspp").output.shape[1:3]
    ((6, 12, 18), (4, 4))

    Reference:
        Chen et al., Rethinking Atrous Convolution for Semantic Image
        Segmentation, 2017, Sec. 3-4, Fig. 5; torchvision
        ``models/segmentation/deeplabv3.py``.
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    _validation.positive_int("filters", filters)
    rates = _rates(rates, _validation.one_of("output_stride", output_stride, OUTPUT_STRIDES))
    bn_epsilon = convention_options(convention)["bn_epsilon"]
    inputs, data_format, _, features = segmentation_encoder(
        input_shape, backbone, output_stride, alpha, convention=convention
    )
    torchvision = convention == "torchvision"
    x = ASPP(
        filters,
        rates,
        dropout=0.5 if torchvision else 0.1,
        bn_epsilon=bn_epsilon,
        data_format=data_format,
        name="aspp",
    )(features)
    if torchvision:  # DeepLabHead: ASPP -> 3x3 conv + BN + ReLU -> 1x1 logits
        x = apply_conv_bn_act(x, filters, 3, "head_conv", data_format, bn_epsilon=bn_epsilon)
    outputs = segmentation_output(x, classes, output_stride, data_format, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def DeepLabV3Plus(
    input_shape,
    classes,
    backbone="mobilenet_v2",
    output_stride=16,
    rates=(6, 12, 18),
    alpha=1.0,
    filters=256,
    low_level_filters=48,
    separable=False,
    weights=None,
    classifier_activation=None,
    name="deeplab_v3_plus",
):
    """DeepLabv3+: DeepLabv3's encoder and a decoder that refines at stride 4.

    Encoder: the atrous backbone and :class:`kcv.layers.ASPP` of
    :func:`DeepLabV3`. Decoder (DeepLabv3+, Sec. 3.1 and Fig. 2): the ASPP
    output is upsampled bilinearly to stride 4; the backbone's stride-4
    (low-level) features go through a 1x1 convolution to
    ``low_level_filters`` (48) + BN + ReLU, so that they do not outweigh the
    256 encoder channels; the two are concatenated and refined by two 3x3
    convolutions of ``filters`` (256) + BN + ReLU (the paper's best choice,
    Table 2); a 1x1 convolution gives the logits, upsampled by 4 to the
    input size.

    ``separable=True`` uses atrous separable convolutions (depthwise 3x3 +
    BN + ReLU, pointwise 1x1 + BN + ReLU,
    :class:`kcv.layers.DepthwiseSeparableConv`) in the ASPP rate branches
    and the two decoder convolutions, as the paper's Xception models and
    the official code do (Sec. 3.1, 4.3). The default is ``False``:
    regular convolutions, as in the paper's decoder design study on
    ResNet-101 (Sec. 4.1-4.2, Tables 1-3) and in :class:`kcv.layers.ASPP`'s
    own default, so that DeepLabV3 and DeepLabV3+ differ only by the
    decoder; separable convolutions cost about 9x fewer parameters and
    multiply-adds in those layers (at 256 channels, a 3x3 layer of 589,824
    weights becomes 2,304 + 65,536).

    Differences from the official code: as in :func:`DeepLabV3`
    (``align_corners``, sizes multiples of the output stride, BN defaults);
    the MobileNetV2 low-level features are the output of ``block_2`` (24
    channels at ``alpha=1``), not the expanded depthwise output inside it
    (144 channels); DeepLab's MobileNetV2 models have no decoder, this
    builder gives one to every backbone.

    Args:
        input_shape: tuple. ``(H, W, C)`` (``(C, H, W)`` in
            ``channels_first``); H and W multiples of ``output_stride``.
        classes: int. Number of classes.
        backbone: str. ``"mobilenet_v2"``, ``"resnet50"``, ``"resnet101"`` or
            ``"resnet_tiny"``.
        output_stride: 16 or 8. Total stride of the encoder features.
        rates: tuple of ints. ASPP rates at output stride 16 (doubled at 8).
        alpha: float > 0. Width multiplier of the MobileNetV2 backbone.
        filters: int. ASPP and decoder 3x3 channels (paper: 256).
        low_level_filters: int. Channels of the low-level projection (48).
        separable: bool. Atrous separable convolutions in ASPP and decoder.
        weights: None. kcv ships no pretrained weights.
        classifier_activation: str, callable or None. None (default) returns
            logits; ``"softmax"`` acts over the channel axis.
        name: str. Model name.

    Returns:
        A ``keras.Model`` from images to ``(B, H, W, classes)`` logits
        (``(B, classes, H, W)`` in ``channels_first``), output named
        ``"segmentation"``.

    Example:

    >>> import kcv
    >>> model = kcv.models.DeepLabV3Plus(
    ...     (64, 64, 3), classes=5, backbone="resnet_tiny", output_stride=8, filters=64)
    >>> model.output_shape
    (None, 64, 64, 5)
    >>> model.get_layer("decoder_concat").output.shape  # 64 encoder + 48 low-level channels
    (None, 16, 16, 112)

    Reference:
        Chen et al., Encoder-Decoder with Atrous Separable Convolution for
        Semantic Image Segmentation, ECCV 2018, Sec. 3, Fig. 2, Tables 1-3.
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    _validation.positive_int("filters", filters)
    _validation.positive_int("low_level_filters", low_level_filters)
    rates = _rates(rates, _validation.one_of("output_stride", output_stride, OUTPUT_STRIDES))
    inputs, data_format, low_level, features = segmentation_encoder(
        input_shape, backbone, output_stride, alpha
    )
    x = ASPP(filters, rates, separable=separable, data_format=data_format, name="aspp")(features)
    x = upsample(x, output_stride // 4, data_format, "aspp_upsample")
    low_level = apply_conv_bn_act(low_level, low_level_filters, 1, "decoder_low_level", data_format)
    x = keras.layers.Concatenate(axis=channel_axis(data_format), name="decoder_concat")(
        [x, low_level]
    )
    for index in (1, 2):
        if separable:
            x = DepthwiseSeparableConv(
                filters, data_format=data_format, name=f"decoder_conv{index}"
            )(x)
        else:
            x = apply_conv_bn_act(x, filters, 3, f"decoder_conv{index}", data_format)
    outputs = segmentation_output(x, classes, 4, data_format, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
