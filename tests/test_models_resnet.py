"""ResNet and ResNeXt: torchvision's parameter counts, block layout, output stride, errors.

Forward, compiled and training runs of the catalogue's ResNet-18 and ResNeXt-50
entries are in tests/test_models.py.

The counts are torchvision's (``sum(p.numel() for p in model.parameters())`` of
``resnet18`` ... ``resnet152``, ``resnext50_32x4d``, ``resnext101_32x8d``), an
independent reference. Paper-size models are built inside
``keras.StatelessScope(initialize_variables=False)``: weight shapes without
initialised values, cheap and backend-independent.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import testing
from kcv.models import resnet

TORCHVISION = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}


def _blocks(model):
    return [
        layer
        for layer in model.layers
        if isinstance(layer, (kcv.layers.BasicBlock, kcv.layers.Bottleneck))
    ]


@pytest.mark.backend_independent
@pytest.mark.parametrize("depth", sorted(TORCHVISION))
def test_resnet_counts_equal_torchvision(depth):
    model = testing.stateless(kcv.models.ResNet, depth)
    assert testing.trainable_parameters(model) == TORCHVISION[depth]
    assert model.name == f"resnet{depth}" and model.output_shape == (None, 1000)
    block_type, depths = resnet.DEPTHS[depth]
    blocks = _blocks(model)
    assert len(blocks) == sum(depths)
    assert block_type == ("basic" if depth < 50 else "bottleneck")
    cls = kcv.layers.BasicBlock if depth < 50 else kcv.layers.Bottleneck
    assert all(type(block) is cls for block in blocks)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "depth, cardinality, width_per_group, expected, widths",
    [
        (50, 32, 4, 25_028_904, (128, 256, 512, 1024)),  # torchvision resnext50_32x4d
        (101, 32, 8, 88_791_336, (256, 512, 1024, 2048)),  # torchvision resnext101_32x8d
    ],
)
def test_resnext_counts_equal_torchvision(depth, cardinality, width_per_group, expected, widths):
    model = testing.stateless(
        kcv.models.ResNeXt, depth, cardinality=cardinality, width_per_group=width_per_group
    )
    assert testing.trainable_parameters(model) == expected
    assert model.name == f"resnext{depth}_{cardinality}x{width_per_group}d"
    firsts = [model.get_layer(f"conv{s}_block1") for s in (2, 3, 4, 5)]
    assert [block.width for block in firsts] == list(widths)
    assert all(block.groups == cardinality for block in _blocks(model))
    assert [block.output_channels for block in firsts] == [256, 512, 1024, 2048]
    # (3, 3, width / cardinality, width): the grouped kernel of the aggregated transformations.
    assert tuple(firsts[0].conv2[0].kernel.shape) == (3, 3, width_per_group, widths[0])


@pytest.mark.backend_independent
def test_resnet50_is_se_resnet50_without_se():
    plain = testing.stateless(kcv.models.ResNet, 50, input_shape=(64, 64, 3))
    se_free = testing.stateless(kcv.models.SEResNet50, input_shape=(64, 64, 3), reduction=None)

    def names(model):
        return [layer.name for layer in model.layers[1:]]  # after the input layer

    assert names(plain) == names(se_free)
    assert [tuple(w.shape) for w in plain.weights] == [tuple(w.shape) for w in se_free.weights]


@pytest.mark.backend_independent
def test_resnet18_layout():
    model = testing.stateless(kcv.models.ResNet, 18, include_top=False, input_shape=(64, 64, 3))
    assert model.output_shape == (None, 2, 2, 512)
    names = [block.name for block in _blocks(model)]
    assert names == [f"conv{s}_block{b}" for s in (2, 3, 4, 5) for b in (1, 2)]
    # Projections only where the shape changes: the first block of stages 3-5.
    assert [block.shortcut is not None for block in _blocks(model)] == [False, False] + [
        True,
        False,
    ] * 3
    assert model.get_layer("conv3_block1").conv1[0].strides == (2, 2)
    sides = [model.get_layer(f"conv{s}_block2").output.shape[1] for s in (2, 3, 4, 5)]
    assert sides == [16, 8, 4, 2]


@pytest.mark.backend_independent
@pytest.mark.parametrize("output_stride, sides", [(None, 2), (32, 2), (16, 4), (8, 8)])
def test_output_stride_keeps_the_weights(output_stride, sides):
    model = testing.stateless(
        kcv.models.ResNet,
        50,
        include_top=False,
        input_shape=(64, 64, 3),
        output_stride=output_stride,
    )
    assert model.output_shape == (None, sides, sides, 2048)
    assert testing.trainable_parameters(model) == TORCHVISION[50] - (2048 * 1000 + 1000)


@pytest.mark.backend_independent
@pytest.mark.parametrize("pooling, shape", [(None, (None, 2, 2, 2048)), ("avg", (None, 2048))])
def test_pooling_and_classes(pooling, shape):
    features = testing.stateless(
        kcv.models.ResNeXt, include_top=False, pooling=pooling, input_shape=(64, 64, 3)
    )
    assert features.output_shape == shape
    model = testing.stateless(kcv.models.ResNet, 34, classes=7, classifier_activation=None)
    assert model.output_shape == (None, 7)
    assert testing.trainable_parameters(model) == TORCHVISION[34] - 512 * 993 - 993


@pytest.mark.backend_independent
def test_input_tensor():
    image = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(image)
    model = testing.stateless(kcv.models.ResNet, 18, input_tensor=x, classes=3)
    assert model.inputs[0] is image
    assert model.output_shape == (None, 3)
    assert model.get_layer("conv1").input is x


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "builder, kwargs, match",
    [
        (kcv.models.ResNet, {"depth": 20}, "`depth` must be one of 18, 34, 50, 101, 152"),
        (kcv.models.ResNeXt, {"depth": 18}, "`depth` must be one of 50, 101, 152"),
        (kcv.models.ResNeXt, {"cardinality": 0}, "`cardinality` must be an integer >= 1"),
        (kcv.models.ResNeXt, {"width_per_group": 2.5}, "`width_per_group` must be an integer"),
        (kcv.models.ResNet, {"weights": "imagenet"}, "`weights` must be None"),
        (kcv.models.ResNet, {"classes": 0}, "`classes` must be an integer >= 1"),
        (kcv.models.ResNet, {"output_stride": 4}, "`output_stride` must be one of"),
        (kcv.models.ResNet, {"input_shape": (16, 16, 3)}, "`input_shape` must be"),
        (kcv.models.ResNet, {"input_tensor": np.zeros((1, 32, 32, 3))}, "`input_tensor` must be"),
        (
            kcv.models.ResNet,
            {"input_tensor": keras.Input((32, 32, 3)), "input_shape": (64, 64, 3)},
            "`input_shape` must be None or the shape of `input_tensor`",
        ),
        (kcv.models.ResNet, {"include_top": False, "pooling": "mean"}, "`pooling` must be one of"),
        (kcv.models.ResNet, {"classifier_activation": "nope"}, "`classifier_activation`"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        testing.stateless(builder, **kwargs)
