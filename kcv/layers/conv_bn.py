"""Conv -> batch norm -> activation, the unit every kcv block is made of.

The convention of the papers' official code: a convolution followed by batch
normalization has no bias (BN's shift replaces it); without BN it has one.
:func:`conv_bn_act` makes the unit's layers for a layer that owns them (built
with :func:`build_chain`, called with :func:`call_chain`);
:func:`apply_conv_bn_act` applies it to a functional model's tensor.

Padding follows one of two conventions (:func:`padding_layers`): ``"same"``,
Keras' (TensorFlow's) rule, which pads a stride-2 layer on an even input by one
pixel at the end only; or ``"symmetric"``, PyTorch's ``padding=(k - 1) // 2 *
dilation`` on both sides, with which torchvision's weights give torchvision's
outputs. They differ only where a layer strides.
"""

import keras

from kcv import _validation
from kcv.layers.conv import Conv2D
from kcv.layers.conv import DepthwiseConv2D
from kcv.layers.layout import channel_axis
from kcv.layers.normalization import BatchNormalization

PADDINGS = ("same", "symmetric")
KERAS_BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default (PyTorch's: 1e-5)


def padding_layers(kernel_size, strides, dilation_rate, padding, name, data_format, dtype=None):
    """The explicit padding a convolution or pooling needs, and the ``padding`` it then takes.

    ``"same"`` is Keras' rule (TensorFlow's): ``total = max((ceil(n / s) - 1)
    · s + (k - 1) · d + 1 - n, 0)`` pixels, the odd one at the end; a 3x3/2
    layer on an even side pads ``(0, 1)``. ``"symmetric"`` is PyTorch's
    ``padding=(k - 1) // 2 · d`` on both sides, ``(1, 1)`` there: the
    windows are centred one pixel earlier, so the same weights give other
    numbers. For stride 1 and odd kernels both rules pad ``(k - 1) / 2 · d``
    on each side, and a 1x1 kernel pads nothing under either: the layer keeps
    ``"same"``. For a stride > 1 and a larger kernel,
    ``"symmetric"`` becomes a ``keras.layers.ZeroPadding2D`` (``name_pad``)
    followed by a ``"valid"`` layer. Output sizes are ``ceil(n / s)`` either
    way for odd kernels. A pooling after zero padding equals PyTorch's
    (which pads max pooling with -inf) only on non-negative inputs, such as
    a ReLU's output.

    Args:
        kernel_size, strides, dilation_rate: int or pair of ints.
        padding: ``"same"`` or ``"symmetric"``.
        name: str. Name of the layer the padding precedes.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        dtype: dtype policy of the padding layer, or None.

    Returns:
        ``(layers, layer_padding)``: a list with the ``ZeroPadding2D`` (or
        empty) and the ``padding`` argument of the layer that follows.

    Example:

    >>> layers, mode = padding_layers(3, 2, 1, "symmetric", "conv1", "channels_last")
    >>> [type(x).__name__ for x in layers], layers[0].padding, mode
    (['ZeroPadding2D'], ((1, 1), (1, 1)), 'valid')
    >>> padding_layers(3, 1, 1, "symmetric", "conv2", "channels_last")
    ([], 'same')
    """
    _validation.one_of("padding", padding, PADDINGS)
    kernel = _validation.int_pair("kernel_size", kernel_size)
    rate = _validation.int_pair("dilation_rate", dilation_rate)
    pad = tuple(((k - 1) // 2 * d,) * 2 for k, d in zip(kernel, rate))
    if (
        padding == "same"
        or max(_validation.int_pair("strides", strides)) == 1
        or not any(map(any, pad))
    ):
        return [], "same"  # the same windows under both rules (a 1x1 pads nothing)
    return [
        keras.layers.ZeroPadding2D(pad, data_format=data_format, dtype=dtype, name=f"{name}_pad")
    ], "valid"


def _unit(
    filters,
    kernel_size,
    name,
    data_format,
    dtype,
    batch_norm=True,
    activation="relu",
    strides=1,
    dilation_rate=1,
    groups=1,
    padding="same",
    bn_epsilon=KERAS_BN_EPSILON,
    depth_multiplier=None,
):
    layers, conv_padding = padding_layers(
        kernel_size, strides, dilation_rate, padding, name, data_format, dtype
    )
    common = dict(
        strides=strides,
        padding=conv_padding,
        dilation_rate=dilation_rate,
        use_bias=not batch_norm,
        data_format=data_format,
        dtype=dtype,
        name=name,
    )
    if depth_multiplier is None:
        layers.append(Conv2D(filters, kernel_size, groups=groups, **common))
    else:
        layers.append(DepthwiseConv2D(kernel_size, depth_multiplier=depth_multiplier, **common))
    if batch_norm:
        layers.append(
            BatchNormalization(
                axis=channel_axis(data_format), epsilon=bn_epsilon, dtype=dtype, name=f"{name}_bn"
            )
        )
    if activation is not None:
        layers.append(keras.layers.Activation(activation, dtype=dtype, name=f"{name}_act"))
    return layers


def conv_bn_act(layer, filters, kernel_size, name, **options):
    """[Padding ->] Conv -> [BN] -> [activation] as a list of layers owned by ``layer``.

    Args:
        layer: the owning ``keras.layers.Layer``; the unit takes its
            ``data_format`` and ``dtype_policy``.
        filters, kernel_size: as for ``Conv2D``.
        name: str. Name of the convolution; BN and the activation are
            ``name_bn`` and ``name_act``.
        **options: ``batch_norm`` (bool, default True), ``activation`` (str,
            callable or None; default ``"relu"``), ``strides``,
            ``dilation_rate``, ``groups`` (a grouped convolution, as in
            ResNeXt), ``padding`` (``"same"``, default, or ``"symmetric"``:
            see :func:`padding_layers`; a strided ``"symmetric"`` unit starts
            with a ``ZeroPadding2D`` named ``name_pad``), ``bn_epsilon`` (the
            BN's epsilon, default Keras' 1e-3; PyTorch's is 1e-5).

    Returns:
        A list of layers, for :func:`build_chain` and :func:`call_chain`.

    Example:

    >>> import kcv
    >>> owner = kcv.layers.SqueezeExcite()
    >>> [type(x).__name__ for x in conv_bn_act(owner, 8, 3, "conv")]
    ['Conv2D', 'BatchNormalization', 'Activation']
    """
    return _unit(filters, kernel_size, name, layer.data_format, layer.dtype_policy, **options)


def depthwise_bn_act(layer, kernel_size, name, depth_multiplier=1, **options):
    """[Padding ->] DepthwiseConv -> [BN] -> [activation], the depthwise twin of :func:`conv_bn_act`.

    The depthwise step of MobileNet's separable convolution, of the inverted
    residual and of ShuffleNet's units: one ``k×k`` filter per input channel
    (``depth_multiplier`` of them), without bias when BN follows.

    Args:
        layer: the owning ``keras.layers.Layer`` (its ``data_format`` and
            ``dtype_policy``).
        kernel_size: int or pair. The depthwise kernel.
        name: str. Name of the depthwise convolution; BN and the activation
            are ``name_bn`` and ``name_act``, a padding layer ``name_pad``.
        depth_multiplier: int. Output channels per input channel.
        **options: as for :func:`conv_bn_act`, except ``groups``.

    Returns:
        A list of layers, for :func:`build_chain` and :func:`call_chain`.

    Example:

    >>> import kcv
    >>> owner = kcv.layers.SqueezeExcite()
    >>> [type(x).__name__ for x in depthwise_bn_act(owner, 3, "depthwise", activation=None)]
    ['DepthwiseConv2D', 'BatchNormalization']
    """
    return _unit(
        None,
        kernel_size,
        name,
        layer.data_format,
        layer.dtype_policy,
        depth_multiplier=depth_multiplier,
        **options,
    )


def apply_conv_bn_act(x, filters, kernel_size, name, data_format, **options):
    """Applies the Conv -> [BN] -> [activation] unit to a functional tensor.

    The layers take the global dtype policy, like any functional layer.

    Args:
        x: symbolic 4D tensor in ``data_format``.
        filters, kernel_size, name: as for :func:`conv_bn_act`.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        options: the keyword options of :func:`conv_bn_act`.

    Returns:
        The output tensor.
    """
    return call_chain(_unit(filters, kernel_size, name, data_format, None, **options), x)


def build_chain(layers, input_shape):
    """Builds ``layers`` in sequence from ``input_shape``; returns the output shape."""
    shape = input_shape
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape


def call_chain(layers, x, training=None):
    """Calls ``layers`` in sequence on ``x``, passing ``training`` to each."""
    for layer in layers:
        x = layer(x, training=training)
    return x
