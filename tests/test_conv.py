"""The drop-in convolutions: Keras' numerics and gradients, kcv's speed paths."""

import itertools
import os

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv.layers.conv import shifted_depthwise_conv


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


CONFIGS = list(
    itertools.product(
        [1, 2],  # strides
        [1, 2],  # dilation
        [1, 3],  # depth multiplier
        ["same", "valid"],
        ["channels_last", "channels_first"],
    )
)


@pytest.mark.parametrize("strides, dilation, multiplier, padding, data_format", CONFIGS)
def test_shifted_form_equals_keras_depthwise_conv(
    strides, dilation, multiplier, padding, data_format
):
    if strides > 1 and dilation > 1:
        pytest.skip("Keras rejects strides > 1 with dilation > 1")
    if data_format == "channels_first" and not backend.channels_first_support()[0]:
        pytest.skip(backend.channels_first_support()[1])
    rng = np.random.default_rng(0)
    shape = (2, 11, 10, 6) if data_format == "channels_last" else (2, 6, 11, 10)
    x = rng.standard_normal(shape).astype("float32")
    kernel = rng.standard_normal((3, 3, 6, multiplier)).astype("float32")
    expected = keras.ops.depthwise_conv(
        x, kernel, strides=strides, padding=padding, dilation_rate=dilation, data_format=data_format
    )
    got = shifted_depthwise_conv(
        keras.ops.convert_to_tensor(x),
        keras.ops.convert_to_tensor(kernel),
        (strides, strides),
        padding,
        (dilation, dilation),
        data_format,
    )
    np.testing.assert_allclose(_np(got), _np(expected), rtol=1e-5, atol=1e-5)


def test_shifted_form_has_keras_gradients():
    """Gradients w.r.t. input and kernel match Keras' depthwise conv."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 9, 4)).astype("float32")
    kernel_init = keras.initializers.Constant(rng.standard_normal((3, 3, 4, 1)).astype("float32"))
    grads = []
    for layer_cls in (keras.layers.DepthwiseConv2D, kcv.layers.DepthwiseConv2D):
        layer = layer_cls(
            3, strides=2, padding="same", depthwise_initializer=kernel_init, use_bias=False
        )
        layer.build(x.shape)
        target = np.ones((2, 5, 5, 4), "float32")

        def loss_fn(t, y):
            return keras.ops.sum(keras.ops.square(y - keras.ops.convert_to_tensor(t)))

        grads.append(backend.value_and_gradients(layer, x, target, loss_fn))
    (loss_a, (ga,)), (loss_b, (gb,)) = grads
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-4)


def test_layer_is_a_drop_in_for_keras_depthwise():
    x = np.random.default_rng(2).standard_normal((2, 8, 8, 5)).astype("float32")
    ours = kcv.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")
    theirs = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights([w + 0.1 for w in ours.get_weights()])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), rtol=1e-5, atol=1e-5)
    assert {**ours.get_config(), "name": ""} == {**theirs.get_config(), "name": ""}


def test_jax_on_cpu_uses_the_shifted_form():
    if os.environ.get("KCV_DEPTHWISE"):
        expected = os.environ["KCV_DEPTHWISE"]
    elif backend.name() == "jax" and not backend.has_accelerator():
        expected = "shifted"
    else:
        expected = "native"
    assert backend.depthwise_implementation() == expected


class _Probe(keras.layers.Layer):
    """Holds an input and a kernel as weights, to read gradients for both."""

    def __init__(self, x, kernel, convolve):
        super().__init__()
        self.x_init, self.kernel_init, self.convolve = x, kernel, convolve

    def build(self, _):
        self.x = self.add_weight(shape=self.x_init.shape)
        self.x.assign(self.x_init)
        self.k = self.add_weight(shape=self.kernel_init.shape)
        self.k.assign(self.kernel_init)

    def call(self, _):
        return self.convolve(self.x, self.k)


@pytest.mark.parametrize(
    "strides, dilation, multiplier, data_format",
    [
        ((1, 1), (1, 1), 1, "channels_last"),
        ((1, 1), (2, 2), 1, "channels_first"),
        ((2, 2), (1, 1), 2, "channels_last"),
    ],
)
def test_custom_gradients_equal_autodiff(strides, dilation, multiplier, data_format):
    """Hand-written input/kernel gradients, over one-example chunks, equal autodiff's."""
    from kcv.layers import conv

    if data_format == "channels_first" and not backend.channels_first_support()[0]:
        pytest.skip(backend.channels_first_support()[1])
    rng = np.random.default_rng(4)
    shape = (4, 9, 8, 3) if data_format == "channels_last" else (4, 3, 9, 8)
    x = rng.standard_normal(shape).astype("float32")
    kernel = rng.standard_normal((3, 3, 3, multiplier)).astype("float32")
    geometry = dict(
        strides=strides, padding="valid", dilation_rate=dilation, data_format=data_format
    )
    convolve = lambda x_, k_: conv.shifted_depthwise_conv(x_, k_, **geometry)  # noqa: E731
    input_gradient = None
    if multiplier == 1 and strides == (1, 1):
        input_gradient = lambda g, k_: conv.shifted_depthwise_input_gradient(g, k_, **geometry)  # noqa: E731

    def kernel_gradient(x_, g):
        return conv.shifted_depthwise_kernel_gradient(x_, g, kernel.shape, **geometry)

    def custom(x_, k_):
        return backend.custom_conv_gradients(convolve, input_gradient, kernel_gradient, x_, k_, 1)

    def loss_fn(t, y):
        return keras.ops.sum(keras.ops.square(y - 0.5))

    results = []
    for fn in (custom, convolve):
        probe = _Probe(x, kernel, fn)
        probe.build(None)
        results.append(backend.value_and_gradients(probe, x, None, loss_fn))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-6)
    for ga, gb in zip(grads_a, grads_b):
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    "kernel_size, strides, padding",
    [
        (1, 1, "same"),
        (1, 2, "same"),
        (1, 2, "valid"),
        (1, (2, 3), "same"),
        (3, 1, "same"),
    ],
)
def test_conv2d_is_a_drop_in_for_keras_conv2d(data_format, kernel_size, strides, padding):
    if data_format == "channels_first" and not backend.channels_first_support()[0]:
        pytest.skip(backend.channels_first_support()[1])
    shape = (2, 6, 6, 5) if data_format == "channels_last" else (2, 5, 6, 6)
    x = np.random.default_rng(5).standard_normal(shape).astype("float32")
    kwargs = dict(
        kernel_size=kernel_size,
        strides=strides,
        activation="relu",
        padding=padding,
        data_format=data_format,
    )
    ours, theirs = kcv.layers.Conv2D(7, **kwargs), keras.layers.Conv2D(7, **kwargs)
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights([w + 0.1 for w in ours.get_weights()])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), rtol=1e-5, atol=1e-5)


def test_pointwise_choice():
    if os.environ.get("KCV_POINTWISE"):
        expected = os.environ["KCV_POINTWISE"]
    elif backend.name() in ("jax", "tensorflow") and not backend.has_accelerator():
        expected = "matmul"
    else:
        expected = "native"
    assert backend.pointwise_implementation() == expected


def test_live_taps_drop_the_taps_that_read_only_padding():
    from kcv.layers.conv import live_taps

    # DeepLab v3's ASPP at output stride 16 on a 2x2 map: a 1x1 filter is left.
    assert live_taps((3, 3), (1, 1), "same", (6, 6), (2, 2)) == (slice(1, 2), slice(1, 2))
    assert live_taps((3, 3), (1, 1), "same", (2, 2), (2, 2)) == (slice(1, 2), slice(1, 2))
    # A tall map keeps the vertical taps; a 5-tap kernel at rate 2 on 3 pixels keeps 3.
    assert live_taps((3, 3), (1, 1), "same", (6, 6), (8, 2)) == (slice(0, 3), slice(1, 2))
    assert live_taps((5, 5), (1, 1), "same", (2, 2), (3, 3)) == (slice(1, 4), slice(1, 4))
    # Every tap live, or a convolution the rule does not cover: nothing to drop.
    assert live_taps((3, 3), (1, 1), "same", (6, 6), (7, 7)) is None
    assert live_taps((3, 3), (2, 2), "same", (1, 1), (1, 1)) is None
    assert live_taps((3, 3), (1, 1), "valid", (6, 6), (2, 2)) is None
    assert live_taps((3, 3), (1, 1), "same", (6, 6), (None, 2)) is None
    assert live_taps((2, 2), (1, 1), "same", (6, 6), (2, 2)) is None


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("size, rate", [((2, 2), 6), ((5, 3), 4), ((3, 3), 1)])
def test_atrous_layers_with_dead_taps_equal_keras(depthwise, data_format, size, rate):
    """Outputs and every gradient (dead taps: zero) match Keras' own layers."""
    if data_format == "channels_first" and not backend.channels_first_support()[0]:
        pytest.skip(backend.channels_first_support()[1])
    shape = (2, *size, 4) if data_format == "channels_last" else (2, 4, *size)
    x = np.random.default_rng(7).standard_normal(shape).astype("float32")
    kwargs = dict(padding="same", dilation_rate=rate, data_format=data_format)
    if depthwise:
        ours, theirs = (
            kcv.layers.DepthwiseConv2D(3, **kwargs),
            keras.layers.DepthwiseConv2D(3, **kwargs),
        )
    else:
        ours, theirs = kcv.layers.Conv2D(5, 3, **kwargs), keras.layers.Conv2D(5, 3, **kwargs)
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [
        np.random.default_rng(8).standard_normal(w.shape).astype("float32")
        for w in ours.get_weights()
    ]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    target = np.full(_np(theirs(x)).shape, 0.5, "float32")

    def loss_fn(t, y):
        return keras.ops.sum(keras.ops.square(y - keras.ops.convert_to_tensor(t)))

    (loss_a, grads_a), (loss_b, grads_b) = (
        backend.value_and_gradients(layer, x, target, loss_fn) for layer in (ours, theirs)
    )
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    for ga, gb in zip(grads_a, grads_b):
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-4)
    _, input_grad_a = backend.value_and_input_gradient(lambda v: keras.ops.sum(ours(v) ** 2), x)
    _, input_grad_b = backend.value_and_input_gradient(lambda v: keras.ops.sum(theirs(v) ** 2), x)
    np.testing.assert_allclose(_np(input_grad_a), _np(input_grad_b), rtol=1e-4, atol=1e-4)
