"""The one place kcv checks its public arguments and words its errors.

Every check raises ``ValueError`` with one message format,

    `argument` must be <what is accepted>, received <repr of the value>.

so that a learner who passes a wrong argument reads which one, what it takes
and what it got, at construction or build time, never a backend stack trace.
Checks return the (normalised) value, so a constructor reads
``self.filters = positive_int("filters", filters)``.

The module imports only ``keras`` and ``numpy``; ``kcv.layers``,
``kcv.models``, ``kcv.data``, ``kcv.distribute`` and ``kcv.adaptive`` use it.
"""

import numbers

import keras
import numpy as np

DATA_FORMATS = ("channels_last", "channels_first")


def fail(argument, expected, value, received=None):
    """Raises the kcv ``ValueError`` for ``argument``.

    Args:
        argument: str. The argument's name as the user typed it.
        expected: str. What is accepted, e.g. ``"an integer >= 1"``.
        value: the value received (shown with ``repr``).
        received: str or None. A description shown instead of ``repr(value)``,
            for values too large to print (``"an array of shape (3, 4)"``).

    Raises:
        ValueError: always, ``"`argument` must be expected, received value."``.

    Example:

    >>> fail("groups", "a divisor of 24 (the input channels)", 5)
    Traceback (most recent call last):
    ...
    ValueError: `groups` must be a divisor of 24 (the input channels), received 5.
    """
    shown = repr(value) if received is None else received
    raise ValueError(f"`{argument}` must be {expected}, received {shown}.")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def positive_int(argument, value, minimum=1):
    """``value`` as an ``int`` if it is an integer >= ``minimum``.

    Example:

    >>> positive_int("filters", 32), positive_int("seed", 0, minimum=0)
    (32, 0)
    """
    if not _is_int(value) or value < minimum:
        fail(argument, f"an integer >= {minimum}", value)
    return int(value)


def int_pair(argument, value, minimum=1):
    """An int or a pair of ints (each >= ``minimum``) as a tuple of two ints.

    Example:

    >>> int_pair("strides", 2), int_pair("kernel_size", (1, 7))
    ((2, 2), (1, 7))
    """
    pair = (value, value) if _is_int(value) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(_is_int(v) and v >= minimum for v in pair)
    ):
        fail(argument, f"an integer >= {minimum} or a pair of them", value)
    return tuple(int(v) for v in pair)


def int_sequence(argument, value, minimum=1, length=None):
    """A non-empty sequence of ints (each >= ``minimum``) as a tuple.

    Args:
        argument: str. The argument's name.
        value: the sequence received.
        minimum: int. Smallest entry accepted.
        length: int or None. Required length; None accepts any length >= 1.

    Example:

    >>> int_sequence("rates", [6, 12, 18])
    (6, 12, 18)
    """
    if length is None:
        count = "a non-empty sequence of"
    else:
        count = "a pair of" if length == 2 else f"a sequence of {length}"
    if (
        not isinstance(value, (tuple, list))
        or not value
        or (length is not None and len(value) != length)
        or not all(_is_int(v) and v >= minimum for v in value)
    ):
        fail(argument, f"{count} integers >= {minimum}", value)
    return tuple(int(v) for v in value)


def number(argument, value, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a float if it is a real number in the given interval.

    Args:
        argument: str. The argument's name.
        value: the number received.
        low, high: float or None. Bounds; None leaves that side open-ended.
        low_open, high_open: bool. Exclude the bound itself.

    Example:

    >>> number("dropout", 0.1, 0, 1, high_open=True)
    0.1
    >>> number("momentum", 1.5, 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: `momentum` must be a number in [0, 1], received 1.5.
    """
    ok = _is_number(value) and not np.isnan(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if high is None and low is not None:
            expected = f"a number {'>' if low_open else '>='} {low}"
        elif low is None and high is not None:
            expected = f"a number {'<' if high_open else '<='} {high}"
        elif low is None:
            expected = "a real number"
        else:
            expected = (
                f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            )
        fail(argument, expected, value)
    return float(value)


def boolean(argument, value):
    """``value`` if it is a ``bool``.

    Example:

    >>> boolean("batch_norm", True)
    True
    """
    if not isinstance(value, (bool, np.bool_)):
        fail(argument, "True or False", value)
    return bool(value)


def one_of(argument, value, accepted):
    """``value`` if it is one of ``accepted``.

    Example:

    >>> one_of("merge", "sum", ("concat", "sum"))
    'sum'
    """
    if value not in accepted:
        fail(argument, f"one of {', '.join(map(repr, accepted))}", value)
    return value


def data_format(value):
    """Resolves ``None`` to ``keras.config.image_data_format()``; checks the rest.

    Example:

    >>> data_format("channels_first")
    'channels_first'
    """
    if value is None:
        return keras.config.image_data_format()
    return one_of("data_format", value, DATA_FORMATS)


def activation(argument, value):
    """``value`` unchanged if it names a Keras activation, is callable or None.

    Returned as given, so ``get_config`` stores what the user passed.

    Example:

    >>> activation("activation", "hard_swish")
    'hard_swish'
    """
    if value is None or callable(value):
        return value
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        fail(argument, "a Keras activation name (e.g. 'relu', 'relu6', 'hard_swish')", value)
    return value


def divisible(argument, value, by, what):
    """``value`` if ``by`` divides it; ``what`` names ``by`` in the message.

    Example:

    >>> divisible("channels", 24, 3, "`groups` (3)")
    24
    """
    if value % by:
        fail(argument, f"divisible by {what}", value)
    return value


def image_shape(layer, input_shape, data_format_value, rank=4):
    """Checks an image input shape at build time and returns its channel count.

    Args:
        layer: the layer being built (its class name goes into the message).
        input_shape: the shape ``build`` received.
        data_format_value: ``"channels_last"`` or ``"channels_first"``.
        rank: int. Expected rank (4: a batch of images).

    Returns:
        The number of channels (an int).

    Raises:
        ValueError: when the rank differs or the channel axis is unknown.
    """
    layout = (
        "(batch, height, width, channels)"
        if data_format_value == "channels_last"
        else "(batch, channels, height, width)"
    )
    shape = tuple(input_shape)
    if len(shape) != rank:
        fail(
            f"{type(layer).__name__} input",
            f"a {rank}D tensor {layout} (data_format={data_format_value!r})",
            shape,
        )
    channels = shape[-1] if data_format_value == "channels_last" else shape[1]
    if channels is None:
        fail(
            f"{type(layer).__name__} input",
            f"a tensor {layout} with a known channel dimension",
            shape,
        )
    return int(channels)


def no_weights(value):
    """kcv builds models from scratch: ``weights`` must be None.

    (Pretrained weights are loaded after construction, from a state dict.)
    """
    if value is not None:
        fail("weights", "None (kcv models are built untrained)", value)
    return value
