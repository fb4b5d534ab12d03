"""VGG-11, 13, 16 and 19 (configurations A, B, D, E), with or without batch normalization.

Simonyan, Zisserman. "Very Deep Convolutional Networks for Large-Scale Image
Recognition". ICLR 2015. https://arxiv.org/abs/1409.1556

Official models: the authors' Caffe prototxts (VGG_ILSVRC_16_layers); layout
and parameter counts as torchvision ``models/vgg.py`` (``vgg11`` ...
``vgg19_bn``), whose BN variants keep the convolution biases before BN.
:func:`vgg_features` is the convolutional part that :func:`kcv.models.FCN`
builds on.
"""

import keras

from kcv import _validation
from kcv.layers import Conv2D
from kcv.layers import MaxPooling2D
from kcv.layers.conv_bn import KERAS_BN_EPSILON
from kcv.layers.layout import channel_axis
from kcv.layers.layout import spatial_axes
from kcv.layers.normalization import BatchNormalization
from kcv.models.common import convention_options
from kcv.models.common import image_input
from kcv.models.common import model_inputs

# Table 1 of the paper (torchvision's cfgs "A", "B", "D", "E"): the 3x3
# convolutions of each of the five blocks; a 2x2/2 max pooling ends every block.
CONFIGS = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


def vgg_features(inputs, depth, batch_norm, data_format, bn_epsilon=KERAS_BN_EPSILON):
    """The five convolutional blocks of VGG; returns the output of every block's pooling.

    Block ``b`` (1 to 5) is its 3x3 convolutions (stride 1, "same", i.e.
    padding 1; each with a bias, then ``[BN ->] ReLU``), named
    ``block{b}_conv{i}`` (``_bn``, ``_act``) as in ``keras.applications``,
    and a 2x2/2 max pooling ``block{b}_pool``. With ``batch_norm`` the
    convolutions keep their bias, as torchvision's ``vgg*_bn`` (``make_layers``):
    ``2 · 4,224`` more parameters than VGG-16 for VGG-16-BN's BN layers.

    Args:
        inputs: symbolic image tensor.
        depth: 11, 13, 16 or 19.
        batch_norm: bool. BN between every convolution and its ReLU.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        bn_epsilon: float. Epsilon of the BN layers (Keras' 1e-3; torchvision's 1e-5).

    Returns:
        A list of the five pooled outputs, at strides 2, 4, 8, 16 and 32
        (``pool3`` and ``pool4`` are FCN's skip features).
    """
    x, pools = inputs, []
    for block, widths in enumerate(CONFIGS[depth], start=1):
        for index, filters in enumerate(widths, start=1):
            name = f"block{block}_conv{index}"
            x = Conv2D(filters, 3, padding="same", data_format=data_format, name=name)(x)
            if batch_norm:
                x = BatchNormalization(
                    axis=channel_axis(data_format), epsilon=bn_epsilon, name=f"{name}_bn"
                )(x)
            x = keras.layers.Activation("relu", name=f"{name}_act")(x)
        x = MaxPooling2D(2, strides=2, data_format=data_format, name=f"block{block}_pool")(x)
        pools.append(x)
    return pools


def fully_connected_top(
    x, size, fc_units, dropout, classes, classifier_activation, data_format, dropout_first, image
):
    """The classifier of AlexNet and VGG: adaptive average pool, flatten, three dense layers.

    ``adaptive average pool to size x size -> flatten -> [dropout] -> dense
    fc_units + ReLU -> [dropout] -> dense fc_units + ReLU -> [dropout] ->
    dense classes``, the dropouts before the two hidden layers
    (``dropout_first``, torchvision's AlexNet) or after them (VGG, the
    original AlexNet). The flatten follows ``data_format``
    (``keras.layers.Flatten``: the same weights in both formats, in
    channels_last order).

    The adaptive pool is torchvision's ``AdaptiveAvgPool2d((size, size))``
    on the sides where it is a plain layer, each side of the map separately:
    a side of ``size`` is kept, a multiple ``m·size`` is averaged in windows
    of ``m`` (``AveragePooling2D``, layer ``avg_pool``), a side of 1 is
    repeated ``size`` times (``UpSampling2D``, layer ``avg_pool_repeat``).
    Other sides are refused, naming ``input_shape``: Keras 3.15's
    ``AdaptiveAveragePooling2D`` returns NaNs on JAX and fails on a 1-pixel
    side under TensorFlow's graph mode, so kcv does not use it.

    Args:
        image: the model's input shape (for the error message).
    """
    sides = [x.shape[axis] for axis in spatial_axes(data_format)]
    if any(side is None or (side != 1 and side % size) for side in sides):
        _validation.fail(
            "input_shape",
            f"a size whose last feature map is 1 or a multiple of {size} pixels on each side "
            f"(the classifier pools it to {size}x{size}); here it is "
            f"{sides[0]}x{sides[1]}",
            image,
        )
    if 1 in sides:
        repeat = tuple(size if side == 1 else 1 for side in sides)
        x = keras.layers.UpSampling2D(repeat, data_format=data_format, name="avg_pool_repeat")(x)
    windows = tuple(1 if side == 1 else side // size for side in sides)
    x = keras.layers.AveragePooling2D(windows, data_format=data_format, name="avg_pool")(x)
    x = keras.layers.Flatten(data_format=data_format, name="flatten")(x)
    for index in (1, 2):
        if dropout and dropout_first:
            x = keras.layers.Dropout(dropout, name=f"dropout{index}")(x)
        x = keras.layers.Dense(fc_units, activation="relu", name=f"fc{index}")(x)
        if dropout and not dropout_first:
            x = keras.layers.Dropout(dropout, name=f"dropout{index}")(x)
    return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def features_top(x, pooling, data_format):
    """What follows the features when ``include_top=False``: None, "avg" or "max" pooling."""
    _validation.one_of("pooling", pooling, (None, "avg", "max"))
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(data_format=data_format, name="max_pool")(x)
    return x


def VGG(
    depth=16,
    batch_norm=False,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    dropout=0.5,
    fc_units=4096,
    name=None,
    convention="keras",
):
    """VGG-11, 13, 16 or 19: stacks of 3x3 convolutions and three dense layers (Table 1).

    ``5 x [n x (conv 3x3 + ReLU) -> max pool 2x2/2] (64, 128, 256, 512, 512
    channels) -> adaptive average pool 7x7 -> flatten -> dense 4096 + ReLU
    -> dropout -> dense 4096 + ReLU -> dropout -> dense classes``
    (:func:`vgg_features`), with ``n`` per block from Table 1: A (11 weight
    layers), B (13), D (16), E (19). ``batch_norm=True`` puts BN between
    every convolution and its ReLU, keeping the convolution's bias (as
    torchvision, where kcv elsewhere drops it: the counts follow torchvision).

    Trainable parameters for 1000 classes equal torchvision's: VGG-11
    132,863,336, VGG-11-BN 132,868,840, VGG-13 133,047,848, VGG-13-BN
    133,053,736, VGG-16 138,357,544, VGG-16-BN 138,365,992, VGG-19
    143,667,240, VGG-19-BN 143,678,248 (``keras.applications.VGG16``: the
    same 138,357,544). ``kcv.analysis.count_macs`` at 224x224 gives VGG-16
    15.47 GMACs, torchvision's 15.47 "GFLOPS" (which are MACs): convolution
    and dense layers only, as both count.

    Input sizes: the features are pooled to 7x7 by an adaptive average pool
    (torchvision's ``AdaptiveAvgPool2d((7, 7))``, the identity at 224x224),
    so inputs of other known sizes give the same dense layers where that pool
    is a plain layer: sides of 32 to 63 pixels (a 1-pixel map, repeated) or
    of 224·m to 224·m + 31 (a 7m-pixel map, averaged in m x m windows);
    other sizes raise a ``ValueError`` (see
    :func:`fully_connected_top`). Differences from
    the paper: the adaptive pool (the paper trains at 224 and evaluates
    densely, converting the dense layers to convolutions, as
    :func:`kcv.models.FCN` does) and BN (added later, torchvision).

    ``convention`` (:func:`kcv.models.common.convention_options`) matters
    for the BN variants only: every VGG convolution is 3x3 with stride 1
    ("same" is torchvision's ``padding=1``) and every pooling 2x2/2 without
    padding, the same windows under both conventions. ``"keras"`` (default)
    gives the BN layers Keras' epsilon 1e-3, ``"torchvision"``
    ``nn.BatchNorm2d``'s 1e-5, with which
    :func:`kcv.weights.load_torchvision` gives torchvision's logits.

    Args:
        depth: int. 11, 13, 16 or 19.
        batch_norm: bool. BN after every convolution (biases kept).
        include_top: bool. Whether to end with the dense classifier.
        weights: None. kcv builds models untrained.
        input_tensor: symbolic tensor or None. Image tensor to build on.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 32, known when ``include_top``;
            None means 224x224 RGB.
        pooling: None, "avg" or "max". Pooling of the features when
            ``include_top=False``.
        classes: int. Number of classes.
        classifier_activation: str, callable or None. None returns logits.
        dropout: float in [0, 1). Dropout after the two hidden dense layers.
        fc_units: int. Width of the two hidden dense layers (paper: 4096;
            smaller for a quick experiment, not from the paper).
        name: str or None. Model name; None gives ``"vgg{depth}"`` (``_bn``).
        convention: str. ``"keras"`` (default) or ``"torchvision"``: the BN
            epsilon, as above.

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the 512-channel
        features of the last pooling (stride 32) with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.VGG(11, include_top=False, input_shape=(64, 64, 3))
    >>> model.output_shape
    (None, 2, 2, 512)

    Reference:
        Simonyan and Zisserman, Very Deep Convolutional Networks for
        Large-Scale Image Recognition, ICLR 2015, Sec. 2, Table 1;
        torchvision ``models/vgg.py``.
    """
    _validation.no_weights(weights)
    depth = _validation.one_of("depth", depth, tuple(CONFIGS))
    batch_norm = _validation.boolean("batch_norm", batch_norm)
    _validation.boolean("include_top", include_top)
    _validation.positive_int("classes", classes)
    _validation.activation("classifier_activation", classifier_activation)
    _validation.number("dropout", dropout, 0, 1, high_open=True)
    _validation.positive_int("fc_units", fc_units)
    epsilon = convention_options(convention)["bn_epsilon"]
    inputs, data_format = image_input(
        input_shape,
        224,
        min_size=32,
        channels=None,
        require_size=include_top,
        input_tensor=input_tensor,
    )
    x = vgg_features(inputs, depth, batch_norm, data_format, bn_epsilon=epsilon)[-1]
    if include_top:
        outputs = fully_connected_top(
            x,
            7,
            fc_units,
            dropout,
            classes,
            classifier_activation,
            data_format,
            False,
            tuple(inputs.shape[1:]),
        )
    else:
        outputs = features_top(x, pooling, data_format)
    if name is None:
        name = f"vgg{depth}_bn" if batch_norm else f"vgg{depth}"
    return keras.Model(model_inputs(inputs), outputs, name=name)
