"""Conv -> batch norm -> activation, the unit every kcv block is made of.

The convention of the papers' official code: a convolution followed by batch
normalization has no bias (BN's shift replaces it); without BN it has one.
Padding is "same". :func:`conv_bn_act` makes the unit's layers for a layer
that owns them (built with :func:`build_chain`, called with
:func:`call_chain`); :func:`apply_conv_bn_act` applies it to a functional
model's tensor.
"""

import keras

from kcv.layers.conv import Conv2D
from kcv.layers.layout import channel_axis


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
):
    layers = [
        Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            dilation_rate=dilation_rate,
            groups=groups,
            use_bias=not batch_norm,
            data_format=data_format,
            dtype=dtype,
            name=name,
        )
    ]
    if batch_norm:
        layers.append(
            keras.layers.BatchNormalization(
                axis=channel_axis(data_format), dtype=dtype, name=f"{name}_bn"
            )
        )
    if activation is not None:
        layers.append(keras.layers.Activation(activation, dtype=dtype, name=f"{name}_act"))
    return layers


def conv_bn_act(layer, filters, kernel_size, name, **options):
    """Conv -> [BN] -> [activation] as a list of layers owned by ``layer``.

    Args:
        layer: the owning ``keras.layers.Layer``; the unit takes its
            ``data_format`` and ``dtype_policy``.
        filters, kernel_size: as for ``Conv2D``.
        name: str. Name of the convolution; BN and the activation are
            ``name_bn`` and ``name_act``.
        **options: ``batch_norm`` (bool, default True), ``activation`` (str,
            callable or None; default ``"relu"``), ``strides``,
            ``dilation_rate``, ``groups`` (a grouped convolution, as in
            ResNeXt).

    Returns:
        A list of layers, for :func:`build_chain` and :func:`call_chain`.

    Example:

    >>> import kcv
    >>> owner = kcv.layers.SqueezeExcite()
    >>> [type(x).__name__ for x in conv_bn_act(owner, 8, 3, "conv")]
    ['Conv2D', 'BatchNormalization', 'Activation']
    """
    return _unit(filters, kernel_size, name, layer.data_format, layer.dtype_policy, **options)


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
