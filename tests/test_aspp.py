"""ASPP: torchvision's count, atrous offsets, unknown sizes, v2/v3/v3+ forms, BN epsilon, errors."""

import keras
import numpy as np
import pytest

import kcv


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_torchvision_parameter_count():
    """torchvision ASPP(2048, (12, 24, 36), 256): 1x1 + 3 atrous + pooling + projection."""
    aspp = kcv.layers.ASPP(256, rates=(12, 24, 36))
    aspp.build((None, 8, 8, 2048))
    trainable = sum(int(np.prod(w.shape)) for w in aspp.trainable_weights)
    bn = 2 * 256
    assert (
        trainable
        == (2048 * 256 + bn) + 3 * (9 * 2048 * 256 + bn) + (2048 * 256 + bn) + (5 * 256 * 256 + bn)
        == 15_535_104
    )


@pytest.mark.parametrize("rate", [1, 2, 3])
def test_atrous_branch_sees_offset_r_not_r_minus_1(rate):
    """A 3x3 atrous conv at rate r reads offsets {-r, 0, r}: nothing in between."""
    aspp = kcv.layers.ASPP(
        4, rates=(rate,), merge="sum", batch_norm=False, image_pooling=False, dropout=0.0
    )
    x = np.random.default_rng(0).standard_normal((1, 9, 9, 3)).astype("float32")
    base = _np(aspp(x))[0, 4, 4]
    for offset, reacts in ((rate, True), (rate - 1, False)):
        if offset == 0:
            continue
        bumped = x.copy()
        bumped[0, 4 + offset, 4, :] += 5.0
        changed = not np.allclose(_np(aspp(bumped))[0, 4, 4], base, atol=1e-6)
        assert changed is reacts, f"rate {rate}, offset {offset}"


def test_image_pooling_branch_is_broadcast_over_space():
    """Output minus the atrous branch = the pooled branch, the same at every pixel."""
    aspp = kcv.layers.ASPP(4, rates=(1,), merge="sum", batch_norm=False, dropout=0.0)
    x = np.random.default_rng(1).standard_normal((2, 7, 6, 3)).astype("float32")
    rest = _np(aspp(x)) - _np(kcv.layers.conv_bn.call_chain(aspp.branches[0], x))
    pooled = keras.ops.mean(x, axis=(1, 2), keepdims=True)
    branch = _np(kcv.layers.conv_bn.call_chain(aspp.pool_branch, pooled))
    assert branch.shape == (2, 1, 1, 4) and np.all(branch >= 0)  # 1x1 conv + ReLU
    np.testing.assert_allclose(rest, np.broadcast_to(branch, rest.shape), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs", [{}, {"separable": True}, {"merge": "sum", "image_pooling": False}]
)
def test_unknown_spatial_size(kwargs):
    inputs = keras.Input((None, None, 5))
    model = keras.Model(inputs, kcv.layers.ASPP(6, rates=(1, 2), **kwargs)(inputs))
    assert model.output.shape == (None, None, None, 6)
    for size in ((7, 9), (12, 5)):
        x = np.ones((2, *size, 5), "float32")
        assert tuple(model(x).shape) == (2, *size, 6)


def test_branch_structure():
    aspp = kcv.layers.ASPP(8, rates=(6, 12, 18))
    aspp.build((None, 33, 33, 16))
    names = [[layer.name for layer in branch] for branch in aspp.branches]
    assert names[0] == ["conv1x1", "conv1x1_bn", "conv1x1_act"]
    assert [n[0] for n in names[1:]] == ["atrous_rate6", "atrous_rate12", "atrous_rate18"]
    assert [layer.dilation_rate for layer in (b[0] for b in aspp.branches[1:])] == [
        (6, 6),
        (12, 12),
        (18, 18),
    ]
    assert [layer.name for layer in aspp.projection] == ["project", "project_bn", "project_act"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filters": -1}, "`filters` must be an integer >= 1"),
        ({"rates": ()}, "`rates` must be a non-empty sequence of integers >= 1"),
        ({"rates": (6, 0)}, "`rates` must be a non-empty sequence of integers >= 1"),
        ({"rates": 6}, "`rates` must be a non-empty sequence of integers >= 1"),
        ({"merge": "mean"}, "`merge` must be one of 'concat', 'sum'"),
        ({"dropout": 1.0}, r"`dropout` must be a number in \[0, 1\)"),
        ({"bn_epsilon": 0}, "`bn_epsilon` must be a number > 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcv.layers.ASPP(**kwargs)


def test_wrong_rank_is_rejected():
    with pytest.raises(ValueError, match="input` must be a 4D tensor"):
        kcv.layers.ASPP(8).build((None, 16, 16))


def test_equal_rates_get_unique_branch_names_and_can_be_counted():
    """An ablation with one rate repeated (chapter 08) builds, and count_macs
    traces it: every sublayer name is unique."""
    inputs = keras.Input((9, 9, 4))
    model = keras.Model(inputs, kcv.layers.ASPP(4, rates=(1, 1, 2))(inputs))
    aspp = model.layers[-1]
    assert [b[0].name for b in aspp.branches[1:]] == [
        "atrous_rate1_0",
        "atrous_rate1_1",
        "atrous_rate2",
    ]
    single = keras.Model(inputs, kcv.layers.ASPP(4, rates=(1, 2))(inputs))
    # One more 3x3 branch (9·4·4 MACs per pixel) and a wider projection (4·4 per pixel).
    extra = kcv.analysis.count_macs(model) - kcv.analysis.count_macs(single)
    assert extra == 81 * (9 * 4 * 4 + 4 * 4)


@pytest.mark.parametrize("separable, count", [(False, 5), (True, 7)])
def test_bn_epsilon_reaches_every_batch_norm_and_the_config(separable, count):
    """Keras' 1e-3 by default (saved configs stay valid); torchvision's 1e-5 on request, in
    the 1x1, atrous (both BNs of a separable branch), pooling and projection BNs, through
    get_config."""
    assert kcv.layers.ASPP(8).get_config()["bn_epsilon"] == 1e-3
    aspp = kcv.layers.ASPP(8, rates=(2, 4), separable=separable, bn_epsilon=1e-5)
    clone = kcv.layers.ASPP.from_config(aspp.get_config())
    assert clone.get_config() == aspp.get_config() and clone.bn_epsilon == 1e-5
    clone.build((None, 9, 9, 16))
    norms = [
        layer
        for layer in kcv.training.sublayers(clone)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(norms) == count and {norm.epsilon for norm in norms} == {1e-5}


def test_bn_epsilon_enters_the_normalisation():
    """A one-branch sum whose 3x3 kernel is the identity, BN with mean 0, gain 1 and
    variance v: the output is the input / sqrt(v + epsilon)."""
    x = np.full((1, 3, 3, 1), 2.0, "float32")
    for epsilon in (1e-3, 1e-5):
        aspp = kcv.layers.ASPP(
            1, rates=(1,), merge="sum", image_pooling=False, dropout=0.0, bn_epsilon=epsilon
        )
        aspp.build(x.shape)
        conv, norm = aspp.branches[0][:2]
        kernel = np.zeros((3, 3, 1, 1), "float32")
        kernel[1, 1] = 1.0
        conv.kernel.assign(kernel)
        norm.moving_variance.assign(np.full((1,), 1e-3, "float32"))
        np.testing.assert_allclose(_np(aspp(x))[0, 1, 1, 0], 2.0 / np.sqrt(1e-3 + epsilon), 1e-5)
