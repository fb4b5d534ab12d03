"""Argument handling shared by the model builders (``keras.applications`` style)."""

import keras

from kcv.layers._utils import one_of


def check_weights(weights):
    """kcv ships no pretrained weights: only ``weights=None`` is accepted."""
    if weights is not None:
        raise ValueError(
            "`weights` must be None: kcv ships no pretrained weights (the course "
            f"trains its models from scratch), received {weights!r}."
        )


def image_input(input_shape, default_size, min_size=1, channels=3, require_size=False):
    """Checks ``input_shape`` and returns ``(keras.Input, data_format)``.

    Args:
        input_shape: tuple or None. ``(H, W, C)`` in ``channels_last`` or
            ``(C, H, W)`` in ``channels_first`` (Keras' image data format);
            ``H``/``W`` may be None. None gives ``default_size`` RGB images.
        default_size: int. Side used when ``input_shape`` is None.
        min_size: int. Smallest side the network's strides accept.
        channels: int or None. Required channel count (None: any).
        require_size: bool. Whether ``H`` and ``W`` must be known.
    """
    fmt = keras.config.image_data_format()
    if input_shape is None:
        side = default_size
        input_shape = (side, side, 3) if fmt == "channels_last" else (3, side, side)
    input_shape = tuple(input_shape)
    layout = "(height, width, channels)" if fmt == "channels_last" else "(channels, height, width)"
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be {layout}, received {input_shape!r}.")
    spatial = input_shape[:2] if fmt == "channels_last" else input_shape[1:]
    depth = input_shape[2] if fmt == "channels_last" else input_shape[0]
    if channels is not None and depth != channels:
        raise ValueError(f"`input_shape` must have {channels} channels {layout}, received {input_shape!r}.")
    for side in spatial:
        if side is None and require_size:
            raise ValueError(f"`input_shape` must give height and width, received {input_shape!r}.")
        if side is not None and side < min_size:
            raise ValueError(
                f"`input_shape` must have height and width >= {min_size}, received {input_shape!r}."
            )
    return keras.Input(input_shape), fmt


def classifier(x, include_top, classes, pooling, classifier_activation, dropout=0.0, name="predictions"):
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


def check_classes(classes):
    """``classes`` must be a positive int."""
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be an integer >= 1, received {classes!r}.")
    return classes
