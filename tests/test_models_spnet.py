"""SPNet: strip pooling placement (the block hook of resnet_stages), counts, errors, layouts.

Paper-size models are built inside ``keras.StatelessScope(initialize_variables=False)``:
weight shapes without initialised values, cheap and backend-independent.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing
from kcv.models import senet

RESNET50_FEATURES = 23_508_032


def _stateless(builder, *args, **kwargs):
    with keras.StatelessScope(initialize_variables=False):
        return builder(*args, **kwargs)


def _trainable(model_or_layer):
    return int(sum(np.prod(w.shape) for w in model_or_layer.trainable_weights))


def _spm(channels):
    """Official SPBlock(C, C): 3x1 and 1x3 convs + BN, 1x1 conv with bias."""
    return 7 * channels**2 + 5 * channels


def _mpm(channels):
    """Official customize.StripPooling (MPM) on C channels, m = C // 4."""
    m = channels // 4
    return 4 * channels * m + 51 * m**2 + 18 * m + 2 * channels


@pytest.mark.backend_independent
def test_block_hook_sees_every_block_at_two_points():
    calls = []

    def hook(x, point, stage, block, name):
        calls.append((point, stage, block, name, tuple(x.shape[1:])))
        return x

    inputs = keras.Input((16, 16, 8))
    with keras.StatelessScope(initialize_variables=False):
        senet.resnet_stages(
            inputs, "bottleneck", (2, 1), (4, 8), (1, 2), "channels_last", block_hook=hook
        )
    assert calls == [
        ("inner", 0, 0, "conv2_block1", (16, 16, 4)),
        ("residual", 0, 0, "conv2_block1", (16, 16, 16)),
        ("inner", 0, 1, "conv2_block2", (16, 16, 4)),
        ("residual", 0, 1, "conv2_block2", (16, 16, 16)),
        ("inner", 1, 0, "conv3_block1", (8, 8, 8)),
        ("residual", 1, 0, "conv3_block1", (8, 8, 32)),
    ]
    calls.clear()
    with keras.StatelessScope(initialize_variables=False):
        senet.resnet_stages(
            inputs, "basic", (1,), (8,), (2,), "channels_last", reduction=4, block_hook=hook
        )
    # In a basic block: after the first 3x3, and after SE at the end of the branch.
    assert [c[0] for c in calls] == ["inner", "residual"] and calls[0][4] == (8, 8, 8)
    # A hook that returns its input leaves the network as it was.
    image = keras.Input((64, 64, 3))
    with keras.StatelessScope(initialize_variables=False):
        hooked = keras.Model(
            image,
            senet.resnet_backbone(
                image, "channels_last", reduction=None, block_hook=lambda x, *args, **kw: x
            )[-1],
        )
        plain = keras.Model(
            image, senet.resnet_backbone(image, "channels_last", reduction=None)[-1]
        )
    assert _trainable(hooked) == _trainable(plain) == RESNET50_FEATURES
    assert len(hooked.layers) == len(plain.layers)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "backbone, last_blocks", [("resnet50", (3, 4, 6)), ("resnet101", (3, 4, 23))]
)
def test_strip_pooling_where_the_official_resnet_puts_it(backbone, last_blocks):
    model = _stateless(kcv.models.SPNet, (64, 64, 3), 21, backbone=backbone)
    spm = [layer for layer in model.layers if isinstance(layer, kcv.layers.StripPooling)]
    # The last block of stages 2-4, every block of stage 5, after the 3x3 conv (its width).
    expected = [f"conv{s + 2}_block{b}_spm" for s, b in enumerate(last_blocks)]
    assert [layer.name for layer in spm] == expected + [f"conv5_block{b}_spm" for b in (1, 2, 3)]
    assert [layer.input.shape[-1] for layer in spm] == [64, 128, 256, 512, 512, 512]
    assert model.get_layer("conv5_block1_spm").input.shape == (None, 8, 8, 512)  # output stride 8
    assert model.get_layer("conv5_block1_conv3").input is model.get_layer("conv5_block1_spm").output


@pytest.mark.backend_independent
def test_spnet_resnet50_count_follows_the_official_structure():
    model = _stateless(kcv.models.SPNet, (64, 64, 3), 21)
    strip_pooling = _spm(64) + _spm(128) + _spm(256) + 3 * _spm(512)
    assert strip_pooling == 6_117_056
    assert _trainable(model.get_layer("mixed_pooling1")) == _mpm(1024) == 4_397_568
    head = (2048 * 1024 + 2 * 1024) + 2 * _mpm(1024) + (9 * 1024 * 512 + 2 * 512) + (512 * 21 + 21)
    assert _trainable(model) == RESNET50_FEATURES + strip_pooling + head == 45_249_813
    ablation = _stateless(kcv.models.SPNet, (64, 64, 3), 21, strip_pooling=False)
    assert _trainable(model) - _trainable(ablation) == strip_pooling
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
        _stateless(kcv.models.SPNet, **arguments)


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
