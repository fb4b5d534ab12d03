"""kcv.layers.BatchNormalization: Keras' layer, the same function on every backend.

On the torch backend its training step runs PyTorch's fused kernel
(kcv.backend.torch_batch_norm_training); everywhere else it is Keras' own
call. Each check compares it with ``keras.layers.BatchNormalization`` holding
the same weights: outputs, gradients, moving statistics, saved files.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _pair(shape, axis, **options):
    """A kcv and a Keras batch normalization of ``shape``, sharing random weights."""
    rng = np.random.default_rng(5)
    channels = shape[axis]
    gamma, beta = rng.uniform(0.5, 1.5, channels), rng.normal(0.0, 0.3, channels)
    weights = [gamma] * options.get("scale", True) + [beta] * options.get("center", True)
    weights += [rng.normal(0.0, 0.5, channels), rng.uniform(0.5, 2.0, channels)]  # moving stats
    layers = []
    for cls in (kcv.layers.BatchNormalization, keras.layers.BatchNormalization):
        layer = cls(axis=axis, **options)
        layer.build(shape)
        layer.set_weights([w.astype("float32") for w in weights])
        layers.append(layer)
    return layers


def _gradients(layer, x, grad_y):
    """Gradients of ``sum(layer(x, training=True) * grad_y)`` for x and the layer's weights."""
    inputs = keras.Input(x.shape[1:])
    shift = keras.layers.Dense(x.shape[-1], use_bias=False, kernel_initializer="identity")
    model = keras.Model(inputs, layer(shift(inputs), training=True))

    def loss(targets, outputs):
        outputs = keras.ops.cast(outputs, "float32")
        return keras.ops.sum(keras.ops.multiply(outputs, keras.ops.convert_to_tensor(targets)))

    return backend.value_and_gradients(model, x, grad_y, loss)[1]


CASES = [
    ((6, 5, 4, 3), -1),  # channels_last map (on torch, few channels: NCHW copies)
    ((3, 4, 3, 20), -1),  # channels_last map (on torch, normalized as a view)
    ((6, 3, 5, 4), 1),  # channels_first map
    ((4, 7, 5), 1),  # (batch, codewords, channels): Encoding's codeword_bn
    ((9, 4), -1),  # features
]


@pytest.mark.parametrize("shape, axis", CASES)
def test_training_step_equals_keras(shape, axis):
    ours, keras_bn = _pair(shape, axis, momentum=0.9, epsilon=1e-3)
    rng = np.random.default_rng(6)
    x = rng.normal(2.0, 3.0, shape).astype("float32")
    np.testing.assert_allclose(
        _np(ours(x, training=True)), _np(keras_bn(x, training=True)), rtol=1e-4, atol=1e-5
    )
    # One training call moved both layers' statistics the same way (Keras' biased variance).
    for got, want in zip(ours.get_weights(), keras_bn.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(ours(x)), _np(keras_bn(x)), rtol=1e-5, atol=1e-5)
    grad_y = rng.standard_normal(shape).astype("float32")
    if axis != -1:
        return  # the gradient probe moves channels with a Dense on the last axis
    for got, want in zip(_gradients(ours, x, grad_y), _gradients(keras_bn, x, grad_y)):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("scale, center", [(False, True), (True, False), (False, False)])
def test_without_scale_or_center_equals_keras(scale, center):
    shape, axis = (8, 4, 4, 3), -1
    ours, keras_bn = _pair(shape, axis, scale=scale, center=center)
    x = np.random.default_rng(7).normal(1.0, 2.0, shape).astype("float32")
    np.testing.assert_allclose(
        _np(ours(x, training=True)), _np(keras_bn(x, training=True)), rtol=1e-4, atol=1e-5
    )


def test_one_value_per_channel_takes_keras_computation():
    """A batch of one 1x1 map: PyTorch's fused kernel refuses it, Keras' gives beta."""
    ours, keras_bn = _pair((1, 1, 1, 3), -1)
    x = np.ones((1, 1, 1, 3), "float32")
    np.testing.assert_allclose(_np(ours(x, training=True)), _np(keras_bn(x, training=True)))
    for got, want in zip(ours.get_weights(), keras_bn.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_normalizes_in_float32_as_keras(policy):
    shape, axis = (8, 4, 4, 6), -1
    ours, keras_bn = _pair(shape, axis, dtype=policy)
    x = np.random.default_rng(8).normal(1.0, 2.0, shape).astype("float32")
    got, want = ours(x, training=True), keras_bn(x, training=True)
    assert keras.backend.standardize_dtype(got.dtype) == policy.split("_")[1]
    np.testing.assert_allclose(_np(got).astype("float32"), _np(want).astype("float32"), atol=2e-2)
    for got_w, want_w in zip(ours.get_weights(), keras_bn.get_weights()):
        assert got_w.dtype == want_w.dtype == np.float32
        np.testing.assert_allclose(got_w, want_w, rtol=1e-3, atol=1e-3)


def test_is_keras_batch_normalization_and_saves_as_kcv(tmp_path):
    ours, keras_bn = _pair((4, 3, 3, 5), -1, momentum=0.8)
    assert isinstance(ours, keras.layers.BatchNormalization)
    assert ours.get_config() == {**keras_bn.get_config(), "name": ours.name}
    inputs = keras.Input((3, 3, 5))
    model = keras.Model(inputs, ours(inputs))
    path = tmp_path / "bn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is kcv.layers.BatchNormalization
    x = np.random.default_rng(9).normal(size=(4, 3, 3, 5)).astype("float32")
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-6, atol=1e-6)


def test_kcv_blocks_build_it():
    block = kcv.layers.BasicBlock(8)
    block.build((None, 8, 8, 8))
    norms = [
        layer
        for layer in kcv.training.sublayers(block)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms and all(type(layer) is kcv.layers.BatchNormalization for layer in norms)


def test_the_fused_kernel_is_what_trains_on_torch(monkeypatch):
    """On torch the training call goes through PyTorch's fused kernel; elsewhere Keras' call."""
    calls = []
    fused = backend.torch_batch_norm_training

    def counted(layer, inputs):
        calls.append(layer.name)
        return fused(layer, inputs)

    monkeypatch.setattr(backend, "torch_batch_norm_training", counted)
    ours, _ = _pair((4, 3, 3, 2), -1)
    x = np.random.default_rng(10).normal(size=(4, 3, 3, 2)).astype("float32")
    ours(x)
    assert calls == []  # inference: Keras' call on every backend
    ours(x, training=True)
    assert calls == ([ours.name] if backend.name() == "torch" else [])


@pytest.mark.parametrize("channels, copies", [(6, True), (20, False)])
def test_few_channels_are_normalized_as_nchw_copies_on_torch(channels, copies, monkeypatch):
    """Fewer than 16 channels: PyTorch's kernel gets a contiguous NCHW copy, else the
    channels_last view; either way the output is the contiguous channels_last map."""
    if backend.name() != "torch":
        pytest.skip("memory layouts are the torch backend's")
    import torch.nn.functional as F

    seen, batch_norm = [], F.batch_norm
    monkeypatch.setattr(
        F, "batch_norm", lambda x, *a, **k: seen.append(x.is_contiguous()) or batch_norm(x, *a, **k)
    )
    ours, _ = _pair((4, 3, 3, channels), -1)
    x = np.random.default_rng(11).normal(size=(4, 3, 3, channels)).astype("float32")
    y = ours(x, training=True)
    assert seen == [copies]
    assert y.is_contiguous() and tuple(y.shape) == x.shape
