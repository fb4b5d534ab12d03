"""kcv.training: the walk into nested layers reaches every batch normalization.

The independent count is Keras' own list of variables: each BatchNormalization
owns exactly one variable whose path ends in ``moving_mean``.
"""

import keras
import pytest

import kcv
from kcv import catalogue


def _moving_means(model):
    return [v for v in model.non_trainable_variables if v.path.endswith("moving_mean")]


@pytest.mark.parametrize(
    "name", ["resnet18", "se_resnet8_cifar", "msdnet_small", "deeplab_v3_mobilenet"]
)
def test_every_batch_norm_of_a_model_is_reached_once(name):
    case = next(c for c in catalogue.MODEL_CASES if c.name == name)
    with keras.StatelessScope(initialize_variables=False):  # shapes only: cheap on every backend
        model = case.model()
    changed = kcv.training.set_batch_norm_momentum(model, 0.9)
    assert changed == len(_moving_means(model)) > 0
    norms = [
        layer
        for layer in kcv.training.sublayers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(norms) == len({id(layer) for layer in norms}) == changed
    assert all(layer.momentum == 0.9 for layer in norms)


def test_resnet18_has_twenty_batch_norms():
    # He et al. Table 1: the stem, 2 per basic block (8 blocks), 3 projections.
    with keras.StatelessScope(initialize_variables=False):
        model = kcv.models.ResNet(18, input_shape=(32, 32, 3), classes=10)
    assert kcv.training.set_batch_norm_momentum(model, 0.5) == 1 + 16 + 3


def test_a_layer_and_its_extensions_are_walked():
    block = kcv.layers.Bottleneck(
        4,
        strides=2,
        attention=kcv.layers.SqueezeExcite(4),
        inner_attention=kcv.layers.StripPooling(),
    )
    block.build((None, 8, 8, 8))
    found = kcv.training.sublayers(block)
    assert block.attention in found and block.inner_attention in found
    assert kcv.training.set_batch_norm_momentum(block) == len(_moving_means(block))


@pytest.mark.parametrize("momentum", [1.0, -0.1, "0.9"])
def test_bad_momentum_is_named(momentum):
    with pytest.raises(ValueError, match=r"`momentum` must be a number in \[0, 1\)"):
        kcv.training.set_batch_norm_momentum(kcv.layers.BasicBlock(8), momentum)


def test_sublayers_needs_a_layer():
    with pytest.raises(ValueError, match="`layer` must be a keras.layers.Layer"):
        kcv.training.sublayers("resnet")
