"""MobileNet v1 and v2.

Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam. "MobileNets:
Efficient Convolutional Neural Networks for Mobile Vision Applications".
arXiv 2017. https://arxiv.org/abs/1704.04861
Sandler, Howard, Zhu, Zhmoginov, Chen. "MobileNetV2: Inverted Residuals and
Linear Bottlenecks". CVPR 2018. https://arxiv.org/abs/1801.04381

Official code: tensorflow/models ``research/slim/nets/mobilenet_v1.py`` and
``research/slim/nets/mobilenet/mobilenet_v2.py`` (with ``mobilenet.py`` for
``output_stride``, as DeepLab uses it). Widths and tops follow
``keras.applications`` (``mobilenet.py``, ``mobilenet_v2.py``), whose
trainable parameter counts we match for every ``alpha``: 4,231,976 for
MobileNet 1.0 and 3,504,872 for MobileNetV2 1.0 (1000 classes).
"""

import keras

from kcv import _validation
from kcv.layers import DepthwiseSeparableConv
from kcv.layers import InvertedResidual
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.models.common import atrous_schedule
from kcv.models.common import classifier
from kcv.models.common import convention_options
from kcv.models.common import image_input
from kcv.models.common import make_divisible

# MobileNet, Table 1: (pointwise filters, stride) of the 13 separable blocks.
_V1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)

# MobileNetV2, Table 2: (expansion t, output channels c, repeats n, stride s).
_V2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def MobileNetV1(
    alpha=1.0,
    depth_multiplier=1,
    dropout=1e-3,
    include_top=True,
    weights=None,
    input_shape=None,
    classes=1000,
    pooling=None,
    classifier_activation="softmax",
    name="mobilenet",
):
    """MobileNet (v1): a 3x3 convolution and 13 depthwise separable blocks.

    ``conv 3x3/2 (32) + BN + ReLU6 -> 13 x [depthwise 3x3 + BN + ReLU6 ->
    pointwise 1x1 + BN + ReLU6] (64 ... 1024 channels, five of stride 2)
    -> global average pool -> dropout -> dense`` (paper, Table 1), every
    block a :class:`kcv.layers.DepthwiseSeparableConv`. The width multiplier
    ``alpha`` scales every layer to ``int(alpha · channels)`` (Sec. 3.3);
    ``depth_multiplier`` gives each depthwise convolution that many outputs
    per input channel.

    Trainable parameters for 1000 classes equal ``keras.applications``:
    4,231,976 at ``alpha=1``. Differences from the paper: ReLU6 instead of
    ReLU (the official code's choice); the classifier is a dense layer on
    the pooled features where ``keras.applications`` uses a 1x1 convolution
    (the same weights); "same" padding throughout.

    Args:
        alpha: float >= 1/32. Width multiplier.
        depth_multiplier: int. Outputs per channel of the depthwise
            convolutions (the paper's resolution multiplier is the input size).
        dropout: float in [0, 1). Dropout before the classifier.
        include_top: bool. Whether to end with global average pooling,
            dropout and a dense ``classes`` layer.
        weights: None. kcv ships no pretrained weights.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 32; None means 224x224 RGB.
        classes: int. Number of classes.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classifier_activation: str, callable or None. None returns logits.
        name: str. Model name.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the
        ``int(1024 · alpha)``-channel features with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.MobileNetV1(alpha=0.25, input_shape=(128, 128, 3), classes=10)
    >>> model.output_shape
    (None, 10)

    Reference:
        Howard et al., MobileNets, 2017, Sec. 3, Table 1.
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    _validation.number("alpha", alpha, 0, low_open=True)
    if int(32 * alpha) < 1:
        _validation.fail("alpha", ">= 1/32 (every layer keeps a channel)", alpha)
    _validation.number("dropout", dropout, 0, 1, high_open=True)
    inputs, data_format = image_input(input_shape, 224, min_size=32, channels=None)
    x = apply_conv_bn_act(
        inputs, int(32 * alpha), 3, "conv1", data_format, activation="relu6", strides=2
    )
    for index, (filters, stride) in enumerate(_V1_BLOCKS, start=1):
        x = DepthwiseSeparableConv(
            int(filters * alpha),
            strides=stride,
            depth_multiplier=depth_multiplier,
            activation="relu6",
            data_format=data_format,
            name=f"block_{index}",
        )(x)
    outputs = classifier(x, include_top, classes, pooling, classifier_activation, dropout=dropout)
    return keras.Model(inputs, outputs, name=name)


def MobileNetV2(
    alpha=1.0,
    include_top=True,
    weights=None,
    input_shape=None,
    classes=1000,
    pooling=None,
    classifier_activation="softmax",
    output_stride=None,
    name="mobilenetv2",
    convention="keras",
):
    """MobileNetV2: inverted residual blocks with linear bottlenecks.

    ``conv 3x3/2 (32) + BN + ReLU6 -> 17 inverted residual blocks (Table 2:
    16, 24, 32, 64, 96, 160, 320 channels) -> conv 1x1 (1280) + BN + ReLU6
    -> global average pool -> dense``, every block a
    :class:`kcv.layers.InvertedResidual` (expansion 6, 1 for the first; a
    residual connection where stride is 1 and widths match). Widths are
    ``make_divisible(int(alpha · c), 8)`` (official code, see
    :func:`kcv.models.common.make_divisible`), the stem
    ``make_divisible(32 · alpha, 8)``; the last convolution keeps 1280
    channels unless ``alpha > 1``.

    Trainable parameters for 1000 classes equal ``keras.applications``:
    3,504,872 at ``alpha=1``, as torchvision's ``mobilenet_v2``. Differences
    from the official code: no dropout before the classifier
    (``keras.applications`` has none; slim and torchvision use 0.2, which
    changes nothing at inference).

    ``convention`` (:func:`kcv.models.common.convention_options`):
    ``"keras"`` (default) is ``keras.applications``' arithmetic, "same"
    padding (a stride-2 layer on an even size pads ``(0, 1)``) and BN
    epsilon 1e-3, and the tests hold the model to ``keras.applications``'
    outputs; ``"torchvision"`` pads the stride-2 stem and depthwise
    convolutions by 1 on both sides (``conv1_pad``, the blocks'
    ``depthwise_pad``) and uses ``nn.BatchNorm2d``'s epsilon 1e-5, so that
    :func:`kcv.weights.load_torchvision` gives torchvision's logits.

    ``output_stride`` (16 or 8) keeps the features at 1/16 or 1/8 of the
    input: the later strides become dilation of the depthwise convolutions
    that follow, as in DeepLabv3's MobileNetV2 backbone
    (:func:`kcv.models.common.atrous_schedule`); the parameter count does not
    change. The 1/4-resolution features (for a DeepLabv3+ decoder) are the
    output of layer ``block_2``.

    Args:
        alpha: float > 0. Width multiplier.
        include_top: bool. Whether to end with global average pooling and a
            dense ``classes`` layer.
        weights: None. kcv ships no pretrained weights.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= ``output_stride`` (default 32);
            None means 224x224 RGB.
        classes: int. Number of classes.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classifier_activation: str, callable or None. None returns logits.
        output_stride: None, 8, 16 or 32. Total stride of the features
            (None and 32: the classification network).
        name: str. Model name.
        convention: str. ``"keras"`` (default) or ``"torchvision"``: padding
            and BN epsilon, as above.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the features
        (1280 channels, or ``make_divisible(1280 · alpha, 8)`` for
        ``alpha > 1``) with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.MobileNetV2(
    ...     alpha=0.35, include_top=False, input_shape=(64, 64, 3), output_stride=8)
    >>> model.output_shape
    (None, 8, 8, 1280)

    Reference:
        Sandler et al., MobileNetV2, CVPR 2018, Sec. 3-4, Table 2, Fig. 4;
        Chen et al., Rethinking Atrous Convolution (DeepLabv3), 2017,
        https://arxiv.org/abs/1706.05587, Sec. 3.1.
    """
    _validation.no_weights(weights)
    _validation.positive_int("classes", classes)
    _validation.number("alpha", alpha, 0, low_open=True)
    _validation.one_of("output_stride", output_stride, (None, 8, 16, 32))
    options = convention_options(convention)
    inputs, data_format = image_input(input_shape, 224, min_size=output_stride or 32, channels=None)
    stem = make_divisible(32 * alpha, 8)
    x = apply_conv_bn_act(
        inputs, stem, 3, "conv1", data_format, activation="relu6", strides=2, **options
    )
    units = [(t, c, s if i == 0 else 1) for t, c, n, s in _V2_BLOCKS for i in range(n)]
    schedule = atrous_schedule([s for _, _, s in units], output_stride, input_stride=2)
    for index, ((expansion, channels, _), (stride, rate)) in enumerate(zip(units, schedule)):
        x = InvertedResidual(
            make_divisible(int(channels * alpha), 8),
            expansion=expansion,
            strides=stride,
            dilation_rate=rate,
            data_format=data_format,
            name=f"block_{index}",
            **options,
        )(x)
    last = make_divisible(1280 * alpha, 8) if alpha > 1 else 1280
    x = apply_conv_bn_act(x, last, 1, "conv_last", data_format, activation="relu6", **options)
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
