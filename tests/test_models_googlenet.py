"""GoogLeNet: the paper's parameter count worked out from Table 1, structure, errors.

Paper-size models are built inside ``keras.StatelessScope(initialize_variables=False)``:
the layers and weight shapes exist, no weight is initialised (on JAX that
would compile one random-number program per weight shape), so these tests
are cheap and backend-independent.
"""

import pytest

import kcv
from kcv import testing

# Table 1: module -> (input channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
TABLE_1 = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}

# Every convolution k·k·cin·cout + cout biases (paper: no BN).
STEM = (7 * 7 * 3 * 64 + 64) + (64 * 64 + 64) + (3 * 3 * 64 * 192 + 192)  # 9,472 + 4,160 + 110,784
MODULES = {  # 1x1 branches share the input: c·(#1x1 + #3x3r + #5x5r + proj), then 3x3, 5x5, biases
    "3a": 192 * 208 + 9 * 96 * 128 + 25 * 16 * 32 + 368,  # 39,936 + 110,592 + 12,800 + 368
    "3b": 256 * 352 + 9 * 128 * 192 + 25 * 32 * 96 + 640,  # 90,112 + 221,184 + 76,800 + 640
    "4a": 480 * 368 + 9 * 96 * 208 + 25 * 16 * 48 + 624,  # 176,640 + 179,712 + 19,200 + 624
    "4b": 512 * 360 + 9 * 112 * 224 + 25 * 24 * 64 + 648,  # 184,320 + 225,792 + 38,400 + 648
    "4c": 512 * 344 + 9 * 128 * 256 + 25 * 24 * 64 + 664,  # 176,128 + 294,912 + 38,400 + 664
    "4d": 512 * 352 + 9 * 144 * 288 + 25 * 32 * 64 + 704,  # 180,224 + 373,248 + 51,200 + 704
    "4e": 528 * 576 + 9 * 160 * 320 + 25 * 32 * 128 + 1024,  # 304,128 + 460,800 + 102,400 + 1,024
    "5a": 832 * 576 + 9 * 160 * 320 + 25 * 32 * 128 + 1024,  # 479,232 + 460,800 + 102,400 + 1,024
    "5b": 832 * 752 + 9 * 192 * 384 + 25 * 48 * 128 + 1264,  # 625,664 + 663,552 + 153,600 + 1,264
}
FC = 1024 * 1000 + 1000
# Auxiliary classifiers at 224x224: 4x4x128 pooled features -> 1024 -> 1000.
AUX = {
    "4a": (512 * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + FC,  # 65,664 + 2,098,176 + 1,025,000
    "4d": (528 * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + FC,  # 67,712 + 2,098,176 + 1,025,000
}


@pytest.mark.backend_independent
def test_table_1_modules_match_the_formula():
    for name, (c, f1, r3, f3, r5, f5, fp) in TABLE_1.items():
        formula = (
            c * (f1 + r3 + r5 + fp) + 9 * r3 * f3 + 25 * r5 * f5 + (f1 + r3 + f3 + r5 + f5 + fp)
        )
        assert MODULES[name] == formula, name


@pytest.mark.backend_independent
def test_paper_parameter_count():
    assert STEM == 124_416
    assert sum(MODULES.values()) == 5_849_136
    expected = STEM + sum(MODULES.values()) + FC
    assert expected == 6_998_552
    assert testing.trainable_parameters(testing.stateless(kcv.models.GoogLeNet)) == expected


@pytest.mark.backend_independent
def test_auxiliary_classifiers_parameter_count_and_outputs():
    assert AUX == {"4a": 3_188_840, "4d": 3_190_888}
    model = testing.stateless(kcv.models.GoogLeNet, aux_logits=True)
    assert testing.trainable_parameters(model) == 6_998_552 + AUX["4a"] + AUX["4d"] == 13_378_280
    assert model.output_shape == [(None, 1000)] * 3
    assert model.get_layer("aux1_pool").input is model.get_layer("inception_4a").output
    assert model.get_layer("aux2_pool").input is model.get_layer("inception_4d").output
    assert model.get_layer("aux1_pool").output.shape == (None, 4, 4, 512)
    assert model.get_layer("aux1_dropout").rate == 0.7


@pytest.mark.backend_independent
def test_batch_norm_variant_parameter_count():
    """BN replaces each bias by (gamma, beta): one more weight per conv channel.

    Conv channels: stem 64 + 64 + 192 = 320 and Σ(#1x1 + #3x3r + #3x3 + #5x5r + #5x5 + proj)
    = 6,960 over the modules. torchvision's googlenet (6,624,904) uses a 3x3 where the
    paper has the 5x5: Σ 16·#5x5r·#5x5 = 380,928 fewer.
    """
    channels = 320 + sum(sum(row[1:]) for row in TABLE_1.values())
    assert channels == 7_280
    model = testing.stateless(kcv.models.GoogLeNet, batch_norm=True)
    assert testing.trainable_parameters(model) == 6_998_552 + channels == 7_005_832
    assert 7_005_832 - sum(16 * row[4] * row[5] for row in TABLE_1.values()) == 6_624_904
    convs = [layer for layer in model.layers if isinstance(layer, kcv.layers.Conv2D)]
    assert convs and not any(layer.use_bias for layer in convs)


@pytest.mark.backend_independent
def test_paper_form_has_conv_biases_and_no_batch_norm():
    model = testing.stateless(kcv.models.GoogLeNet)
    assert not any("bn" in w.path for w in model.weights)
    assert all(
        layer.batch_norm is False
        for layer in model.layers
        if isinstance(layer, kcv.layers.InceptionModule)
    )
    assert all(layer.use_bias for layer in model.layers if isinstance(layer, kcv.layers.Conv2D))


@pytest.mark.backend_independent
def test_feature_map_sizes_follow_table_1():
    model = testing.stateless(kcv.models.GoogLeNet, include_top=False)
    sizes = {
        "conv1": (112, 64),
        "pool1": (56, 64),
        "conv2": (56, 192),
        "pool2": (28, 192),
        "inception_3a": (28, 256),
        "inception_3b": (28, 480),
        "pool3": (14, 480),
        "inception_4a": (14, 512),
        "inception_4e": (14, 832),
        "pool4": (7, 832),
        "inception_5a": (7, 832),
        "inception_5b": (7, 1024),
    }
    for name, (side, channels) in sizes.items():
        assert model.get_layer(name).output.shape == (None, side, side, channels), name
    assert model.output_shape == (None, 7, 7, 1024)
    assert testing.stateless(
        kcv.models.GoogLeNet, include_top=False, pooling="max"
    ).output_shape == (
        None,
        1024,
    )
    top = testing.stateless(kcv.models.GoogLeNet, classes=7, classifier_activation=None)
    assert top.output_shape == (None, 7)
    assert top.get_layer("dropout").rate == 0.4


@pytest.mark.backend_independent
def test_cifar_variant():
    """kuangliu/pytorch-cifar: 6,166,250 parameters with its 7,904 conv biases before BN.

    Conv channels: stem 192 + Σ(#1x1 + #3x3r + #3x3 + #5x5r + 2·#5x5 + proj) = 192 + 6,960 + 752.
    """
    biases = 192 + sum(sum(row[1:]) + row[5] for row in TABLE_1.values())
    assert biases == 7_904
    model = testing.stateless(kcv.models.GoogLeNetCIFAR)
    assert testing.trainable_parameters(model) == 6_166_250 - biases == 6_158_346
    assert model.output_shape == (None, 10)
    for name, side in (
        ("conv1", 32),
        ("inception_3b", 32),
        ("inception_4e", 16),
        ("inception_5b", 8),
    ):
        assert model.get_layer(name).output.shape[1] == side, name
    # The paper's modules on the CIFAR stem: (27·192 + 192) + Σ modules + (1024·10 + 10).
    paper = testing.stateless(kcv.models.GoogLeNetCIFAR, batch_norm=False, factorize_5x5=False)
    assert testing.trainable_parameters(paper) == 5_376 + 5_849_136 + 10_250


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "builder, kwargs, argument",
    [
        (kcv.models.GoogLeNet, {"weights": "imagenet"}, "weights"),
        (kcv.models.GoogLeNetCIFAR, {"weights": "imagenet"}, "weights"),
        (kcv.models.GoogLeNet, {"aux_logits": True, "include_top": False}, "aux_logits"),
        (kcv.models.GoogLeNet, {"aux_logits": True, "input_shape": (64, 64, 3)}, "input_shape"),
        (kcv.models.GoogLeNet, {"aux_logits": True, "input_shape": (None, None, 3)}, "input_shape"),
        (kcv.models.GoogLeNet, {"input_shape": (224, 224)}, "input_shape"),
        (kcv.models.GoogLeNet, {"input_shape": (16, 16, 3)}, "input_shape"),
        (kcv.models.GoogLeNet, {"classes": 0}, "classes"),
        (kcv.models.GoogLeNet, {"include_top": False, "pooling": "sum"}, "pooling"),
        (kcv.models.GoogLeNetCIFAR, {"input_shape": (2, 2, 3)}, "input_shape"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(builder, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}"):
        testing.stateless(builder, **kwargs)


@pytest.mark.backend_independent
def test_any_input_size_without_aux():
    model = testing.stateless(kcv.models.GoogLeNet, input_shape=(None, None, 1), classes=3)
    assert model.output_shape == (None, 3)
