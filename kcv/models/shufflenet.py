"""ShuffleNet V2.

Ma, Zhang, Zheng, Sun. "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design". ECCV 2018. https://arxiv.org/abs/1807.11164

Official code for the details: torchvision ``models/shufflenetv2.py``
(``shufflenet_v2_x0_5`` ... ``shufflenet_v2_x2_0``), whose trainable parameter
counts we match: 1,366,792 / 2,278,604 / 3,503,624 / 7,393,996 (1000 classes).
"""

import keras

from kcv import _validation
from kcv.layers import ShuffleNetV2Unit
from kcv.layers.conv_bn import apply_conv_bn_act
from kcv.models.common import classifier
from kcv.models.common import convention_options
from kcv.models.common import image_input
from kcv.models.common import max_pool
from kcv.models.common import model_inputs

# Paper, Table 5 (torchvision's stages_out_channels): the output channels of
# conv1, stage2, stage3, stage4 and conv5 for each width scale.
WIDTHS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
# Units per stage (the first strides 2): Table 5, "Repeat" 1 + 3, 1 + 7, 1 + 3.
REPEATS = (4, 8, 4)


def ShuffleNetV2(
    scale=1.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    convention="keras",
):
    """ShuffleNet V2 at width ``scale`` 0.5, 1.0, 1.5 or 2.0 (paper, Table 5).

    ``conv 3x3/2 (24) + BN + ReLU -> max pool 3x3/2 -> stage2, stage3,
    stage4 (4, 8 and 4 units; the first of each strides 2) -> conv 1x1
    (1024, or 2048 at 2.0) + BN + ReLU -> global average pool -> dense``,
    every unit a :class:`kcv.layers.ShuffleNetV2Unit` (channel split, one
    branch, concat, channel shuffle). Stage widths, e.g. 116, 232, 464 at
    1.0, come from the paper's Table 5 and torchvision.

    Trainable parameters for 1000 classes equal torchvision's
    ``shufflenet_v2_x0_5`` ... ``x2_0``: 1,366,792; 2,278,604; 3,503,624;
    7,393,996. Multiply-accumulates at 224x224
    (:func:`kcv.analysis.count_macs`: convolutions and the dense layer; not
    BN, pooling, the split or the shuffle) are 40.5M, 144.9M, 295.8M and
    583.3M. torchvision lists 0.04, 0.145, 0.296 and 0.583 "GFLOPS"
    (multiply-adds), within 0.2%; the paper (Table 5, "FLOPs", also
    multiply-adds) 41M, 146M, 299M and 591M, 0.8-1.4% higher: it does not
    say what else it counts.

    ``convention`` (:func:`kcv.models.common.convention_options`):
    ``"keras"`` (default) pads "same" (TensorFlow's rule: the stride-2 stem,
    max pool and depthwise convolutions pad an even size by ``(0, 1)``) and
    uses Keras' BN epsilon 1e-3; ``"torchvision"`` pads as torchvision
    (``padding=1`` on both sides: ``conv1_pad``, ``maxpool_pad`` and the
    units' ``*_depthwise_pad``; zeros before the max pool equal PyTorch's
    -inf padding after the ReLU) with ``nn.BatchNorm2d``'s epsilon 1e-5, so
    that :func:`kcv.weights.load_torchvision` gives torchvision's logits.

    Args:
        scale: float. Width multiplier: 0.5, 1.0, 1.5 or 2.0.
        include_top: bool. Whether to end with global average pooling and a
            dense ``classes`` layer.
        weights: None. kcv builds models untrained.
        input_tensor: symbolic tensor or None. Image tensor to build on.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 32 (the total stride); None means
            224x224 RGB.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classes: int. Number of classes.
        classifier_activation: str, callable or None. None returns logits.
        name: str or None. Model name; None gives ``"shufflenet_v2_x1_0"``
            (torchvision's name) for ``scale=1.0``, and so on.
        convention: str. ``"keras"`` (default) or ``"torchvision"``: padding
            and BN epsilon, as above.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the ``conv5``
        features (1024 or 2048 channels, 1/32 of the input) with
        ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.ShuffleNetV2(0.5, input_shape=(64, 64, 3), classes=10)
    >>> model.output_shape
    (None, 10)

    Reference:
        Ma et al., ShuffleNet V2, ECCV 2018, Sec. 4, Fig. 3, Table 5;
        torchvision ``models/shufflenetv2.py``.
    """
    _validation.no_weights(weights)
    _validation.number("scale", scale, 0, low_open=True)
    widths = WIDTHS[_validation.one_of("scale", scale, tuple(WIDTHS))]
    _validation.boolean("include_top", include_top)
    _validation.positive_int("classes", classes)
    _validation.activation("classifier_activation", classifier_activation)
    options = convention_options(convention)
    inputs, data_format = image_input(
        input_shape, 224, min_size=32, channels=None, input_tensor=input_tensor
    )
    x = apply_conv_bn_act(inputs, widths[0], 3, "conv1", data_format, strides=2, **options)
    x = max_pool(x, 3, 2, options["padding"], data_format, "maxpool")
    for stage, (repeats, filters) in enumerate(zip(REPEATS, widths[1:4]), start=2):
        for unit in range(repeats):
            x = ShuffleNetV2Unit(
                filters,
                strides=2 if unit == 0 else 1,
                data_format=data_format,
                name=f"stage{stage}_unit{unit + 1}",
                **options,
            )(x)
    x = apply_conv_bn_act(x, widths[4], 1, "conv5", data_format, **options)
    outputs = classifier(x, include_top, classes, pooling, classifier_activation)
    if name is None:
        name = "shufflenet_v2_x" + f"{float(scale):.1f}".replace(".", "_")
    return keras.Model(model_inputs(inputs), outputs, name=name)
