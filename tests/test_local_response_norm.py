"""LocalResponseNormalization against a NumPy loop over the paper's formula, and PyTorch's.

Krizhevsky et al. 2012, Sec. 3.3: b^i = a^i / (k + alpha · sum_j (a^j)^2)^beta, j over
the n channels around i (cut at the ends). The battery (serialization, mixed
precision, channels_first, fit) runs on the catalogue's entries in tests/test_battery.py.
"""

import keras
import numpy as np
import pytest

import kcv


def _paper_lrn(a, n, alpha, beta, k):
    """The paper's equation, one channel at a time, NHWC, float64."""
    channels = a.shape[-1]
    b = np.empty_like(a, dtype="float64")
    for i in range(channels):
        low, high = max(0, i - n // 2), min(channels - 1, i + n // 2)
        energy = sum(a[..., j].astype("float64") ** 2 for j in range(low, high + 1))
        b[..., i] = a[..., i] / (k + alpha * energy) ** beta
    return b


@pytest.mark.parametrize(
    "kwargs, n, alpha, beta, k",
    [
        ({}, 5, 1e-4, 0.75, 2.0),  # the paper's constants
        ({"size": 3, "alpha": 0.5, "beta": 1.0, "k": 1.0}, 3, 0.5, 1.0, 1.0),
        ({"size": 7, "alpha": 0.2, "beta": 0.5, "k": 0.5}, 7, 0.2, 0.5, 0.5),
    ],
)
def test_lrn_equals_the_paper_formula(kwargs, n, alpha, beta, k):
    x = (3 * np.random.default_rng(0).standard_normal((2, 3, 4, 9))).astype("float32")
    got = keras.ops.convert_to_numpy(kcv.layers.LocalResponseNormalization(**kwargs)(x))
    np.testing.assert_allclose(got, _paper_lrn(x, n, alpha, beta, k), rtol=1e-5, atol=1e-6)


def test_lrn_paper_constants_change_large_activities():
    # With k = 2 every activity is scaled by at most 2^-0.75; large neighbours scale it more.
    x = np.zeros((1, 1, 1, 5), "float32")
    x[..., 2] = 100.0
    got = keras.ops.convert_to_numpy(kcv.layers.LocalResponseNormalization()(x))[0, 0, 0]
    assert got[2] == pytest.approx(100.0 / (2 + 1e-4 * 100.0**2) ** 0.75, rel=1e-6)
    assert np.all(got[[0, 1, 3, 4]] == 0.0)


def test_lrn_reproduces_torch_local_response_norm_with_alpha_over_size():
    torch = pytest.importorskip("torch")
    x = (3 * np.random.default_rng(1).standard_normal((2, 9, 4, 3))).astype("float32")  # NCHW
    size, alpha, beta, k = 5, 1e-2, 0.75, 2.0
    expected = torch.nn.functional.local_response_norm(
        torch.from_numpy(x), size, alpha=alpha, beta=beta, k=k
    ).numpy()
    layer = kcv.layers.LocalResponseNormalization(
        size, alpha=alpha / size, beta=beta, k=k, data_format="channels_last"
    )
    got = keras.ops.convert_to_numpy(layer(np.transpose(x, (0, 2, 3, 1))))
    np.testing.assert_allclose(np.transpose(got, (0, 3, 1, 2)), expected, rtol=1e-5, atol=1e-6)


def test_lrn_channels_first():
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 6)).astype("float32")
    last = kcv.layers.LocalResponseNormalization(3, alpha=0.3, data_format="channels_last")
    first = kcv.layers.LocalResponseNormalization(3, alpha=0.3, data_format="channels_first")
    got = keras.ops.convert_to_numpy(first(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(
        np.transpose(got, (0, 2, 3, 1)), keras.ops.convert_to_numpy(last(x)), atol=1e-6
    )


@pytest.mark.backend_independent
def test_lrn_has_no_weights_and_keeps_the_shape():
    layer = kcv.layers.LocalResponseNormalization()
    layer.build((None, 55, 55, 96))
    assert layer.weights == []
    assert layer.compute_output_shape((None, 55, 55, 96)) == (None, 55, 55, 96)
    config = layer.get_config()
    assert {key: config[key] for key in ("size", "alpha", "beta", "k")} == {
        "size": 5,
        "alpha": 1e-4,
        "beta": 0.75,
        "k": 2.0,
    }


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 4}, "`size` must be an odd integer >= 1, received 4"),
        ({"size": 0}, "`size` must be an integer >= 1"),
        ({"alpha": -1e-4}, "`alpha` must be a number >= 0"),
        ({"beta": -0.5}, "`beta` must be a number >= 0"),
        ({"k": 0.0}, "`k` must be a number > 0"),
        ({"data_format": "NCHW"}, "`data_format` must be one of"),
    ],
)
def test_lrn_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcv.layers.LocalResponseNormalization(**kwargs)
