"""The battery must fail broken layers, each for the right reason."""

import re

import keras
import pytest
from keras import ops

from kcv import testing


class _Scale(keras.layers.Layer):
    """A correct minimal layer: y = x * w (per channel) + b."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or keras.config.image_data_format()

    def _shape(self):
        return (-1, 1, 1) if self.data_format == "channels_first" else (-1,)

    def build(self, input_shape):
        channels = input_shape[-1 if self.data_format == "channels_last" else 1]
        self.w = self.add_weight(shape=(channels,), initializer="ones")
        self.b = self.add_weight(shape=(channels,), initializer="zeros")

    def call(self, x):
        return x * ops.reshape(self.w, self._shape()) + ops.reshape(self.b, self._shape())

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class _WeightInCall(_Scale):
    def build(self, input_shape):
        pass

    def call(self, x):
        if not hasattr(self, "w"):
            super().build(x.shape)
        return super().call(x)


class _ExtraConfigKey(_Scale):
    def get_config(self):
        return {**super().get_config(), "unused": 3}


class _DeadWeight(_Scale):
    def call(self, x):
        return x * ops.reshape(self.w, self._shape())


class _WrongShape(_Scale):
    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + 1,)


class _Float32Output(_Scale):
    def call(self, x):
        return ops.cast(super().call(x), "float32")


class _IgnoresDataFormat(_Scale):
    def call(self, x):
        return ops.softmax(super().call(x), axis=-1)


def _results(layer_cls, checks):
    case = testing.LayerCase(layer_cls.__name__, layer_cls, {}, (2, 4, 4, 3))
    return {r.check: r for r in testing.run_checks(case, checks)}


def test_correct_layer_passes_every_check():
    results = _results(_Scale, testing.CHECKS)
    failed = [r for r in results.values() if r.status == testing.FAILED]
    assert not failed
    assert all(r.message for r in results.values() if r.status == testing.SKIPPED)


@pytest.mark.parametrize(
    "layer_cls, check, message",
    [
        # Keras itself refuses new state in call() on some backends.
        (_WeightInCall, "weights", "created 2 weight|cannot add new elements of state"),
        (_ExtraConfigKey, "serialization", "unused"),
        # torch leaves the gradient None, JAX and TF return zeros.
        (_DeadWeight, "fit", "zero everywhere|no gradient reaches"),
        (_WrongShape, "call", "symbolic call gives|compute_output_shape gives"),
        (_Float32Output, "mixed_precision", "output dtype"),
    ],
)
def test_broken_layer_fails_the_right_check(layer_cls, check, message):
    result = _results(layer_cls, [check])[check]
    assert result.status == testing.FAILED
    assert re.search(message, result.message), result.message


def test_channels_first_mismatch_is_caught():
    from kcv import backend

    result = _results(_IgnoresDataFormat, ["channels_first"])["channels_first"]
    if not backend.channels_first_support()[0]:
        assert result.status == testing.SKIPPED and "GPU" in result.message
    else:
        assert result.status == testing.FAILED
        assert "channels_first vs channels_last" in result.message


def test_expected_counts_are_enforced():
    case = testing.LayerCase("scale", _Scale, {}, (2, 4, 4, 3), expected_trainable_params=7)
    (result,) = testing.run_checks(case, ["weights"])
    assert (
        result.status == testing.FAILED and "6 trainable parameters, expected 7" in result.message
    )


def test_run_layer_test_raises_with_every_failure():
    with pytest.raises(AssertionError, match="weights"):
        testing.run_layer_test(_WeightInCall, {}, (2, 4, 4, 3), checks=["weights", "training"])


def test_unknown_check_name_is_rejected():
    case = testing.LayerCase("scale", _Scale, {}, (2, 4, 4, 3))
    with pytest.raises(ValueError, match="`checks` must be names from"):
        testing.run_checks(case, ["speed"])
