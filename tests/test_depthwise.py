"""MobileNet blocks: structure, residual rule, the paper's counts, errors."""

import keras
import numpy as np
import pytest

import kcv


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _sublayer_names(layer):
    return [sub.name for sub in layer.blocks]


def test_inverted_residual_structure_and_residual():
    block = kcv.layers.InvertedResidual(24, expansion=6)
    x = np.random.default_rng(3).standard_normal((2, 8, 8, 24)).astype("float32")
    y = block(x, training=False)
    assert _sublayer_names(block) == [
        "expand",
        "expand_bn",
        "expand_act",
        "depthwise",
        "depthwise_bn",
        "depthwise_act",
        "project",
        "project_bn",
    ]
    assert block.has_residual
    assert [w.shape for w in block.trainable_weights if len(w.shape) == 4] == [
        (1, 1, 24, 144),
        (3, 3, 144, 1),
        (1, 1, 144, 24),
    ]
    # The projection is linear: without the shortcut the output would be the branch.
    branch = keras.ops.convert_to_numpy(
        kcv.layers.depthwise._ConvBlock.call(block, x, training=False)
    )
    np.testing.assert_allclose(_np(y), branch + x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, in_channels, residual",
    [
        ({"filters": 24}, 24, True),
        ({"filters": 24, "strides": 2}, 24, False),
        ({"filters": 32}, 24, False),
        ({"filters": 24, "dilation_rate": 2}, 24, True),
    ],
)
def test_residual_only_with_stride_1_and_equal_channels(kwargs, in_channels, residual):
    block = kcv.layers.InvertedResidual(**kwargs)
    block.build((None, 8, 8, in_channels))
    assert block.has_residual is residual


def test_expansion_1_skips_expand_and_se_sits_before_projection():
    block = kcv.layers.InvertedResidual(16, expansion=1, se_reduction=4)
    block.build((None, 8, 8, 32))
    assert _sublayer_names(block) == [
        "depthwise",
        "depthwise_bn",
        "depthwise_act",
        "squeeze_excite",
        "project",
        "project_bn",
    ]


def test_separable_conv_cost_matches_paper_formula():
    """Params of the v1 block: k²·M + M·N (+ BN), paper Sec. 3.1."""
    m, n = 32, 64
    block = kcv.layers.DepthwiseSeparableConv(n)
    block.build((None, 16, 16, m))
    assert block.count_params() - 4 * (m + n) == 9 * m + m * n  # BN: 4 weights per channel
    assert _sublayer_names(block) == [
        "depthwise",
        "depthwise_bn",
        "depthwise_act",
        "pointwise",
        "pointwise_bn",
        "pointwise_act",
    ]


@pytest.mark.parametrize(
    "layer_cls, kwargs, match",
    [
        (kcv.layers.InvertedResidual, {"filters": 0}, "`filters` must be an integer >= 1"),
        (
            kcv.layers.InvertedResidual,
            {"filters": 8, "expansion": 0.5},
            "`expansion` must be a number >= 1",
        ),
        (kcv.layers.InvertedResidual, {"filters": 8, "strides": 3}, "`strides` must be 1 or 2"),
        (
            kcv.layers.InvertedResidual,
            {"filters": 8, "strides": 2, "dilation_rate": 2},
            "`strides` must be 1 when `dilation_rate` > 1",
        ),
        (
            kcv.layers.InvertedResidual,
            {"filters": 8, "activation": "nope"},
            "`activation` must be a Keras activation name",
        ),
        (
            kcv.layers.InvertedResidual,
            {"filters": 8, "se_reduction": 0},
            "`se_reduction` must be an integer >= 1",
        ),
        (
            kcv.layers.InvertedResidual,
            {"filters": 8, "se_gate": "relu"},
            "`se_gate` must be one of",
        ),
        (kcv.layers.DepthwiseSeparableConv, {"filters": -1}, "`filters` must be an integer >= 1"),
        (
            kcv.layers.DepthwiseSeparableConv,
            {"filters": 8, "depth_multiplier": 0},
            "`depth_multiplier` must be",
        ),
        (
            kcv.layers.DepthwiseSeparableConv,
            {"filters": 8, "kernel_size": (3, 0)},
            "`kernel_size` must be",
        ),
        (
            kcv.layers.DepthwiseSeparableConv,
            {"filters": 8, "strides": (1, 4)},
            "`strides` must be 1 or 2",
        ),
        (
            kcv.layers.DepthwiseSeparableConv,
            {"filters": 8, "activation": "swishy"},
            "`activation` must be a Keras activation name",
        ),
    ],
)
def test_bad_arguments_are_named(layer_cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        layer_cls(**kwargs)


@pytest.mark.parametrize(
    "layer_cls", [kcv.layers.InvertedResidual, kcv.layers.DepthwiseSeparableConv]
)
def test_wrong_rank_is_rejected_at_build(layer_cls):
    with pytest.raises(ValueError, match="input` must be a 4D tensor"):
        layer_cls(8).build((None, 16, 8))
