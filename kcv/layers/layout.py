"""Where the channel and spatial axes of an image tensor are, per data format.

``channels_last`` tensors are ``(batch, height, width, channels)``,
``channels_first`` ones ``(batch, channels, height, width)``. The layers and
models ask these helpers instead of branching on the format themselves.
"""

import keras


def channel_axis(data_format):
    """The channel axis of a 4D tensor: -1 (channels_last) or 1 (channels_first)."""
    return -1 if data_format == "channels_last" else 1


def spatial_axes(data_format):
    """The ``(height, width)`` axes of a 4D tensor."""
    return (1, 2) if data_format == "channels_last" else (2, 3)


def per_channel(vectors, data_format):
    """Reshapes ``(B, C)`` to broadcast over a 4D map: ``(B, 1, 1, C)`` or ``(B, C, 1, 1)``."""
    channels = vectors.shape[-1]
    if data_format == "channels_last":
        return keras.ops.reshape(vectors, (-1, 1, 1, channels))
    return keras.ops.reshape(vectors, (-1, channels, 1, 1))


def same_conv_output_shape(input_shape, filters, strides, data_format):
    """Output shape of a "same"-padded convolution: spatial sizes ``ceil(n / s)``.

    Example:

    >>> same_conv_output_shape((None, 7, 8, 3), 16, (2, 2), "channels_last")
    (None, 4, 4, 16)
    """
    sizes = input_shape[1:3] if data_format == "channels_last" else input_shape[2:4]
    spatial = [None if n is None else -(-n // s) for n, s in zip(sizes, strides)]
    if data_format == "channels_last":
        return (input_shape[0], *spatial, filters)
    return (input_shape[0], filters, *spatial)
