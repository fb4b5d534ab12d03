"""MobileNetV3: torchvision's parameter counts, MACs, the paper's tables, errors.

The counts are torchvision's (``num_params`` of ``MobileNet_V3_Large_Weights``
and ``MobileNet_V3_Small_Weights`` in ``models/mobilenetv3.py``); the MACs its
``_ops`` (GFLOPS, multiply-adds) and the paper's Table 3. ``_v3_params`` counts
the paper's Tables 1-2 layer by layer with torchvision's rounding, for the
width multipliers torchvision publishes no count for. Paper-size models are
built inside ``keras.StatelessScope(initialize_variables=False)``.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing
from kcv.models.common import make_divisible

TORCHVISION_PARAMS = {"large": 5_483_032, "small": 2_542_856}
TORCHVISION_GFLOPS = {"large": 0.217, "small": 0.057}
PAPER_MADDS = {"large": 219e6, "small": 56e6}  # Table 3

# Paper, Table 1 (Large) and Table 2 (Small): (input, exp size, #out, SE, stride).
TABLE = {
    "large": [
        (16, 16, 16, False, 1),
        (16, 64, 24, False, 2),
        (24, 72, 24, False, 1),
        (24, 72, 40, True, 2),
        (40, 120, 40, True, 1),
        (40, 120, 40, True, 1),
        (40, 240, 80, False, 2),
        (80, 200, 80, False, 1),
        (80, 184, 80, False, 1),
        (80, 184, 80, False, 1),
        (80, 480, 112, True, 1),
        (112, 672, 112, True, 1),
        (112, 672, 160, True, 2),
        (160, 960, 160, True, 1),
        (160, 960, 160, True, 1),
    ],
    "small": [
        (16, 16, 16, True, 2),
        (16, 72, 24, False, 2),
        (24, 88, 24, False, 1),
        (24, 96, 40, True, 2),
        (40, 240, 40, True, 1),
        (40, 240, 40, True, 1),
        (40, 120, 48, True, 1),
        (48, 144, 48, True, 1),
        (48, 288, 96, True, 2),
        (96, 576, 96, True, 1),
        (96, 576, 96, True, 1),
    ],
}
KERNELS = {
    "large": [3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5],
    "small": [3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5],
}
# The SE widths of torchvision (make_divisible(exp // 4, 8)), worked out by hand:
# 72 // 4 = 18 rounds to 16, which loses more than 10%, so 24; 120 // 4 = 30 -> 32;
# 16 // 4 = 4 -> 8 (the minimum); 240 // 4 = 60 -> 64; 144 // 4 = 36 -> 40.
SE_WIDTHS = {
    "large": [24, 32, 32, 120, 168, 168, 240, 240],
    "small": [8, 24, 64, 64, 32, 40, 72, 144, 144],
}
NONLINEARITY = {
    "large": ["relu"] * 6 + ["hard_swish"] * 9,
    "small": ["relu"] * 3 + ["hard_swish"] * 8,
}


def _sub(block, name):
    return {sub.name: sub for sub in block.blocks}.get(name)


def _blocks(model):
    return [layer for layer in model.layers if isinstance(layer, kcv.layers.InvertedResidual)]


def _v3_params(variant, alpha=1.0, classes=1000):
    """Stem 3x3 + BN; per block [1x1 expand + BN] + k² dw + BN + [SE: 2 dense with
    bias] + 1x1 project + BN; 1x1 to 6·last + BN; dense to 1280/1024; dense."""

    def width(c):
        return make_divisible(c * alpha, 8)

    stem = width(16)
    total = 27 * stem + 2 * stem
    for (cin, exp, out, se, _), k in zip(TABLE[variant], KERNELS[variant]):
        cin, exp, out = width(cin), width(exp), width(out)
        if exp != cin:
            total += cin * exp + 2 * exp
        total += k * k * exp + 2 * exp
        if se:
            s = make_divisible(exp // 4, 8)
            total += exp * s + s + s * exp + exp
        total += exp * out + 2 * out
    last_conv = 6 * width(TABLE[variant][-1][2])
    hidden = width({"large": 1280, "small": 1024}[variant])
    total += out * last_conv + 2 * last_conv
    return total + last_conv * hidden + hidden + hidden * classes + classes


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant", ["large", "small"])
def test_counts_equal_torchvision(variant):
    assert _v3_params(variant) == TORCHVISION_PARAMS[variant]
    model = testing.stateless(kcv.models.MobileNetV3, variant)
    assert testing.trainable_parameters(model) == TORCHVISION_PARAMS[variant]
    assert model.name == f"mobilenetv3_{variant}" and model.output_shape == (None, 1000)


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant, alpha", [("large", 0.75), ("large", 0.5), ("small", 0.75)])
def test_width_multiplier_counts(variant, alpha):
    model = testing.stateless(kcv.models.MobileNetV3, variant, alpha=alpha)
    assert testing.trainable_parameters(model) == _v3_params(variant, alpha)


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant", ["large", "small"])
def test_macs_agree_with_torchvision_and_the_paper(variant):
    # dropout=0.0: no MACs either way, and on PyTorch count_macs cannot yet trace a
    # stateless model holding a Dropout (its uninitialised integer seed variable).
    macs = kcv.analysis.count_macs(testing.stateless(kcv.models.MobileNetV3, variant, dropout=0.0))
    # torchvision's figures are rounded to 3 decimals of GFLOPS.
    assert macs / (TORCHVISION_GFLOPS[variant] * 1e9) == pytest.approx(1, abs=0.01)
    assert macs / PAPER_MADDS[variant] == pytest.approx(1, abs=0.015)


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant", ["large", "small"])
def test_blocks_follow_the_paper_tables(variant):
    model = testing.stateless(kcv.models.MobileNetV3, variant, include_top=False)
    blocks = _blocks(model)
    table = TABLE[variant]
    assert len(blocks) == len(table)
    assert [b.filters for b in blocks] == [out for _, _, out, _, _ in table]
    assert [b.expanded_channels for b in blocks] == [exp for _, exp, _, _, _ in table]
    assert [b.kernel_size[0] for b in blocks] == KERNELS[variant]
    assert [b.strides[0] for b in blocks] == [s for *_, s in table]
    assert [b.activation for b in blocks] == NONLINEARITY[variant]
    se_blocks = [_sub(b, "squeeze_excite") for b in blocks]
    assert [se is not None for se in se_blocks] == [se for _, _, _, se, _ in table]
    assert [se.reduce.units for se in se_blocks if se] == SE_WIDTHS[variant]
    assert all(se.gate == "hard_sigmoid" for se in se_blocks if se)
    # The expansion is skipped where exp size equals the input width (the first block).
    assert [_sub(b, "expand") is not None for b in blocks] == [exp != cin for cin, exp, *_ in table]
    residual = [s == 1 and cin == out for cin, _, out, _, s in table]
    assert [b.has_residual for b in blocks] == residual
    assert sum(residual) == {"large": 10, "small": 6}[variant]
    assert model.output_shape == (None, 7, 7, {"large": 960, "small": 576}[variant])
    assert model.get_layer("conv1_act").activation is keras.activations.hard_swish


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant, hidden", [("large", 1280), ("small", 1024)])
def test_head_is_torchvision_classifier(variant, hidden):
    model = testing.stateless(kcv.models.MobileNetV3, variant, classes=10, dropout=0.3)
    pre = model.get_layer("pre_logits")
    assert pre.units == hidden and pre.activation is keras.activations.hard_swish
    assert model.get_layer("dropout").rate == 0.3
    assert model.output_shape == (None, 10)
    no_dropout = testing.stateless(kcv.models.MobileNetV3, variant, dropout=0.0)
    assert "dropout" not in [layer.name for layer in no_dropout.layers]
    pooled = testing.stateless(kcv.models.MobileNetV3, variant, include_top=False, pooling="max")
    assert pooled.output_shape == (None, {"large": 960, "small": 576}[variant])


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"variant": "medium"}, "variant"),
        ({"variant": "Large"}, "variant"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": "1"}, "alpha"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"weights": "imagenet"}, "weights"),
        ({"input_shape": (31, 64, 3)}, "input_shape"),
        ({"classes": 0}, "classes"),
        ({"include_top": False, "pooling": "sum"}, "pooling"),
        ({"classifier_activation": "nope"}, "classifier_activation"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}` must be"):
        testing.stateless(kcv.models.MobileNetV3, **kwargs)


def test_variant_message_lists_the_variants():
    with pytest.raises(ValueError, match=r"`variant` must be one of 'large', 'small'"):
        testing.stateless(kcv.models.MobileNetV3, "tiny")


def test_runs_and_channels_first_gives_the_same_outputs():
    keras.utils.set_random_seed(0)
    last = kcv.models.MobileNetV3("small", input_shape=(33, 33, 3), classes=5)
    testing.randomize_weights(last, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 33, 33, 3)).astype("float32")
    expected = last.predict(x, verbose=0)
    assert expected.shape == (2, 5) and np.all(np.isfinite(expected))
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.config.set_image_data_format("channels_first")
    first = kcv.models.MobileNetV3("small", input_shape=(3, 33, 33), classes=5)
    first.set_weights(last.get_weights())
    got = first.predict(np.transpose(x, (0, 3, 1, 2)), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
