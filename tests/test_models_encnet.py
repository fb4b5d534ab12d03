"""EncNet and its CIFAR network: official counts, outputs, SE-loss training, errors, layouts.

Paper-size models are built inside ``keras.StatelessScope(initialize_variables=False)``:
weight shapes without initialised values, cheap and backend-independent.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import testing
from kcv.models.encnet import EncodingGate

RESNET50_FEATURES = 23_508_032  # torchvision ResNet-50 without its fc (25,557,032 - 2,049,000)
RESNET101_FEATURES = 42_500_160  # 44,549,160 - 2,049,000
ENC_MODULE_512 = 542_304  # PyTorch-Encoding EncModule(512, K=32) without its SE layer


def _enc_head(classes, channels=2048, width=512):
    """Official EncHead without lateral connections: conv5 (3x3 + BN), EncModule, selayer, conv6."""
    return (9 * channels * width + 2 * width) + ENC_MODULE_512 + 2 * (width * classes + classes)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "backbone, features, classes",
    [
        ("resnet50", RESNET50_FEATURES, 21),
        ("resnet50", RESNET50_FEATURES, 59),
        ("resnet101", RESNET101_FEATURES, 150),
    ],
)
def test_encnet_counts_follow_the_official_head(backbone, features, classes):
    model = testing.stateless(kcv.models.EncNet, (64, 64, 3), classes, backbone=backbone)
    encoding = model.get_layer("context_encoding")
    assert testing.trainable_parameters(encoding) == ENC_MODULE_512 + 512 * classes + classes
    assert testing.trainable_parameters(model) == features + _enc_head(classes)
    if classes == 21:
        assert testing.trainable_parameters(model) == 33_510_090
    without_se = testing.stateless(
        kcv.models.EncNet, (64, 64, 3), classes, backbone=backbone, se_loss=False
    )
    assert (
        testing.trainable_parameters(model) - testing.trainable_parameters(without_se)
        == 512 * classes + classes
    )


@pytest.mark.backend_independent
def test_encnet_outputs_and_output_stride():
    model = testing.stateless(
        kcv.models.EncNet, (64, 64, 3), 6, backbone="resnet_tiny", num_codes=8
    )
    assert model.output_names == ["segmentation", "se_logits"]
    assert model.output_shape == [(None, 64, 64, 6), (None, 6)]
    assert model.get_layer("head_conv").input.shape == (None, 8, 8, 256)  # output stride 8
    assert model.get_layer("context_encoding").encoding.num_codes == 8
    plain = testing.stateless(
        kcv.models.EncNet, (64, 64, 3), 6, backbone="resnet_tiny", se_loss=False, output_stride=16
    )
    assert plain.output_names == ["segmentation"] and plain.output_shape == (None, 64, 64, 6)
    assert plain.get_layer("head_conv").input.shape == (None, 4, 4, 256)


def _official_encnet_cifar(widen, codes, classes=10, reduction=4):
    """Trainable parameters of the official CIFAR ``Net`` (``EncBasicBlock``, ``EncLayer``).

    Stem conv 3x3 with bias + BN; per block: two 3x3 convs + BN, ``EncLayer`` (1x1 conv
    with bias + BN, Encoding, linear K·C/r -> C with bias), a 1x1 shortcut with bias and
    no BN where the shape changes; last BN; linear classifier.
    """
    base = 16 * widen
    total = (27 * base + base) + 2 * base
    cin = base
    for width in (base, 2 * base, 4 * base):
        for block in range(2):
            reduced = width // reduction
            total += 9 * cin * width + 2 * width + 9 * width * width + 2 * width
            total += (width * reduced + reduced + 2 * reduced) + (codes * reduced + codes)
            total += codes * reduced * width + width
            if block == 0 and cin != width:
                total += cin * width + width
            cin = width
    return total + 2 * cin + cin * classes + classes


@pytest.mark.backend_independent
@pytest.mark.parametrize("widen, codes", [(1, 4), (4, 16), (8, 32)])
def test_encnet_cifar_counts_against_the_official_structure(widen, codes):
    model = testing.stateless(kcv.models.EncNetCIFAR, widen=widen, num_codes=codes)
    # No biases before BN (stem: 16w, EncLayer 1x1s: 56w); projections with BN (+96w).
    assert (
        testing.trainable_parameters(model)
        == _official_encnet_cifar(widen, codes) - 16 * widen - 56 * widen + 96 * widen
    )
    if (widen, codes) == (4, 16):
        assert testing.trainable_parameters(model) == 3_514_346


@pytest.mark.backend_independent
def test_encnet_cifar_has_14_layers_and_an_encoding_gate_per_block():
    model = testing.stateless(kcv.models.EncNetCIFAR, widen=4, num_codes=16)
    blocks = [layer for layer in model.layers if isinstance(layer, kcv.layers.BasicBlock)]
    nested = [layer for block in blocks for unit in block.units for layer in unit]
    convs_3x3 = [
        layer
        for layer in model.layers + nested
        if isinstance(layer, kcv.layers.Conv2D) and layer.kernel_size == (3, 3)
    ]
    assert len(convs_3x3) + 1 == 14  # 13 convolutions and the classifier
    assert [block.name for block in blocks] == [
        f"conv{s}_block{b}" for s in (2, 3, 4) for b in (1, 2)
    ]
    # The gate is each block's attention: on the residual branch, before the addition.
    gates = [block.attention for block in blocks]
    assert all(isinstance(gate, EncodingGate) for gate in gates)
    assert all(block.inner_attention is None for block in blocks)
    encodings = [gate.encoding for gate in gates]
    assert all(isinstance(encoding, kcv.layers.Encoding) for encoding in encodings)
    # K = 16 codewords of C/4 channels: Encoding outputs (16, 16), (16, 32), (16, 64).
    assert [tuple(encoding.codewords.shape) for encoding in encodings] == [(16, 16)] * 2 + [
        (16, 32)
    ] * 2 + [(16, 64)] * 2
    assert [gate.gate.units for gate in gates] == [64] * 2 + [128] * 2 + [256] * 2
    assert model.get_layer("conv4_block2").output.shape == (None, 8, 8, 256)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "builder, kwargs, argument",
    [
        (kcv.models.EncNet, {"backbone": "mobilenet_v2"}, "backbone"),
        (kcv.models.EncNet, {"backbone": "resnet152"}, "backbone"),
        (kcv.models.EncNet, {"output_stride": 4}, "output_stride"),
        (kcv.models.EncNet, {"input_shape": (60, 60, 3)}, "input_shape"),
        (kcv.models.EncNet, {"weights": "pcontext"}, "weights"),
        (kcv.models.EncNet, {"num_codes": 0}, "num_codes"),
        (kcv.models.EncNet, {"head_filters": 0}, "head_filters"),
        (kcv.models.EncNet, {"dropout": 1.0}, "dropout"),
        (kcv.models.EncNet, {"classes": 0}, "classes"),
    ],
)
def test_encnet_bad_arguments(builder, kwargs, argument):
    arguments = {"input_shape": (64, 64, 3), "classes": 5, "backbone": "resnet_tiny", **kwargs}
    with pytest.raises(ValueError, match=f"`{argument}`"):
        testing.stateless(builder, **arguments)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"widen": 0}, "widen"),
        ({"num_codes": 0}, "num_codes"),
        ({"reduction": 0}, "reduction"),
        ({"widen": 1, "reduction": 32}, "reduction"),
        ({"weights": "cifar10"}, "weights"),
        ({"classes": 0}, "classes"),
    ],
)
def test_encnet_cifar_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        testing.stateless(kcv.models.EncNetCIFAR, **kwargs)


def test_encnet_trains_with_se_loss_and_presence_targets():
    keras.utils.set_random_seed(0)
    classes = 3
    model = kcv.models.EncNet(
        (32, 32, 3), classes, backbone="resnet_tiny", num_codes=4, head_filters=16
    )
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 32, 32, 3)).astype("float32")
    masks = rng.integers(0, classes, (4, 32, 32))
    masks[:, :4] = 255  # ignored pixels count for no class
    masks[0][masks[0] == 2] = 0  # image 0 has no class 2
    presence = keras.ops.convert_to_numpy(kcv.losses.presence_targets(masks, classes))
    assert presence[0].tolist() == [1.0, 1.0, 0.0] and presence[1:].min() == 1.0
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss={
            "segmentation": keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=255
            ),
            "se_logits": kcv.losses.SELoss(weight=0.2),
        },
    )
    history = model.fit(
        images, {"segmentation": masks, "se_logits": presence}, batch_size=4, verbose=0
    )
    losses = history.history
    assert np.isfinite(losses["loss"][0]) and losses["se_logits_loss"][0] > 0
    np.testing.assert_allclose(
        losses["loss"][0], losses["segmentation_loss"][0] + losses["se_logits_loss"][0], rtol=1e-4
    )


@pytest.mark.parametrize(
    "builder, kwargs, input_shape",
    [
        (
            kcv.models.EncNet,
            {
                "classes": 3,
                "backbone": "resnet_tiny",
                "num_codes": 4,
                "head_filters": 16,
                "classifier_activation": "softmax",
            },
            (32, 32, 3),
        ),
        (kcv.models.EncNetCIFAR, {"widen": 1, "num_codes": 4}, (16, 16, 3)),
    ],
)
def test_channels_first_gives_the_same_outputs(builder, kwargs, input_shape):
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.utils.set_random_seed(0)
    last = builder(input_shape=input_shape, **kwargs)
    testing.randomize_weights(last, seed=0)
    keras.config.set_image_data_format("channels_first")
    first = builder(input_shape=input_shape[::-1], **kwargs)
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).standard_normal((2, *input_shape)).astype("float32")
    expected = keras.tree.flatten(last(x, training=False))
    got = keras.tree.flatten(first(np.transpose(x, (0, 3, 1, 2)), training=False))
    for e, g in zip(expected, got):
        e, g = keras.ops.convert_to_numpy(e), keras.ops.convert_to_numpy(g)
        if g.ndim == 4:
            g = np.transpose(g, (0, 2, 3, 1))
        np.testing.assert_allclose(g, e, atol=1e-4 * (1 + np.abs(e).max()))
