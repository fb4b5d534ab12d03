"""ShuffleNet V2: torchvision's parameter counts, MACs, the paper's Table 5, errors.

The counts are torchvision's (``num_params`` of ``ShuffleNet_V2_X0_5_Weights``
... ``X2_0_Weights`` in ``models/shufflenetv2.py``, i.e.
``sum(p.numel() for p in model.parameters())``), an independent reference;
the MACs are torchvision's ``_ops`` (GFLOPS, multiply-adds) and the paper's
Table 5 "FLOPs". Paper-size models are built inside
``keras.StatelessScope(initialize_variables=False)``: weight shapes only.
Forward, compiled and training runs of the catalogue's 0.5x entry are in
tests/test_models.py.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing

TORCHVISION_PARAMS = {0.5: 1_366_792, 1.0: 2_278_604, 1.5: 3_503_624, 2.0: 7_393_996}
TORCHVISION_GFLOPS = {0.5: 0.04, 1.0: 0.145, 1.5: 0.296, 2.0: 0.583}
PAPER_MFLOPS = {0.5: 41, 1.0: 146, 1.5: 299, 2.0: 591}  # Table 5
# Table 5: output channels of stage2, stage3, stage4 and conv5.
PAPER_WIDTHS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}


def _units(model):
    return [layer for layer in model.layers if isinstance(layer, kcv.layers.ShuffleNetV2Unit)]


@pytest.mark.backend_independent
@pytest.mark.parametrize("scale", sorted(TORCHVISION_PARAMS))
def test_counts_equal_torchvision(scale):
    model = testing.stateless(kcv.models.ShuffleNetV2, scale)
    assert testing.trainable_parameters(model) == TORCHVISION_PARAMS[scale]
    assert model.name == "shufflenet_v2_x" + {0.5: "0_5", 1.0: "1_0", 1.5: "1_5", 2.0: "2_0"}[scale]
    assert model.output_shape == (None, 1000)


@pytest.mark.backend_independent
@pytest.mark.parametrize("scale", sorted(TORCHVISION_PARAMS))
def test_macs_agree_with_torchvision_and_the_paper(scale):
    macs = kcv.analysis.count_macs(testing.stateless(kcv.models.ShuffleNetV2, scale))
    # torchvision's figures are rounded to 3 decimals of GFLOPS (0.04: to 2).
    tolerance = 0.015 if scale == 0.5 else 0.005
    assert macs / (TORCHVISION_GFLOPS[scale] * 1e9) == pytest.approx(1, abs=tolerance)
    # The paper's Table 5 counts 0.8-1.4% more (it does not say what else it counts).
    assert macs / (PAPER_MFLOPS[scale] * 1e6) == pytest.approx(1, abs=0.02)


@pytest.mark.backend_independent
@pytest.mark.parametrize("scale", sorted(PAPER_WIDTHS))
def test_structure_follows_table_5(scale):
    model = testing.stateless(kcv.models.ShuffleNetV2, scale, include_top=False)
    units = _units(model)
    assert [u.name for u in units] == (
        [f"stage2_unit{i}" for i in range(1, 5)]
        + [f"stage3_unit{i}" for i in range(1, 9)]
        + [f"stage4_unit{i}" for i in range(1, 5)]
    )
    assert [u.strides for u in units] == ([2] + [1] * 3) + ([2] + [1] * 7) + ([2] + [1] * 3)
    stage2, stage3, stage4, conv5 = PAPER_WIDTHS[scale]
    assert [u.filters for u in units] == [stage2] * 4 + [stage3] * 8 + [stage4] * 4
    # Output sizes of Table 5 at 224x224: conv1 112, max pool 56, stages 28, 14, 7.
    assert model.get_layer("conv1").output.shape == (None, 112, 112, 24)
    assert model.get_layer("maxpool").output.shape == (None, 56, 56, 24)
    assert model.get_layer("stage2_unit4").output.shape == (None, 28, 28, stage2)
    assert model.get_layer("stage3_unit8").output.shape == (None, 14, 14, stage3)
    assert model.output_shape == (None, 7, 7, conv5)


@pytest.mark.backend_independent
def test_top_and_pooling():
    model = testing.stateless(kcv.models.ShuffleNetV2, 0.5, include_top=False, pooling="avg")
    assert model.output_shape == (None, 1024)
    model = testing.stateless(
        kcv.models.ShuffleNetV2, 1.0, classes=7, classifier_activation=None, name="net"
    )
    assert model.output_shape == (None, 7) and model.name == "net"
    assert model.get_layer("predictions").activation is keras.activations.linear
    # The classifier sits on the 1024 pooled conv5 features.
    assert (
        testing.trainable_parameters(model)
        == TORCHVISION_PARAMS[1.0] - 1024 * 1000 - 1000 + 1024 * 7 + 7
    )


@pytest.mark.backend_independent
def test_input_tensor_and_channels():
    tensor = keras.Input((64, 64, 1))
    model = testing.stateless(kcv.models.ShuffleNetV2, 0.5, input_tensor=tensor, classes=3)
    assert model.input_shape == (None, 64, 64, 1) and model.output_shape == (None, 3)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"scale": 0.75}, "scale"),
        ({"scale": 3}, "scale"),
        ({"scale": "1.0"}, "scale"),
        ({"scale": True}, "scale"),
        ({"weights": "imagenet"}, "weights"),
        ({"input_shape": (16, 16, 3)}, "input_shape"),
        ({"input_shape": (224, 224)}, "input_shape"),
        ({"classes": 0}, "classes"),
        ({"include_top": False, "pooling": "min"}, "pooling"),
        ({"include_top": "yes"}, "include_top"),
        ({"classifier_activation": "nope"}, "classifier_activation"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}` must be"):
        testing.stateless(kcv.models.ShuffleNetV2, **kwargs)


def test_scale_message_lists_the_scales():
    with pytest.raises(ValueError, match=r"`scale` must be one of 0.5, 1.0, 1.5, 2.0"):
        testing.stateless(kcv.models.ShuffleNetV2, 0.75)


def test_runs_and_channels_first_gives_the_same_outputs():
    keras.utils.set_random_seed(0)
    last = kcv.models.ShuffleNetV2(0.5, input_shape=(33, 33, 3), classes=5)
    testing.randomize_weights(last, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 33, 33, 3)).astype("float32")
    expected = last.predict(x, verbose=0)
    assert expected.shape == (2, 5) and np.all(np.isfinite(expected))
    np.testing.assert_allclose(expected.sum(axis=1), 1, rtol=1e-5)  # softmax
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.config.set_image_data_format("channels_first")
    first = kcv.models.ShuffleNetV2(0.5, input_shape=(3, 33, 33), classes=5)
    first.set_weights(last.get_weights())
    got = first.predict(np.transpose(x, (0, 3, 1, 2)), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
