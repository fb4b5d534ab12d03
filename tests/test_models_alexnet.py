"""AlexNet: the paper's and torchvision's parameter counts, layout, MACs, input sizes, errors.

Counts: the paper's network (BVLC ``bvlc_alexnet``: 96/256/384/384/256 filters,
conv2/4/5 in two groups, 9,216 inputs to fc6) has 60,965,224 parameters;
torchvision's ``alexnet`` ``num_params`` is 61,100,840 and its ``_ops`` 0.714
GFLOPS (MACs). Forward, compiled and training runs of the catalogue's small
entries are in tests/test_models.py.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import testing
from kcv.analysis import count_macs


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant, expected", [("paper", 60_965_224), ("torchvision", 61_100_840)])
def test_alexnet_counts(variant, expected):
    model = testing.stateless(kcv.models.AlexNet, variant)
    assert testing.trainable_parameters(model) == expected
    assert model.output_shape == (None, 1000)
    # 6·6·256 = 9,216 features reach fc6 (paper, Fig. 2: 13x13x256 pooled to 6x6).
    assert tuple(model.get_layer("fc1").kernel.shape) == (9216, 4096)


@pytest.mark.backend_independent
def test_paper_alexnet_layout():
    model = testing.stateless(kcv.models.AlexNet, "paper")
    # Fig. 2: kernels of conv2, conv4, conv5 see the 48/192/192 maps on their own GPU.
    kernels = {f"conv{i}": tuple(model.get_layer(f"conv{i}").kernel.shape) for i in range(1, 6)}
    assert kernels == {
        "conv1": (11, 11, 3, 96),
        "conv2": (5, 5, 48, 256),
        "conv3": (3, 3, 256, 384),
        "conv4": (3, 3, 192, 384),
        "conv5": (3, 3, 192, 256),
    }
    norms = [
        layer for layer in model.layers if isinstance(layer, kcv.layers.LocalResponseNormalization)
    ]
    assert [layer.name for layer in norms] == ["norm1", "norm2"]
    assert [(n.size, n.alpha, n.beta, n.k) for n in norms] == [(5, 1e-4, 0.75, 2.0)] * 2
    # 227 -> conv1 55 -> pool1 27 -> pool2 13 -> pool5 6 (Sec. 3.5: 55x55x96, 27x27x256, 13x13).
    sides = [model.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "pool2", "pool5")]
    assert sides == [55, 27, 13, 6]
    order = [layer.name for layer in model.layers][1:8]
    assert order == ["conv1", "norm1", "pool1", "conv2", "norm2", "pool2", "conv3"]


@pytest.mark.backend_independent
def test_torchvision_alexnet_layout():
    model = testing.stateless(kcv.models.AlexNet, "torchvision")
    assert not any(
        isinstance(layer, kcv.layers.LocalResponseNormalization) for layer in model.layers
    )
    assert all(model.get_layer(f"conv{i}").groups == 1 for i in range(1, 6))
    # torchvision: 224 padded by 2 -> 55 -> 27 -> 27 -> 13 -> 13 -> 6.
    sides = [model.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "pool2", "pool5")]
    assert sides == [55, 27, 13, 6]
    names = [layer.name for layer in model.layers]
    # Dropout before each hidden dense layer, as torchvision's classifier.
    assert names.index("dropout1") < names.index("fc1") < names.index("dropout2")
    assert names.index("dropout2") < names.index("fc2") < names.index("predictions")


@pytest.mark.backend_independent
def test_alexnet_macs_match_torchvision():
    # torchvision AlexNet_Weights: "_ops": 0.714 (GFLOPS counted as multiply-adds).
    macs = count_macs(testing.stateless_for_macs(kcv.models.AlexNet, "torchvision"))
    assert macs / 1e9 == pytest.approx(0.714, rel=0.01)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "variant, size, side",
    [("paper", 421, 12), ("paper", 98, 1), ("torchvision", 415, 12), ("torchvision", 63, 1)],
)
def test_other_input_sizes_keep_the_dense_layers(variant, size, side):
    model = testing.stateless(kcv.models.AlexNet, variant, input_shape=(size, size, 3), classes=10)
    assert model.get_layer("pool5").output.shape[1:3] == (side, side)
    assert model.output_shape == (None, 10)
    assert model.get_layer("avg_pool").output.shape[1:3] == (6, 6)
    reference = testing.stateless(kcv.models.AlexNet, variant, classes=10)
    assert testing.trainable_parameters(model) == testing.trainable_parameters(reference)


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant, size", [("paper", 100), ("torchvision", 320)])
def test_sizes_the_pool_cannot_map_to_6x6_are_refused(variant, size):
    with pytest.raises(ValueError, match=r"`input_shape` must be a size whose last feature map"):
        testing.stateless(kcv.models.AlexNet, variant, input_shape=(size, size, 3))
    features = testing.stateless(
        kcv.models.AlexNet, variant, include_top=False, input_shape=(size,) * 2 + (3,)
    )
    assert features.output_shape[1] not in (1, 6, 12)


@pytest.mark.backend_independent
@pytest.mark.parametrize("variant, smallest", [("paper", 67), ("torchvision", 63)])
def test_smallest_input(variant, smallest):
    # torchvision's AlexNet_Weights min_size is (63, 63); the paper's net, without conv1's
    # padding of 2, needs 4 more pixels for a 15x15 conv1 map.
    model = testing.stateless(kcv.models.AlexNet, variant, input_shape=(smallest, smallest, 3))
    assert model.get_layer("pool5").output.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match=f"`input_shape` must be .* >= {smallest}"):
        testing.stateless(kcv.models.AlexNet, variant, input_shape=(smallest - 1, smallest, 3))


@pytest.mark.backend_independent
def test_features_and_pooling():
    model = testing.stateless(kcv.models.AlexNet, include_top=False)
    assert model.output_shape == (None, 6, 6, 256)
    pooled = testing.stateless(kcv.models.AlexNet, "torchvision", include_top=False, pooling="max")
    assert pooled.output_shape == (None, 256)


def test_alexnet_runs_channels_first():
    from kcv import backend

    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.config.set_image_data_format("channels_first")
    model = kcv.models.AlexNet(input_shape=(3, 67, 67), classes=3, fc_units=8)
    x = np.random.default_rng(0).standard_normal((1, 3, 67, 67)).astype("float32")
    assert keras.ops.convert_to_numpy(model(x)).shape == (1, 3)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"variant": "caffe"}, "`variant` must be one of 'paper', 'torchvision'"),
        ({"classes": 0}, "`classes` must be an integer >= 1"),
        ({"dropout": 1.0}, r"`dropout` must be a number in \[0, 1\)"),
        ({"fc_units": 0}, "`fc_units` must be an integer >= 1"),
        ({"weights": "imagenet"}, "`weights` must be None"),
        ({"include_top": False, "pooling": "min"}, "`pooling` must be one of None, 'avg', 'max'"),
    ],
)
def test_alexnet_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        testing.stateless(kcv.models.AlexNet, **kwargs)
