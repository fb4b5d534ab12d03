"""SPNet: strip pooling placement (the blocks' inner_attention), counts, errors, layouts.

Paper-size models are built inside ``keras.StatelessScope(initialize_variables=False)``:
weight shapes without initialised values, cheap and backend-independent.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing
from kcv.models import resnet

RESNET50_FEATURES = 23_508_032


def _spm(channels):
    """Official SPBlock(C, C): 3x1 and 1x3 convs + BN, 1x1 conv with bias."""
    return 7 * channels**2 + 5 * channels


def _mpm(channels):
    """Official customize.StripPooling (MPM) on C channels, m = C // 4."""
    m = channels // 4
    return 4 * channels * m + 51 * m**2 + 18 * m + 2 * channels


class _Probe(keras.layers.Layer):
    """Identity that records where it is built: (name of its block, shape)."""

    def __init__(self, log, stage, block, point, **kwargs):
        super().__init__(**kwargs)
        self.record, self.where = log.append, (point, stage, block)  # (Keras copies lists)

    def build(self, input_shape):
        self.record((*self.where, tuple(input_shape[1:])))

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


@pytest.mark.backend_independent
def test_extension_factories_see_every_block_at_two_points():
    calls = []

    def factory(point):
        return lambda stage, block: _Probe(calls, stage, block, point)

    inputs = keras.Input((16, 16, 8))
    with keras.StatelessScope(initialize_variables=False):
        resnet.resnet_stages(
            inputs,
            "bottleneck",
            (2, 1),
            (4, 8),
            (1, 2),
            "channels_last",
            attention=factory("attention"),
            inner_attention=factory("inner"),
        )
    assert calls == [
        ("inner", 0, 0, (16, 16, 4)),
        ("attention", 0, 0, (16, 16, 16)),
        ("inner", 0, 1, (16, 16, 4)),
        ("attention", 0, 1, (16, 16, 16)),
        ("inner", 1, 0, (8, 8, 8)),
        ("attention", 1, 0, (8, 8, 32)),
    ]
    calls.clear()
    with keras.StatelessScope(initialize_variables=False):
        resnet.resnet_stages(
            inputs,
            "basic",
            (1,),
            (8,),
            (2,),
            "channels_last",
            attention=factory("attention"),
            inner_attention=factory("inner"),
        )
    # In a basic block: after the first 3x3, and at the end of the branch.
    assert calls == [("inner", 0, 0, (8, 8, 8)), ("attention", 0, 0, (8, 8, 8))]
    # A factory that returns None leaves the network as it was.
    image = keras.Input((64, 64, 3))
    with keras.StatelessScope(initialize_variables=False):
        extended = keras.Model(
            image,
            resnet.resnet_backbone(image, "channels_last", inner_attention=lambda s, b: None)[-1],
        )
        plain = keras.Model(image, resnet.resnet_backbone(image, "channels_last")[-1])
    assert (
        testing.trainable_parameters(extended)
        == testing.trainable_parameters(plain)
        == RESNET50_FEATURES
    )
    assert len(extended.layers) == len(plain.layers)
    assert all(getattr(layer, "inner_attention", None) is None for layer in extended.layers)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "backbone, last_blocks", [("resnet50", (3, 4, 6)), ("resnet101", (3, 4, 23))]
)
def test_strip_pooling_where_the_official_resnet_puts_it(backbone, last_blocks):
    model = testing.stateless(kcv.models.SPNet, (64, 64, 3), 21, backbone=backbone)
    blocks = [layer for layer in model.layers if isinstance(layer, kcv.layers.Bottleneck)]
    assert not any(isinstance(layer, kcv.layers.StripPooling) for layer in model.layers)
    assert all(block.attention is None for block in blocks)
    with_spm = [block for block in blocks if block.inner_attention is not None]
    assert all(isinstance(block.inner_attention, kcv.layers.StripPooling) for block in with_spm)
    # The last block of stages 2-4, every block of stage 5, after the 3x3 conv (its width):
    # the inner_attention of a bottleneck (its place is checked in tests/test_residual.py).
    expected = [f"conv{s + 2}_block{b}" for s, b in enumerate(last_blocks)]
    assert [block.name for block in with_spm] == expected + [f"conv5_block{b}" for b in (1, 2, 3)]
    widths = [64, 128, 256, 512, 512, 512]
    assert [block.width for block in with_spm] == widths
    assert [testing.trainable_parameters(block.inner_attention) for block in with_spm] == [
        _spm(c) for c in widths
    ]
    conv5 = model.get_layer("conv5_block1")
    assert conv5.output.shape == (None, 8, 8, 2048)  # output stride 8
    assert conv5.conv2[0].dilation_rate == (2, 2)


@pytest.mark.backend_independent
def test_spnet_resnet50_count_follows_the_official_structure():
    model = testing.stateless(kcv.models.SPNet, (64, 64, 3), 21)
    strip_pooling = _spm(64) + _spm(128) + _spm(256) + 3 * _spm(512)
    assert strip_pooling == 6_117_056
    assert (
        testing.trainable_parameters(model.get_layer("mixed_pooling1")) == _mpm(1024) == 4_397_568
    )
    head = (2048 * 1024 + 2 * 1024) + 2 * _mpm(1024) + (9 * 1024 * 512 + 2 * 512) + (512 * 21 + 21)
    assert (
        testing.trainable_parameters(model)
        == RESNET50_FEATURES + strip_pooling + head
        == 45_249_813
    )
    ablation = testing.stateless(kcv.models.SPNet, (64, 64, 3), 21, strip_pooling=False)
    assert (
        testing.trainable_parameters(model) - testing.trainable_parameters(ablation)
        == strip_pooling
    )
    assert model.output_shape == (None, 64, 64, 21)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"backbone": "mobilenet_v2"}, "backbone"),
        ({"backbone": "resnet18"}, "backbone"),
        ({"output_stride": 4}, "output_stride"),
        ({"input_shape": (None, None, 3)}, "input_shape"),
        ({"input_shape": (36, 36, 3)}, "input_shape"),
        ({"weights": "ade20k"}, "weights"),
        ({"pool_sizes": (20,)}, "pool_sizes"),
        ({"dropout": -0.1}, "dropout"),
        ({"classes": 0}, "classes"),
    ],
)
def test_spnet_bad_arguments(kwargs, argument):
    arguments = {"input_shape": (32, 32, 3), "classes": 5, "backbone": "resnet_tiny", **kwargs}
    with pytest.raises(ValueError, match=f"`{argument}`"):
        testing.stateless(kcv.models.SPNet, **arguments)


def test_channels_first_gives_the_same_outputs():
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.utils.set_random_seed(0)
    kwargs = {"classes": 3, "backbone": "resnet_tiny", "pool_sizes": (3, 2)}
    last = kcv.models.SPNet((32, 32, 3), **kwargs)
    testing.randomize_weights(last, seed=0)
    keras.config.set_image_data_format("channels_first")
    first = kcv.models.SPNet((3, 32, 32), **kwargs)
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(last(x, training=False))
    got = keras.ops.convert_to_numpy(first(np.transpose(x, (0, 3, 1, 2)), training=False))
    assert expected.shape == (2, 32, 32, 3)
    atol = 1e-4 * (1 + np.abs(expected).max())
    np.testing.assert_allclose(np.transpose(got, (0, 2, 3, 1)), expected, atol=atol)
