"""SqueezeNet 1.0 and 1.1.

Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer. "SqueezeNet: AlexNet-level
accuracy with 50x fewer parameters and <0.5MB model size". 2016.
https://arxiv.org/abs/1602.07360

Official code: forresti/SqueezeNet (Caffe; ``SqueezeNet_v1.0`` and
``SqueezeNet_v1.1``, the latter with 2.4x less computation); layout and
parameter counts as torchvision ``models/squeezenet.py`` (``squeezenet1_0``,
``squeezenet1_1``).
"""

import keras

from kcv import _validation
from kcv.layers import Conv2D
from kcv.layers import FireModule
from kcv.layers import MaxPooling2D
from kcv.models.common import CONVENTIONS
from kcv.models.common import image_input
from kcv.models.common import model_inputs
from kcv.models.vgg import features_top

VERSIONS = ("1.0", "1.1")
# (stem filters, stem kernel), then the sequence of Fire modules (squeeze, expand 1x1,
# expand 3x3) and "M" (max pool 3x3/2, ceil mode): paper Table 1 (1.0), the official
# SqueezeNet_v1.1 prototxt (1.1: 3x3 stem, pools moved earlier).
_STEM = {"1.0": (96, 7), "1.1": (64, 3)}
_FIRES = {
    "1.0": (
        "M",
        (16, 64, 64),
        (16, 64, 64),
        (32, 128, 128),
        "M",
        (32, 128, 128),
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        "M",
        (64, 256, 256),
    ),
    "1.1": (
        "M",
        (16, 64, 64),
        (16, 64, 64),
        "M",
        (32, 128, 128),
        (32, 128, 128),
        "M",
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        (64, 256, 256),
    ),
}
# torchvision's min_size: the smallest side that leaves a 1x1 map after the third pool.
MIN_SIZE = {"1.0": 21, "1.1": 17}


def _ceil_max_pool(x, data_format, name):
    """Caffe's and torchvision's ``MaxPool2d(3, 2, ceil_mode=True)`` on non-negative inputs.

    Ceil mode gives ``ceil((n - 3) / 2) + 1`` outputs, the last window
    hanging over the end. One zero row and column at the end, then a
    "valid" 3x3/2 pooling, gives the same windows for every ``n`` (odd ``n``:
    the zero is never read; even ``n``: it completes the last window), and
    the same maxima because the pooled maps follow a ReLU (>= 0).
    """
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), data_format=data_format, name=f"{name}_pad")(x)
    return MaxPooling2D(3, strides=2, data_format=data_format, name=name)(x)


def SqueezeNet(
    version="1.0",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    dropout=0.5,
    name=None,
    convention="keras",
):
    """SqueezeNet: a stem convolution, eight Fire modules and a convolutional classifier.

    1.0 (paper, Table 1 and Fig. 2 left): ``conv 7x7/2 (96) + ReLU -> max
    pool -> fire2-4 -> max pool -> fire5-8 -> max pool -> fire9``; 1.1 (the
    official ``SqueezeNet_v1.1``): ``conv 3x3/2 (64) + ReLU -> max pool ->
    fire2-3 -> max pool -> fire4-5 -> max pool -> fire6-9``; the Fire
    modules (:class:`kcv.layers.FireModule`) grow from 128 to 512 output
    channels in both. The classifier is convolutional, without dense layers
    (Sec. 3.3): ``dropout 0.5 -> conv 1x1 (classes) + ReLU -> global
    average pool`` (conv10, as torchvision), then ``classifier_activation``.
    Max pools are 3x3/2 in Caffe's ceil mode (torchvision's
    ``ceil_mode=True``); the stem has no padding.

    Trainable parameters for 1000 classes equal torchvision's: 1.0
    1,248,424; 1.1 1,235,496. ``kcv.analysis.count_macs`` at 224x224 gives
    0.82 and 0.35 GMACs, torchvision's 0.819 and 0.349 "GFLOPS" (MACs of
    the convolutions; pooling not counted).

    Differences from the paper: no bypass connections (the paper's Fig. 2
    middle and right are variants; the released models have none).

    ``convention`` (``"keras"`` or ``"torchvision"``, the argument every
    model with torchvision weights takes, see
    :func:`kcv.models.common.convention_options`) changes nothing here:
    SqueezeNet has no BN, its stem does not pad, its 3x3 convolutions have
    stride 1 ("same" is PyTorch's ``padding=1``), and the ceil-mode pools
    are built the same way under both; the model gives torchvision's logits
    with :func:`kcv.weights.load_torchvision` under either.

    Args:
        version: str. ``"1.0"`` or ``"1.1"``.
        include_top: bool. Whether to end with the convolutional classifier.
        weights: None. kcv builds models untrained.
        input_tensor: symbolic tensor or None. Image tensor to build on.
        input_shape: tuple or None. ``(H, W, C)`` (or ``(C, H, W)`` in
            ``channels_first``), sides >= 21 (1.0) or 17 (1.1),
            torchvision's ``min_size``; None means 224x224 RGB.
        pooling: None, "avg" or "max". Pooling of the fire9 features when
            ``include_top=False``.
        classes: int. Number of classes (filters of conv10).
        classifier_activation: str, callable or None. Applied after the
            global average pool; None returns torchvision's outputs (the
            pooled ReLU of conv10).
        dropout: float in [0, 1). Dropout before conv10.
        name: str or None. Model name; None gives ``"squeezenet1_0"`` or
            ``"squeezenet1_1"``.
        convention: str. ``"keras"`` (default) or ``"torchvision"``; the
            same network either way (above).

    Returns:
        A ``keras.Model`` giving ``(B, classes)`` scores, or the
        512-channel fire9 features with ``include_top=False``.

    Example:

    >>> import kcv
    >>> model = kcv.models.SqueezeNet("1.1", include_top=False)
    >>> model.output_shape
    (None, 13, 13, 512)

    Reference:
        Iandola et al., SqueezeNet, 2016, Sec. 3, Table 1, Fig. 2;
        torchvision ``models/squeezenet.py``.
    """
    _validation.no_weights(weights)
    version = _validation.one_of("version", version, VERSIONS)
    _validation.boolean("include_top", include_top)
    _validation.positive_int("classes", classes)
    _validation.activation("classifier_activation", classifier_activation)
    _validation.number("dropout", dropout, 0, 1, high_open=True)
    _validation.one_of("convention", convention, CONVENTIONS)
    inputs, data_format = image_input(
        input_shape, 224, min_size=MIN_SIZE[version], channels=None, input_tensor=input_tensor
    )
    filters, kernel = _STEM[version]
    x = Conv2D(
        filters, kernel, strides=2, activation="relu", data_format=data_format, name="conv1"
    )(inputs)
    pools, fires = 0, 1
    for entry in _FIRES[version]:
        if entry == "M":
            pools += 1
            x = _ceil_max_pool(x, data_format, f"pool{pools}")
        else:
            fires += 1
            x = FireModule(*entry, data_format=data_format, name=f"fire{fires}")(x)
    if include_top:
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, 1, activation="relu", data_format=data_format, name="conv10")(x)
        x = keras.layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool")(x)
        outputs = keras.layers.Activation(classifier_activation, name="predictions")(x)
    else:
        outputs = features_top(x, pooling, data_format)
    if name is None:
        name = "squeezenet" + version.replace(".", "_")
    return keras.Model(model_inputs(inputs), outputs, name=name)
