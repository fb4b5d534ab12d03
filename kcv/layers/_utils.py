"""Argument checks and small helpers shared by the kcv layers.

Every check raises a ``ValueError`` that names the argument, the value received
and what is accepted, so that a learner never meets a backend stack trace for
a wrong argument.
"""

import keras

from kcv.layers.conv import Conv2D


def positive_int(argument, value, minimum=1):
    """Returns ``value`` if it is an int >= ``minimum``, else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{argument}` must be an integer >= {minimum}, received {value!r}.")
    return value


def int_pair(argument, value, minimum=1):
    """Normalises an int or a pair of ints (each >= ``minimum``) to a tuple."""
    pair = (value, value) if isinstance(value, int) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in pair)
    ):
        raise ValueError(
            f"`{argument}` must be an integer >= {minimum} or a pair of them, received {value!r}."
        )
    return tuple(pair)


def one_of(argument, value, accepted):
    """Returns ``value`` if it is in ``accepted``, else raises ValueError."""
    if value not in accepted:
        raise ValueError(
            f"`{argument}` must be one of {', '.join(map(repr, accepted))}, received {value!r}."
        )
    return value


def data_format(value):
    """Resolves ``None`` to Keras' image data format and checks the value."""
    if value is None:
        return keras.config.image_data_format()
    return one_of("data_format", value, ("channels_last", "channels_first"))


def activation(argument, value):
    """Checks that ``value`` names a Keras activation (or is None / callable).

    Returns the value unchanged, so ``get_config`` can store what the user gave.
    """
    if value is None or callable(value):
        return value
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"`{argument}` must name a Keras activation (e.g. 'relu', 'relu6', "
            f"'hard_swish', 'sigmoid'), received {value!r}."
        ) from None
    return value


def image_channels(layer, input_shape, data_format_value):
    """Checks a 4D image input shape and returns its channel count.

    Raises:
        ValueError: when the rank is not 4 or the channel axis is unknown.
    """
    layout = (
        "(batch, height, width, channels)"
        if data_format_value == "channels_last"
        else "(batch, channels, height, width)"
    )
    if len(input_shape) != 4:
        raise ValueError(
            f"{type(layer).__name__} expects a 4D input {layout} "
            f"(data_format={data_format_value!r}), received shape {tuple(input_shape)}."
        )
    channels = input_shape[-1] if data_format_value == "channels_last" else input_shape[1]
    if channels is None:
        raise ValueError(
            f"{type(layer).__name__} needs a known channel dimension in {layout}, "
            f"received shape {tuple(input_shape)}."
        )
    return channels


def channel_axis(data_format_value):
    return -1 if data_format_value == "channels_last" else 1


def spatial_axes(data_format_value):
    """The (height, width) axes of a 4D tensor."""
    return (1, 2) if data_format_value == "channels_last" else (2, 3)


def per_channel(vectors, data_format_value):
    """Reshapes ``(B, C)`` to broadcast over a 4D map: ``(B, 1, 1, C)`` or ``(B, C, 1, 1)``."""
    channels = vectors.shape[-1]
    if data_format_value == "channels_last":
        return keras.ops.reshape(vectors, (-1, 1, 1, channels))
    return keras.ops.reshape(vectors, (-1, channels, 1, 1))


def build_chain(layers, input_shape):
    """Builds ``layers`` in sequence from ``input_shape``; returns the output shape."""
    shape = input_shape
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape


def call_chain(layers, x, training=None):
    for layer in layers:
        x = layer(x, training=training)
    return x


def same_conv_output_shape(input_shape, filters, strides, data_format_value):
    """Output shape of a "same"-padded convolution: spatial sizes ``ceil(n / s)``."""
    spatial = [
        None if n is None else -(-n // s)
        for n, s in zip(
            input_shape[1:3] if data_format_value == "channels_last" else input_shape[2:4],
            strides,
        )
    ]
    if data_format_value == "channels_last":
        return (input_shape[0], *spatial, filters)
    return (input_shape[0], filters, *spatial)


def conv_bn_act(
    layer,
    filters,
    kernel_size,
    name,
    batch_norm=True,
    activation="relu",
    strides=1,
    dilation_rate=1,
):
    """Conv -> [BN] -> [activation] as a list of layers, "same" padding.

    The convention every kcv block follows: a convolution followed by BN has
    no bias; without BN it has one. Sublayers take ``layer``'s data format and
    dtype policy and are named ``name``, ``name_bn``, ``name_act``.

    Args:
        layer: the owning layer (for ``data_format`` and ``dtype_policy``).
        filters, kernel_size, strides, dilation_rate: as for ``Conv2D``.
        name: str. Name of the convolution.
        batch_norm: bool. Add BN after the convolution.
        activation: str, callable or None. Activation after BN; None for none.

    Returns:
        A list of layers, for :func:`build_chain` and :func:`call_chain`.
    """
    layers = [
        Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            dilation_rate=dilation_rate,
            use_bias=not batch_norm,
            data_format=layer.data_format,
            dtype=layer.dtype_policy,
            name=name,
        )
    ]
    if batch_norm:
        layers.append(
            keras.layers.BatchNormalization(
                axis=channel_axis(layer.data_format), dtype=layer.dtype_policy, name=f"{name}_bn"
            )
        )
    if activation is not None:
        layers.append(
            keras.layers.Activation(activation, dtype=layer.dtype_policy, name=f"{name}_act")
        )
    return layers
