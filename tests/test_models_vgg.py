"""VGG: torchvision's parameter counts for all eight configurations, MACs, layout, errors.

The counts are torchvision's ``num_params`` of ``vgg11`` ... ``vgg19_bn``, and the MACs
its ``_ops`` (GFLOPS counted as multiply-adds), both from ``models/vgg.py``. Forward,
compiled and training runs of the catalogue's small entries are in tests/test_models.py.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import testing
from kcv.analysis import count_macs

TORCHVISION = {
    (11, False): 132_863_336,
    (11, True): 132_868_840,
    (13, False): 133_047_848,
    (13, True): 133_053_736,
    (16, False): 138_357_544,
    (16, True): 138_365_992,
    (19, False): 143_667_240,
    (19, True): 143_678_248,
}
TORCHVISION_GMACS = {11: 7.609, 13: 11.308, 16: 15.47, 19: 19.632}


@pytest.mark.backend_independent
@pytest.mark.parametrize("depth, batch_norm", sorted(TORCHVISION))
def test_vgg_counts_equal_torchvision(depth, batch_norm):
    model = testing.stateless(kcv.models.VGG, depth, batch_norm=batch_norm)
    assert testing.trainable_parameters(model) == TORCHVISION[(depth, batch_norm)]
    assert model.name == f"vgg{depth}" + ("_bn" if batch_norm else "")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == depth - 3  # "weight layers" of Table 1: the convolutions and 3 dense
    # torchvision's vgg*_bn keeps every convolution's bias in front of BN.
    assert all(conv.use_bias for conv in convs)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == (depth - 3 if batch_norm else 0)


@pytest.mark.backend_independent
@pytest.mark.parametrize("depth", sorted(TORCHVISION_GMACS))
def test_vgg_macs_match_torchvision(depth):
    macs = count_macs(testing.stateless_for_macs(kcv.models.VGG, depth))
    assert macs / 1e9 == pytest.approx(TORCHVISION_GMACS[depth], rel=0.01)


@pytest.mark.backend_independent
def test_vgg16_layout():
    model = testing.stateless(kcv.models.VGG, 16)
    # Table 1, configuration D: 2, 2, 3, 3, 3 convolutions of 64, 128, 256, 512, 512 filters.
    widths = [
        [model.get_layer(f"block{b}_conv{i}").filters for i in range(1, n + 1)]
        for b, n in zip(range(1, 6), (2, 2, 3, 3, 3))
    ]
    assert widths == [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
    sides = [model.get_layer(f"block{b}_pool").output.shape[1] for b in range(1, 6)]
    assert sides == [112, 56, 28, 14, 7]
    assert tuple(model.get_layer("fc1").kernel.shape) == (25088, 4096)
    names = [layer.name for layer in model.layers]
    # ReLU then dropout after each hidden dense layer (torchvision's classifier).
    assert names.index("fc1") < names.index("dropout1") < names.index("fc2")
    assert names.index("fc2") < names.index("dropout2") < names.index("predictions")


@pytest.mark.backend_independent
def test_other_input_sizes_and_features():
    small = testing.stateless(kcv.models.VGG, 11, input_shape=(32, 32, 3), classes=10)
    assert small.output_shape == (None, 10)
    assert small.get_layer("avg_pool").output.shape[1:3] == (7, 7)
    assert testing.trainable_parameters(small) == TORCHVISION[(11, False)] - 4096 * 990 - 990
    # A 1x1 map (inputs of 32 to 63 pixels) is repeated to 7x7, as the adaptive pool does.
    assert small.get_layer("avg_pool_repeat").output.shape[1:3] == (7, 7)
    wide = testing.stateless(kcv.models.VGG, 11, input_shape=(32, 96, 3), include_top=False)
    assert wide.output_shape == (None, 1, 3, 512)
    assert testing.stateless(kcv.models.VGG, 11, input_shape=(None, None, 3), include_top=False)
    features = testing.stateless(kcv.models.VGG, 19, include_top=False)
    assert features.output_shape == (None, 7, 7, 512)
    pooled = testing.stateless(kcv.models.VGG, 13, include_top=False, pooling="avg")
    assert pooled.output_shape == (None, 512)


def test_vgg_runs_channels_first():
    from kcv import backend

    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.config.set_image_data_format("channels_first")
    model = kcv.models.VGG(11, batch_norm=True, input_shape=(3, 32, 32), classes=3, fc_units=8)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype("float32")
    assert keras.ops.convert_to_numpy(model(x)).shape == (1, 3)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depth": 12}, "`depth` must be one of 11, 13, 16, 19, received 12"),
        ({"batch_norm": "yes"}, "`batch_norm` must be True or False"),
        ({"input_shape": (31, 64, 3)}, r"`input_shape` must be .* >= 32"),
        ({"classes": -1}, "`classes` must be an integer >= 1"),
        ({"fc_units": 2.5}, "`fc_units` must be an integer >= 1"),
        ({"input_shape": (None, None, 3)}, "`input_shape` must be .* with known height and width"),
        ({"input_shape": (64, 64, 3)}, "`input_shape` must be a size whose last feature map"),
        ({"include_top": False, "pooling": "sum"}, "`pooling` must be one of"),
    ],
)
def test_vgg_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        testing.stateless(kcv.models.VGG, **kwargs)


@pytest.mark.parametrize("height, width", [(32, 224), (448, 224)])
def test_top_pools_like_torch_adaptive_pooling(height, width):
    torch = pytest.importorskip("torch")
    # 32x224: a 1x7 map, its height repeated; 448x224: 14x7 -> 7x7, rows averaged in pairs
    # (torch's bins [2i, 2i + 2)).
    model = kcv.models.VGG(11, input_shape=(height, width, 3), classes=3, fc_units=4)
    testing.randomize_weights(model, seed=0)
    x = np.random.default_rng(0).standard_normal((1, height, width, 3)).astype("float32")
    features = keras.Model(model.inputs[0], model.get_layer("block5_pool").output)
    pooled = keras.Model(model.inputs[0], model.get_layer("avg_pool").output)
    maps = keras.ops.convert_to_numpy(features(x))
    expected = torch.nn.functional.adaptive_avg_pool2d(
        torch.from_numpy(np.transpose(maps, (0, 3, 1, 2))), (7, 7)
    ).numpy()
    got = keras.ops.convert_to_numpy(pooled(x))
    np.testing.assert_allclose(got, np.transpose(expected, (0, 2, 3, 1)), rtol=1e-5, atol=1e-6)
    compiled = pooled.predict(x, verbose=0)  # jit on JAX, graph mode on TensorFlow
    # Eight convolutions deep: equal to float32 rounding of the outputs' scale.
    np.testing.assert_allclose(compiled, got, rtol=1e-5, atol=1e-5 * (1 + np.abs(got).max()))
