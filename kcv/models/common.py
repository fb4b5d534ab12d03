"""What the model builders share: the input, the classifier top, width rounding, output stride,
and the numerical convention (Keras' or torchvision's padding and BN epsilon).

``keras.applications`` conventions (``input_shape``, ``input_tensor``,
``include_top``, ``pooling``); argument checks live in :mod:`kcv._validation`.
"""

import keras

from kcv._validation import fail
from kcv._validation import one_of
from kcv.layers.conv_bn import KERAS_BN_EPSILON
from kcv.layers.conv_bn import padding_layers
from kcv.layers.pooling import MaxPooling2D

CONVENTIONS = ("keras", "torchvision")
TORCH_BN_EPSILON = 1e-5  # torch.nn.BatchNorm2d's default


def convention_options(convention, torchvision_bn_epsilon=TORCH_BN_EPSILON):
    """The layer options of a model's numerical ``convention``: ``padding`` and ``bn_epsilon``.

    The same weights give the same outputs only under the same arithmetic
    conventions. ``"keras"`` is what Keras layers do by default: ``"same"``
    padding (TensorFlow's rule: a strided layer on an even size pads the odd
    pixel at the end) and ``BatchNormalization(epsilon=1e-3)``.
    ``"torchvision"`` is PyTorch's: ``padding=(k - 1) // 2`` on both sides
    (explicit ``ZeroPadding2D`` before each strided layer, see
    :func:`kcv.layers.conv_bn.padding_layers`) and the BN epsilon of the
    torchvision model (``nn.BatchNorm2d``'s 1e-5; MobileNetV3 sets 1e-3).
    Parameter counts are the same under both.

    Args:
        convention: str. ``"keras"`` or ``"torchvision"``.
        torchvision_bn_epsilon: float. The torchvision model's BN epsilon.

    Returns:
        A dict with ``padding`` (``"same"`` or ``"symmetric"``) and
        ``bn_epsilon``, the keyword arguments kcv's blocks take.

    Example:

    >>> convention_options("torchvision")
    {'padding': 'symmetric', 'bn_epsilon': 1e-05}
    """
    one_of("convention", convention, CONVENTIONS)
    if convention == "keras":
        return {"padding": "same", "bn_epsilon": KERAS_BN_EPSILON}
    return {"padding": "symmetric", "bn_epsilon": torchvision_bn_epsilon}


def max_pool(x, pool_size, strides, padding, data_format, name):
    """A max pooling padded by ``padding`` (``"same"`` or ``"symmetric"``).

    ``"symmetric"`` is PyTorch's ``MaxPool2d(k, s, padding=(k - 1) // 2)``:
    a ``ZeroPadding2D`` (``name_pad``) and a ``"valid"`` pooling. PyTorch
    pads a max pooling with -inf; zeros give the same maxima because every
    kcv pooling that uses this follows a ReLU (non-negative inputs).
    """
    pads, mode = padding_layers(pool_size, strides, 1, padding, name, data_format)
    for layer in pads:
        x = layer(x)
    return MaxPooling2D(
        pool_size, strides=strides, padding=mode, data_format=data_format, name=name
    )(x)


def image_input(
    input_shape, default_size, min_size=1, channels=3, require_size=False, input_tensor=None
):
    """Checks ``input_shape`` (or ``input_tensor``) and returns ``(inputs, data_format)``.

    Args:
        input_shape: tuple or None. ``(H, W, C)`` in ``channels_last`` or
            ``(C, H, W)`` in ``channels_first`` (Keras' image data format);
            ``H``/``W`` may be None. None gives ``default_size`` RGB images
            (or the shape of ``input_tensor``).
        default_size: int. Side used when ``input_shape`` is None.
        min_size: int. Smallest side the network's strides accept.
        channels: int or None. Required channel count (None: any).
        require_size: bool. Whether ``H`` and ``W`` must be known.
        input_tensor: symbolic tensor or None. The image tensor to build on
            (``keras.Input``, or a layer's output), as in ``keras.applications``.

    Returns:
        ``(inputs, data_format)``: ``input_tensor`` or a new ``keras.Input``,
        and ``keras.config.image_data_format()``. Give the model
        :func:`model_inputs` of ``inputs``.
    """
    fmt = keras.config.image_data_format()
    if input_tensor is not None:
        if not isinstance(input_tensor, keras.KerasTensor) or len(input_tensor.shape) != 4:
            fail(
                "input_tensor",
                "None or a symbolic 4D image tensor (keras.Input or a layer output)",
                input_tensor,
                received=type(input_tensor).__name__,
            )
        shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != shape:
            fail("input_shape", f"None or the shape of `input_tensor`, {shape}", input_shape)
        input_shape = shape
    if input_shape is None:
        side = default_size
        input_shape = (side, side, 3) if fmt == "channels_last" else (3, side, side)
    layout = "(height, width, channels)" if fmt == "channels_last" else "(channels, height, width)"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        fail("input_shape", layout, input_shape)
    input_shape = tuple(input_shape)
    spatial = input_shape[:2] if fmt == "channels_last" else input_shape[1:]
    depth = input_shape[2] if fmt == "channels_last" else input_shape[0]
    if channels is not None and depth != channels:
        fail("input_shape", f"{layout} with {channels} channels", input_shape)
    for side in spatial:
        if side is None and require_size:
            fail("input_shape", f"{layout} with known height and width", input_shape)
        if side is not None and side < min_size:
            fail("input_shape", f"{layout} with height and width >= {min_size}", input_shape)
    inputs = keras.Input(input_shape) if input_tensor is None else input_tensor
    return inputs, fmt


def model_inputs(inputs):
    """The inputs of a model built on ``inputs``: the tensor itself, or the
    ``keras.Input`` it comes from when it is a layer's output (``input_tensor``)."""
    sources = keras.utils.get_source_inputs(inputs)
    return sources[0] if len(sources) == 1 else sources


def classifier(
    x, include_top, classes, pooling, classifier_activation, dropout=0.0, name="predictions"
):
    """Global pooling and the optional top of a classification network.

    ``include_top=True`` gives GAP -> [dropout] -> dense(``classes``) with
    ``classifier_activation``; otherwise ``pooling`` (None, "avg", "max")
    decides what follows the last feature map.
    """
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        return keras.layers.Dense(classes, activation=classifier_activation, name=name)(x)
    one_of("pooling", pooling, (None, "avg", "max"))
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def make_divisible(value, divisor=8, min_value=None):
    """Rounds a layer width to a multiple of ``divisor``, losing at most 10%.

    The rounding of the official MobileNet code (``_make_divisible`` in
    tensorflow/models ``research/slim/nets/mobilenet/mobilenet.py``, also in
    ``keras.applications`` and timm): round to the nearest multiple (halves
    up), never below ``min_value`` (default ``divisor``), and add one more
    ``divisor`` when rounding down would lose more than 10% of ``value``.

    Args:
        value: int or float. The width before rounding, e.g. ``32 * alpha``.
        divisor: int. Widths become multiples of it (8 in MobileNet v2/v3).
        min_value: int or None. Smallest width returned; None means ``divisor``.

    Returns:
        An int, a multiple of ``divisor`` unless ``min_value`` is not one.

    Example:

    >>> make_divisible(32 * 0.35), make_divisible(1280 * 1.4), make_divisible(10)
    (16, 1792, 16)
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def atrous_schedule(strides, output_stride, input_stride):
    """``(stride, dilation_rate)`` per unit of a feature extractor at ``output_stride``.

    DeepLab's rule (``stack_blocks_dense`` in tensorflow/models
    ``research/slim/nets/resnet_utils.py``; ``mobilenet.py`` does the same):
    the units are visited in order, accumulating their strides from
    ``input_stride``; a stride that would take the total past
    ``output_stride`` is replaced by 1 and multiplies the dilation rate of the
    units after it. The unit that drops its stride keeps the rate in force
    before it, as torchvision's ``replace_stride_with_dilation`` and
    PyTorch-Encoding's dilated ResNet do.

    Args:
        strides: sequence of ints. Stride of each unit, in order.
        output_stride: int or None. Largest total stride kept; None keeps all.
        input_stride: int. Total stride of the units' input (the stem's).

    Returns:
        A list of ``(stride, dilation_rate)`` pairs, one per unit.

    Example:

    >>> atrous_schedule([2, 1, 2, 1], output_stride=8, input_stride=4)
    [(2, 1), (1, 1), (1, 1), (1, 2)]
    """
    schedule, total, rate = [], input_stride, 1
    for stride in strides:
        if output_stride is not None and total * stride > output_stride:
            schedule.append((1, rate))
            rate *= stride
        else:
            schedule.append((stride, rate))
            total *= stride
    return schedule
