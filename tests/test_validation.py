"""kcv._validation: one message format for every public argument check."""

import re

import numpy as np
import pytest

from kcv import _validation as v

pytestmark = pytest.mark.backend_independent

# "`argument` must be <expected>, received <value>." — the whole message.
FORMAT = re.compile(r"^`[^`]+` must be .+, received .+\.$", re.DOTALL)


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: v.positive_int("filters", 0), "`filters` must be an integer >= 1, received 0."),
        (
            lambda: v.positive_int("filters", True),
            "`filters` must be an integer >= 1, received True.",
        ),
        (
            lambda: v.positive_int("seed", -1, minimum=0),
            "`seed` must be an integer >= 0, received -1.",
        ),
        (
            lambda: v.positive_int("filters", 2.0),
            "`filters` must be an integer >= 1, received 2.0.",
        ),
        (
            lambda: v.int_pair("strides", (1, 2, 3)),
            "`strides` must be an integer >= 1 or a pair of them, received (1, 2, 3).",
        ),
        (
            lambda: v.int_sequence("rates", []),
            "`rates` must be a non-empty sequence of integers >= 1, received [].",
        ),
        (
            lambda: v.int_sequence("pool_sizes", (3,), length=2),
            "`pool_sizes` must be a pair of integers >= 1, received (3,).",
        ),
        (
            lambda: v.number("dropout", 1.0, 0, 1, high_open=True),
            "`dropout` must be a number in [0, 1), received 1.0.",
        ),
        (lambda: v.number("q", 0, 0, low_open=True), "`q` must be a number > 0, received 0."),
        (lambda: v.number("x", float("nan")), "`x` must be a real number, received nan."),
        (lambda: v.number("lr", "0.1", 0), "`lr` must be a number >= 0, received '0.1'."),
        (lambda: v.boolean("batch_norm", 1), "`batch_norm` must be True or False, received 1."),
        (
            lambda: v.one_of("merge", "max", ("concat", "sum")),
            "`merge` must be one of 'concat', 'sum', received 'max'.",
        ),
        (
            lambda: v.data_format("NHWC"),
            "`data_format` must be one of 'channels_last', 'channels_first', received 'NHWC'.",
        ),
        (
            lambda: v.divisible("channels", 10, 4, "`groups` (4)"),
            "`channels` must be divisible by `groups` (4), received 10.",
        ),
        (lambda: v.no_weights("imagenet"), None),
        (lambda: v.activation("activation", "swishy"), None),
        (
            lambda: v.fail("x", "an array of 3 values", np.zeros(5), "an array of shape (5,)"),
            "`x` must be an array of 3 values, received an array of shape (5,).",
        ),
    ],
)
def test_every_check_raises_the_one_message_format(check, message):
    with pytest.raises(ValueError) as raised:
        check()
    text = str(raised.value)
    assert FORMAT.match(text), text
    if message is not None:
        assert text == message


def test_checks_return_the_normalised_value():
    assert v.positive_int("n", np.int64(3)) == 3 and type(v.positive_int("n", np.int64(3))) is int
    assert v.int_pair("k", 3) == (3, 3)
    assert v.int_pair("k", [1, 7]) == (1, 7)
    assert v.int_sequence("rates", [6, 12]) == (6, 12)
    assert v.number("p", 1) == 1.0
    assert v.boolean("b", np.bool_(True)) is True
    assert v.one_of("m", "sum", ("sum",)) == "sum"
    assert v.activation("a", "relu6") == "relu6"
    assert v.no_weights(None) is None


def test_data_format_none_follows_keras(monkeypatch):
    import keras

    monkeypatch.setattr(keras.config, "image_data_format", lambda: "channels_first")
    assert v.data_format(None) == "channels_first"


def test_image_shape_names_the_layer_and_the_layout():
    class Block:
        pass

    assert v.image_shape(Block(), (None, 8, 8, 3), "channels_last") == 3
    assert v.image_shape(Block(), (None, 3, 8, 8), "channels_first") == 3
    with pytest.raises(ValueError, match=r"^`Block input` must be a 4D tensor \(batch, height"):
        v.image_shape(Block(), (8, 8, 3), "channels_last")
    with pytest.raises(ValueError, match="known channel dimension"):
        v.image_shape(Block(), (None, None, 8, 8), "channels_first")
