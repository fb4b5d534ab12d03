"""kcv.training: the walk into nested layers reaches every batch normalization.

The independent count is Keras' own list of variables: each BatchNormalization
owns exactly one variable whose path ends in ``moving_mean``.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import catalogue


def _moving_means(model):
    return [v for v in model.non_trainable_variables if v.path.endswith("moving_mean")]


@pytest.mark.parametrize(
    "name", ["resnet18", "se_resnet8_cifar", "msdnet_small", "deeplab_v3_mobilenet"]
)
def test_every_batch_norm_of_a_model_is_reached_once(name):
    case = next(c for c in catalogue.MODEL_CASES if c.name == name)
    with keras.StatelessScope(initialize_variables=False):  # shapes only: cheap on every backend
        model = case.model()
    changed = kcv.training.set_batch_norm_momentum(model, 0.9)
    assert changed == len(_moving_means(model)) > 0
    norms = [
        layer
        for layer in kcv.training.sublayers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(norms) == len({id(layer) for layer in norms}) == changed
    assert all(layer.momentum == 0.9 for layer in norms)


def test_resnet18_has_twenty_batch_norms():
    # He et al. Table 1: the stem, 2 per basic block (8 blocks), 3 projections.
    with keras.StatelessScope(initialize_variables=False):
        model = kcv.models.ResNet(18, input_shape=(32, 32, 3), classes=10)
    assert kcv.training.set_batch_norm_momentum(model, 0.5) == 1 + 16 + 3


def test_a_layer_and_its_extensions_are_walked():
    block = kcv.layers.Bottleneck(
        4,
        strides=2,
        attention=kcv.layers.SqueezeExcite(4),
        inner_attention=kcv.layers.StripPooling(),
    )
    block.build((None, 8, 8, 8))
    found = kcv.training.sublayers(block)
    assert block.attention in found and block.inner_attention in found
    assert kcv.training.set_batch_norm_momentum(block) == len(_moving_means(block))


@pytest.mark.parametrize("momentum", [1.0, -0.1, "0.9"])
def test_bad_momentum_is_named(momentum):
    with pytest.raises(ValueError, match=r"`momentum` must be a number in \[0, 1\)"):
        kcv.training.set_batch_norm_momentum(kcv.layers.BasicBlock(8), momentum)


def test_sublayers_needs_a_layer():
    with pytest.raises(ValueError, match="`layer` must be a keras.layers.Layer"):
        kcv.training.sublayers("resnet")


def test_cosine_schedule_follows_the_warmup_and_half_cosine_formula():
    peak, total, warmup, final = 0.4, 50, 8, 0.01
    schedule = kcv.training.cosine_schedule(peak, total, warmup_steps=warmup, final=final)
    for t in range(0, total + 5):
        if t < warmup:
            expected = peak * t / warmup
        else:
            progress = min(t - warmup, total - warmup) / (total - warmup)
            expected = final + (peak - final) * (1 + np.cos(np.pi * progress)) / 2
        assert float(schedule(t)) == pytest.approx(expected, rel=1e-5, abs=1e-7), t
    plain = kcv.training.cosine_schedule(0.1, 10)
    assert float(plain(0)) == pytest.approx(0.1) and float(plain(10)) == pytest.approx(
        0.0, abs=1e-7
    )


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(peak=0.0, total_steps=10), "peak"),
        (dict(peak=0.1, total_steps=0), "total_steps"),
        (dict(peak=0.1, total_steps=10, warmup_steps=10), "warmup_steps"),
        (dict(peak=0.1, total_steps=10, warmup_steps=-1), "warmup_steps"),
        (dict(peak=0.1, total_steps=10, final=0.2), "final"),
    ],
)
def test_cosine_schedule_rejects_impossible_values(kwargs, argument):
    with pytest.raises(ValueError, match=f"^`{argument}` must be"):
        kcv.training.cosine_schedule(**kwargs)


def _normalise(y, mean, variance, epsilon):
    return (y - mean) / np.sqrt(variance + epsilon)


def test_recomputed_statistics_are_those_of_the_data_at_inference():
    # Dense -> Dropout -> BN -> Dense -> BN: the second BN's inputs depend on the
    # first BN's new statistics, so the pass must go in order.
    rng = np.random.default_rng(0)
    x = (2.0 + rng.normal(size=(300, 5))).astype("float32")
    inputs = keras.Input((5,))
    dense1, dense2 = keras.layers.Dense(4), keras.layers.Dense(3)
    bn1, bn2 = keras.layers.BatchNormalization(), keras.layers.BatchNormalization()
    outputs = bn2(dense2(bn1(keras.layers.Dropout(0.5)(dense1(inputs)))))
    model = keras.Model(inputs, outputs)
    for bn in (bn1, bn2):  # made-up running averages, as after a short or shifted training
        bn.moving_mean.assign(np.full(bn.moving_mean.shape, 5.0, "float32"))
        bn.moving_variance.assign(np.full(bn.moving_variance.shape, 9.0, "float32"))
    assert kcv.training.recompute_batch_norm_statistics(model, x, batch_size=64) == 2

    def numpy(v):
        return keras.ops.convert_to_numpy(v).astype("float64")

    # By hand, in float64: dropout is the identity at inference, gamma 1 and beta 0.
    h1 = x.astype("float64") @ numpy(dense1.kernel) + numpy(dense1.bias)
    np.testing.assert_allclose(numpy(bn1.moving_mean), h1.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(numpy(bn1.moving_variance), h1.var(0), rtol=1e-4, atol=1e-5)
    h2 = _normalise(h1, h1.mean(0), h1.var(0), bn1.epsilon) @ numpy(dense2.kernel)
    h2 += numpy(dense2.bias)
    np.testing.assert_allclose(numpy(bn2.moving_mean), h2.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy(bn2.moving_variance), h2.var(0), rtol=1e-4, atol=1e-5)
    y = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-4)


def test_recomputed_statistics_follow_the_batch_norm_axis():
    rng = np.random.default_rng(1)
    x = rng.normal(loc=(1.0, -2.0, 3.0), size=(40, 6, 3)).astype("float32")
    inputs = keras.Input((6, 3))
    channels_first = keras.layers.Permute((2, 1))(inputs)  # (3, 6): channels on axis 1
    bn = keras.layers.BatchNormalization(axis=1)
    model = keras.Model(inputs, bn(channels_first))
    kcv.training.recompute_batch_norm_statistics(model, x)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_mean), x.mean(axis=(0, 1)), atol=1e-5
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_variance), x.var(axis=(0, 1)), rtol=1e-4
    )


def test_recompute_refuses_what_it_cannot_reach():
    block_model = keras.Sequential([keras.Input((8, 8, 4)), kcv.layers.BasicBlock(4)])
    with pytest.raises(ValueError, match="^`model` must be a model whose BatchNormalization"):
        kcv.training.recompute_batch_norm_statistics(block_model, np.zeros((2, 8, 8, 4), "float32"))
    with pytest.raises(
        ValueError, match="^`model` must be a functional keras.Model with one input"
    ):
        kcv.training.recompute_batch_norm_statistics(keras.layers.Dense(2), np.zeros((2, 2)))
