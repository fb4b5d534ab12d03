"""MobileNetV3 (Large and Small).

Howard, Sandler, Chu, Chen, Chen, Tan, Wang, Zhu, Pang, Vasudevan, Le, Adam.
"Searching for MobileNetV3". ICCV 2019. https://arxiv.org/abs/1905.02244

Official code for the details: torchvision ``models/mobilenetv3.py``
(``mobilenet_v3_large``, ``mobilenet_v3_small``), whose trainable parameter
counts we match: 5,483,032 and 2,542,856 (1000 classes).
"""

import keras

from kcv import _validation
from kcv.layers import InvertedResidual
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.models.common import classifier
from kcv.models.common import convention_options
from kcv.models.common import image_input
from kcv.models.common import make_divisible
from kcv.models.common import model_inputs

# Paper, Tables 1 and 2 (torchvision's InvertedResidualConfig): per block
# (kernel, expanded width "exp size", output channels "#out", SE, activation
# "NL" (RE: ReLU, HS: hard-swish), stride). Each table starts from a 16-channel
# stem and ends with a 1x1 convolution to 6 x the last width (960 / 576) and a
# dense layer of 1280 / 1024 units before the classifier.
BLOCKS = {
    "large": (
        (3, 16, 16, False, "RE", 1),
        (3, 64, 24, False, "RE", 2),
        (3, 72, 24, False, "RE", 1),
        (5, 72, 40, True, "RE", 2),
        (5, 120, 40, True, "RE", 1),
        (5, 120, 40, True, "RE", 1),
        (3, 240, 80, False, "HS", 2),
        (3, 200, 80, False, "HS", 1),
        (3, 184, 80, False, "HS", 1),
        (3, 184, 80, False, "HS", 1),
        (3, 480, 112, True, "HS", 1),
        (3, 672, 112, True, "HS", 1),
        (5, 672, 160, True, "HS", 2),
        (5, 960, 160, True, "HS", 1),
        (5, 960, 160, True, "HS", 1),
    ),
    "small": (
        (3, 16, 16, True, "RE", 2),
        (3, 72, 24, False, "RE", 2),
        (3, 88, 24, False, "RE", 1),
        (5, 96, 40, True, "HS", 2),
        (5, 240, 40, True, "HS", 1),
        (5, 240, 40, True, "HS", 1),
        (5, 120, 48, True, "HS", 1),
        (5, 144, 48, True, "HS", 1),
        (5, 288, 96, True, "HS", 2),
        (5, 576, 96, True, "HS", 1),
        (5, 576, 96, True, "HS", 1),
    ),
}
LAST_CHANNELS = {"large": 1280, "small": 1024}
_ACTIVATIONS = {"RE": "relu", "HS": "hard_swish"}


def MobileNetV3(
    variant="large",
    alpha=1.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    dropout=0.2,
    name=None,
    convention="keras",
):
    """MobileNetV3-Large or -Small: inverted residuals with SE and hard-swish.

    ``conv 3x3/2 (16) + BN + hard-swish -> 15 (Large) or 11 (Small) inverted
    residual blocks (paper, Tables 1-2) -> conv 1x1 (960 / 576) + BN +
    hard-swish -> global average pool -> dense (1280 / 1024) + hard-swish ->
    dropout -> dense``. Every block is a :class:`kcv.layers.InvertedResidual`
    with the table's kernel (3 or 5), expanded width (``expanded_channels``;
    the expansion is skipped when it equals the input width), activation
    (ReLU or hard-swish ``x · relu6(x + 3) / 6``) and stride; where the table
    marks SE, a squeeze-and-excite block of width
    ``make_divisible(expanded // 4, 8)`` with ReLU inside and a hard-sigmoid
    gate ``relu6(x + 3) / 6`` (``se_channels``; torchvision's
    ``SqueezeExcitation``, whose 1x1 convolutions on the pooled vector are
    our dense layers with bias). ``alpha`` scales every block width, the stem
    and the last dense layer to ``make_divisible(alpha · c, 8)``
    (torchvision's ``width_mult``).

    Trainable parameters for 1000 classes equal torchvision's
    ``mobilenet_v3_large`` (5,483,032) and ``mobilenet_v3_small``
    (2,542,856). Multiply-accumulates at 224x224
    (:func:`kcv.analysis.count_macs`: convolutions and dense layers, the SE
    blocks' included; not BN, activations, pooling or the SE scaling) are
    216.6M (Large) and 56.5M (Small). torchvision lists 0.217 and 0.057
    "GFLOPS" (multiply-adds), within 0.9%; the paper's Table 3 lists 219M and
    56M MAdds (1.1% more, 0.9% less; it does not break its count down).
    torchvision's BN (``eps=0.001, momentum=0.01``) equals Keras' default
    (``epsilon=1e-3, momentum=0.99``), and its ``nn.Hardswish``,
    ``nn.Hardsigmoid`` and ``SqueezeExcitation`` (average pool, 1x1
    convolution with bias, ReLU, 1x1 convolution with bias, hard-sigmoid,
    product) compute the functions above.

    ``convention`` (:func:`kcv.models.common.convention_options`):
    ``"keras"`` (default) pads "same" (TensorFlow's rule: a stride-2 3x3 on
    an even size pads ``(0, 1)``, a 5x5 ``(1, 2)``); ``"torchvision"`` pads
    ``(k - 1) // 2`` on both sides, torchvision's ``Conv2dNormActivation``
    (``conv1_pad``, the blocks' ``depthwise_pad``), so that
    :func:`kcv.weights.load_torchvision` gives torchvision's logits. The BN
    epsilon is 1e-3 under both.

    Args:
        variant: str. ``"large"`` or ``"small"``.
        alpha: float > 0. Width multiplier.
        include_top: bool. Whether to end with pooling, the two dense layers
            and dropout.
        weights: None. kcv builds models untrained.
        input_tensor: symbolic tensor or None. Image tensor to build on.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 32 (the total stride); None means
            224x224 RGB.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classes: int. Number of classes.
        classifier_activation: str, callable or None. None returns logits.
        dropout: float in [0, 1). Dropout before the classifier (0.2, as
            torchvision).
        name: str or None. Model name; None gives ``"mobilenetv3_large"`` or
            ``"mobilenetv3_small"``.
        convention: str. ``"keras"`` (default) or ``"torchvision"``: the
            padding, as above.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the features of
        the last 1x1 convolution (960 or 576 channels at ``alpha=1``, 1/32
        of the input) with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.MobileNetV3("small", input_shape=(64, 64, 3), classes=10)
    >>> model.output_shape
    (None, 10)

    Reference:
        Howard et al., Searching for MobileNetV3, ICCV 2019, Sec. 5-6,
        Tables 1-2, Fig. 4-5; torchvision ``models/mobilenetv3.py``.
    """
    _validation.no_weights(weights)
    blocks = BLOCKS[_validation.one_of("variant", variant, tuple(BLOCKS))]
    _validation.number("alpha", alpha, 0, low_open=True)
    _validation.boolean("include_top", include_top)
    _validation.positive_int("classes", classes)
    _validation.activation("classifier_activation", classifier_activation)
    _validation.number("dropout", dropout, 0, 1, high_open=True)
    # torchvision's MobileNetV3 sets BatchNorm2d(eps=0.001), Keras' default.
    options = convention_options(convention, torchvision_bn_epsilon=1e-3)
    inputs, data_format = image_input(
        input_shape, 224, min_size=32, channels=None, input_tensor=input_tensor
    )

    def width(channels):
        return make_divisible(channels * alpha, 8)

    x = apply_conv_bn_act(
        inputs, width(16), 3, "conv1", data_format, activation="hard_swish", strides=2, **options
    )
    for index, (kernel, expanded, filters, se, nl, stride) in enumerate(blocks):
        expanded = width(expanded)
        x = InvertedResidual(
            width(filters),
            kernel_size=kernel,
            strides=stride,
            activation=_ACTIVATIONS[nl],
            data_format=data_format,
            expanded_channels=expanded,
            se_channels=make_divisible(expanded // 4, 8) if se else None,
            name=f"block_{index}",
            **options,
        )(x)
    x = apply_conv_bn_act(
        x,
        6 * width(blocks[-1][2]),
        1,
        "conv_last",
        data_format,
        activation="hard_swish",
        **options,
    )
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(
            width(LAST_CHANNELS[variant]), activation="hard_swish", name="pre_logits"
        )(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        outputs = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(
            x
        )
    else:
        outputs = classifier(x, False, classes, pooling, classifier_activation)
    name = f"mobilenetv3_{variant}" if name is None else name
    return keras.Model(model_inputs(inputs), outputs, name=name)
