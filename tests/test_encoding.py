"""Encoding / ContextEncoding / SE-loss against EncNet's equations and official counts."""

import keras
import numpy as np
import pytest

import kcv
from kcv.losses import SELoss
from kcv.losses import presence_targets


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _naive_encoding(x, codes, scale):
    """The paper's formula with the full B×N×K×C residual tensor (NumPy, float64)."""
    x = x.reshape(x.shape[0], -1, x.shape[-1]).astype("float64")
    residuals = x[:, :, None, :] - codes[None, None].astype("float64")  # (B, N, K, C)
    logits = scale * np.sum(residuals**2, axis=-1)  # (B, N, K)
    a = np.exp(logits - logits.max(axis=-1, keepdims=True))
    a /= a.sum(axis=-1, keepdims=True)
    return np.einsum("bnk,bnkc->bkc", a, residuals)


def _encoding(num_codes, shape, seed=0):
    layer = kcv.layers.Encoding(num_codes)
    layer.build(shape)
    rng = np.random.default_rng(seed)
    layer.codewords.assign(rng.standard_normal(layer.codewords.shape).astype("float32"))
    layer.scale.assign(-rng.uniform(0.05, 0.5, layer.scale.shape).astype("float32"))
    return layer


@pytest.mark.parametrize("shape", [(2, 5, 6, 8), (3, 17, 4)])
def test_matches_the_naive_formula(shape):
    layer = _encoding(5, shape)
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    expected = _naive_encoding(x, _np(layer.codewords), _np(layer.scale))
    np.testing.assert_allclose(_np(layer(x)), expected, rtol=1e-4, atol=1e-4)


def test_invariant_to_permuting_positions():
    layer = _encoding(4, (2, 30, 6))
    x = np.random.default_rng(2).standard_normal((2, 30, 6)).astype("float32")
    permuted = x[:, np.random.default_rng(3).permutation(30)]
    np.testing.assert_allclose(_np(layer(permuted)), _np(layer(x)), rtol=1e-5, atol=1e-5)


def test_single_codeword_is_sum_of_residuals():
    """K = 1: every assignment is 1, so e = Σ_i x_i - N·c."""
    layer = _encoding(1, (2, 4, 5, 3))
    x = np.random.default_rng(4).standard_normal((2, 4, 5, 3)).astype("float32")
    expected = x.reshape(2, 20, 3).sum(axis=1)[:, None, :] - 20 * _np(layer.codewords)
    np.testing.assert_allclose(_np(layer(x)), expected, rtol=1e-5, atol=1e-4)


def test_official_initialisation_and_sign_convention():
    layer = kcv.layers.Encoding(32)
    layer.build((None, 8, 8, 64))
    scale, codes = _np(layer.scale), _np(layer.codewords)
    assert np.all((scale >= -1) & (scale <= 0))  # stored negative, added: softmax(scale·d²)
    assert np.abs(codes).max() <= 1 / np.sqrt(32 * 64)


def test_mixed_precision_computes_distances_in_float32():
    """||x||² = 16·300² overflows float16; the layer stays finite and accurate."""
    x = np.full((1, 4, 4, 16), 300.0, "float32")
    x[0, 0, 0] = 290.0
    reference = _encoding(2, x.shape)
    mixed = kcv.layers.Encoding(2, dtype="mixed_float16")
    mixed.build(x.shape)
    mixed.set_weights(reference.get_weights())
    got = _np(mixed(x)).astype("float32")
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, _np(reference(x)), rtol=2e-3, atol=1.0)


def test_context_encoding_official_parameter_count():
    """PyTorch-Encoding EncModule(512, K=32), without the SE head: 542,304."""
    module = kcv.layers.ContextEncoding(32)
    module.build((None, 16, 16, 512))
    trainable = sum(int(np.prod(w.shape)) for w in module.trainable_weights)
    assert (
        trainable == 512 * 512 + 2 * 512 + (32 * 512 + 32) + 2 * 32 + (512 * 512 + 512) == 542_304
    )
    with_head = kcv.layers.ContextEncoding(32, se_classes=21)
    with_head.build((None, 16, 16, 512))
    assert with_head.count_params() - module.count_params() == 512 * 21 + 21


def test_context_gate_scales_each_channel_by_one_plus_gamma():
    """y = relu(x + x·γ), γ ∈ (0, 1) per image and channel: y / x ∈ (1, 2), constant over pixels."""
    module = kcv.layers.ContextEncoding(4)
    x = np.random.default_rng(5).uniform(0.1, 1.0, (2, 5, 5, 6)).astype("float32")
    ratio = _np(module(x, training=False)) / x
    assert np.all((ratio > 1) & (ratio < 2))
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1, :1], ratio.shape), rtol=1e-5)


def test_presence_targets_ignore_label_never_counts():
    masks = np.array([[[0, 1], [255, 255]], [[3, 3], [3, 7]]])  # 7: out of range
    targets = _np(presence_targets(masks, classes=4))
    assert targets.tolist() == [[1, 1, 0, 0], [0, 0, 0, 1]]
    assert _np(presence_targets(np.full((1, 2, 2), 255), 4)).tolist() == [[0, 0, 0, 0]]


def test_se_loss_is_weighted_binary_cross_entropy():
    logits = np.array([[2.0, -1.0, 0.5]], "float32")
    present = np.array([[1.0, 0.0, 1.0]], "float32")
    p = 1 / (1 + np.exp(-logits))
    bce = -np.mean(present * np.log(p) + (1 - present) * np.log(1 - p))
    assert float(SELoss()(present, logits)) == pytest.approx(0.2 * bce, rel=1e-5)
    assert float(SELoss(weight=1.0)(present, logits)) == pytest.approx(bce, rel=1e-5)
    assert SELoss.from_config(SELoss(0.5).get_config()).weight == 0.5


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: kcv.layers.Encoding(0), "`num_codes` must be an integer >= 1"),
        (lambda: kcv.layers.ContextEncoding(num_codes=-2), "`num_codes` must be an integer >= 1"),
        (lambda: kcv.layers.ContextEncoding(se_classes=0), "`se_classes` must be an integer >= 1"),
        (lambda: SELoss(weight=-0.1), "`weight` must be a number >= 0"),
    ],
)
def test_bad_arguments_are_named(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.mark.parametrize("shape", [(2, 8), (2, 3, 4, 5, 6)])
def test_encoding_rejects_wrong_rank(shape):
    with pytest.raises(
        ValueError, match="`Encoding input` must be a 4D image tensor or a 3D tensor"
    ):
        kcv.layers.Encoding(4).build(shape)


def test_context_encoding_rejects_wrong_rank():
    with pytest.raises(ValueError, match="input` must be a 4D tensor"):
        kcv.layers.ContextEncoding(4).build((2, 10, 6))
