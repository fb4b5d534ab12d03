"""SqueezeNet 1.0 and 1.1: torchvision's counts and MACs, map sizes, ceil-mode pooling, errors.

torchvision ``models/squeezenet.py``: ``num_params`` 1,248,424 and 1,235,496,
``_ops`` 0.819 and 0.349 GFLOPS (MACs), ``min_size`` 21 and 17. Forward, compiled
and training runs of the catalogue's entries are in tests/test_models.py.
"""

import math

import keras
import numpy as np
import pytest

import kcv
from kcv import testing
from kcv.analysis import count_macs
from kcv.models import squeezenet

TORCHVISION = {"1.0": (1_248_424, 0.819, 21), "1.1": (1_235_496, 0.349, 17)}


def _torch_sizes(n, version):
    """Map sides after conv1 and the three pools, by PyTorch's output-size formulas:
    convolution floor((n - k) / s) + 1, ceil-mode pooling ceil((n - 3) / 2) + 1."""
    kernel = 7 if version == "1.0" else 3
    sides = [(n - kernel) // 2 + 1]
    for _ in range(3):
        sides.append(math.ceil((sides[-1] - 3) / 2) + 1)
    return sides


@pytest.mark.backend_independent
@pytest.mark.parametrize("version", sorted(TORCHVISION))
def test_squeezenet_counts_and_macs_equal_torchvision(version):
    params, gmacs, _ = TORCHVISION[version]
    model = testing.stateless(kcv.models.SqueezeNet, version)
    assert testing.trainable_parameters(model) == params
    assert model.output_shape == (None, 1000)
    assert count_macs(
        testing.stateless_for_macs(kcv.models.SqueezeNet, version)
    ) / 1e9 == pytest.approx(gmacs, rel=0.01)


@pytest.mark.backend_independent
@pytest.mark.parametrize("version", sorted(TORCHVISION))
@pytest.mark.parametrize("size", [224, 225, 227, 64, 35])
def test_map_sizes_follow_torchvision_ceil_mode(version, size):
    model = testing.stateless(kcv.models.SqueezeNet, version, input_shape=(size, size, 3))
    got = [model.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "pool2", "pool3")]
    assert got == _torch_sizes(size, version)


@pytest.mark.backend_independent
def test_fire_modules_follow_table_1():
    model = testing.stateless(kcv.models.SqueezeNet, "1.0")
    fires = [model.get_layer(f"fire{i}") for i in range(2, 10)]
    assert [(f.squeeze, f.expand_1x1, f.expand_3x3) for f in fires] == [
        (16, 64, 64),
        (16, 64, 64),
        (32, 128, 128),
        (32, 128, 128),
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        (64, 256, 256),
    ]
    # 1.0: pools after conv1, fire4 and fire8; 1.1: after conv1, fire3 and fire5.
    names = [layer.name for layer in model.layers if not layer.name.endswith("_pad")]
    assert names.index("pool2") == names.index("fire4") + 1
    assert names.index("pool3") == names.index("fire8") + 1
    v11 = [layer.name for layer in testing.stateless(kcv.models.SqueezeNet, "1.1").layers]
    v11 = [n for n in v11 if not n.endswith("_pad")]
    assert v11.index("pool2") == v11.index("fire3") + 1
    assert v11.index("pool3") == v11.index("fire5") + 1
    assert tuple(model.get_layer("conv10").kernel.shape) == (1, 1, 512, 1000)


def test_ceil_mode_pooling_equals_torch():
    torch = pytest.importorskip("torch")
    for side in (7, 8, 13, 2):
        x = np.abs(np.random.default_rng(side).standard_normal((2, side, side + 1, 3)))
        x = x.astype("float32")
        inputs = keras.Input(x.shape[1:])
        pool = keras.Model(inputs, squeezenet._ceil_max_pool(inputs, "channels_last", "pool"))
        got = keras.ops.convert_to_numpy(pool(x))
        expected = torch.nn.functional.max_pool2d(
            torch.from_numpy(np.transpose(x, (0, 3, 1, 2))), 3, 2, ceil_mode=True
        ).numpy()
        np.testing.assert_array_equal(got, np.transpose(expected, (0, 2, 3, 1)))


def test_classifier_is_relu_then_average():
    model = kcv.models.SqueezeNet(
        "1.1", input_shape=(32, 32, 3), classes=4, classifier_activation=None
    )
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    conv10 = keras.Model(model.inputs[0], model.get_layer("conv10").output)
    maps = keras.ops.convert_to_numpy(conv10(x))
    assert maps.min() >= 0.0
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.backend_independent
@pytest.mark.parametrize("version", sorted(TORCHVISION))
def test_smallest_input(version):
    smallest = TORCHVISION[version][2]
    model = testing.stateless(kcv.models.SqueezeNet, version, input_shape=(smallest, smallest, 3))
    assert model.get_layer("pool3").output.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match=f"`input_shape` must be .* >= {smallest}"):
        testing.stateless(kcv.models.SqueezeNet, version, input_shape=(smallest - 1, 64, 3))


@pytest.mark.backend_independent
def test_features():
    model = testing.stateless(kcv.models.SqueezeNet, "1.1", include_top=False)
    assert model.output_shape == (None, 13, 13, 512)
    pooled = testing.stateless(kcv.models.SqueezeNet, include_top=False, pooling="avg")
    assert pooled.output_shape == (None, 512)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"version": "1.2"}, "`version` must be one of '1.0', '1.1', received '1.2'"),
        ({"version": 1.0}, "`version` must be one of '1.0', '1.1', received 1.0"),
        ({"classes": 0}, "`classes` must be an integer >= 1"),
        ({"dropout": -0.1}, r"`dropout` must be a number in \[0, 1\)"),
        ({"classifier_activation": "nope"}, "`classifier_activation` must be a Keras activation"),
    ],
)
def test_squeezenet_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        testing.stateless(kcv.models.SqueezeNet, **kwargs)
