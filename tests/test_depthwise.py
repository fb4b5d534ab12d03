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


# --- MobileNetV3 options: explicit expanded width, SE width (backward compatible) ---


def test_existing_configurations_keep_their_config_and_counts():
    """The v2 block as before: no new sublayers, the new keys None, old configs load."""
    block = kcv.layers.InvertedResidual(24, expansion=6, se_reduction=4)
    block.build((None, 8, 8, 24))
    config = block.get_config()
    assert config["expanded_channels"] is None and config["se_channels"] is None
    # SE width 144 // 4 = 36 (SENet's rule): 8,832 + 144·36 + 36 + 36·144 + 144 = 19,380.
    assert sum(int(np.prod(w.shape)) for w in block.trainable_weights) == 19380
    assert _sublayer_names(block) == [
        "expand",
        "expand_bn",
        "expand_act",
        "depthwise",
        "depthwise_bn",
        "depthwise_act",
        "squeeze_excite",
        "project",
        "project_bn",
    ]
    assert block.blocks[6].reduce.units == 36
    old = {k: v for k, v in config.items() if k not in ("expanded_channels", "se_channels")}
    restored = kcv.layers.InvertedResidual.from_config(old)
    assert restored.get_config() == config


def test_expanded_channels_override_expansion():
    """MobileNetV3-Large's 24 -> 40 block with exp size 72 (paper, Table 1)."""
    block = kcv.layers.InvertedResidual(
        40, expansion=6, kernel_size=5, strides=2, activation="relu", expanded_channels=72
    )
    block.build((None, 16, 16, 24))
    assert [w.shape for w in block.trainable_weights if len(w.shape) == 4] == [
        (1, 1, 24, 72),
        (5, 5, 72, 1),
        (1, 1, 72, 40),
    ]
    assert block.compute_output_shape((None, 16, 16, 24)) == (None, 8, 8, 40)


def test_expand_is_skipped_when_expanded_equals_input_channels():
    """torchvision's rule (``expanded_channels != input_channels``), whatever ``expansion`` says."""
    block = kcv.layers.InvertedResidual(16, strides=2, expanded_channels=16, se_channels=8)
    block.build((None, 8, 8, 16))
    assert _sublayer_names(block) == [
        "depthwise",
        "depthwise_bn",
        "depthwise_act",
        "squeeze_excite",
        "project",
        "project_bn",
    ]
    assert block.blocks[3].reduce.units == 8  # se_channels alone adds the SE block


def test_se_channels_set_the_mobilenet_v3_width():
    """MobileNetV3's SE on 72 channels is 24 wide (make_divisible(18, 8)), not 72 // 4 = 18."""
    block = kcv.layers.InvertedResidual(
        40, kernel_size=5, expanded_channels=72, se_reduction=4, se_channels=24
    )
    block.build((None, 8, 8, 24))
    se = block.blocks[6]
    assert se.name == "squeeze_excite" and se.gate == "hard_sigmoid"
    assert se.reduce.units == 24 and se.count_params() == 72 * 24 + 24 + 24 * 72 + 72


def _hard_swish(x):
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _bn(x, layer):
    gamma, beta, mean, var = (_np(w).astype("float64") for w in layer.weights)
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def test_v3_block_matches_a_numpy_transcription_of_torchvision():
    """expand + BN + hardswish, 3x3 depthwise + BN + hardswish, SE (ReLU, hardsigmoid), project + BN,
    + x: torchvision ``mobilenetv3.InvertedResidual`` with ``F.hardswish`` = x·relu6(x+3)/6."""
    block = kcv.layers.InvertedResidual(
        8, activation="hard_swish", expanded_channels=20, se_channels=8
    )
    x = np.random.default_rng(7).standard_normal((2, 5, 6, 8)).astype("float32")
    block.build(x.shape)
    kcv.testing.randomize_weights(block, seed=8)
    y = _np(block(x, training=False))
    layers = {sub.name: sub for sub in block.blocks}
    t = x.astype("float64")
    t = np.einsum("bhwc,cd->bhwd", t, _np(layers["expand"].kernel)[0, 0])
    t = _hard_swish(_bn(t, layers["expand_bn"]))
    kernel = _np(layers["depthwise"].kernel)[:, :, :, 0]
    padded = np.pad(t, ((0, 0), (1, 1), (1, 1), (0, 0)))
    t = sum(padded[:, i : i + 5, j : j + 6] * kernel[i, j] for i in range(3) for j in range(3))
    t = _hard_swish(_bn(t, layers["depthwise_bn"]))
    se = layers["squeeze_excite"]
    w1, b1, w2, b2 = (_np(w).astype("float64") for w in se.weights)
    scale = np.clip(np.maximum(t.mean(axis=(1, 2)) @ w1 + b1, 0) @ w2 + b2 + 3.0, 0, 6) / 6.0
    t = t * scale[:, None, None, :]
    t = np.einsum("bhwc,cd->bhwd", t, _np(layers["project"].kernel)[0, 0])
    expected = _bn(t, layers["project_bn"]) + x
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filters": 8, "expanded_channels": 0}, "`expanded_channels` must be an integer >= 1"),
        ({"filters": 8, "expanded_channels": 7.5}, "`expanded_channels` must be an integer"),
        ({"filters": 8, "se_channels": -2}, "`se_channels` must be an integer >= 1"),
    ],
)
def test_v3_options_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcv.layers.InvertedResidual(**kwargs)
