"""kcv.weights: torchvision's (and timm's) weights give their logits on every backend.

The reference networks are torchvision's, and timm's SE-ResNet-50, rewritten
in plain ``torch.nn`` (tests/torch_references.py: neither torchvision nor
timm can be installed beside this machine's PyTorch), with random weights and
random BN statistics. Each parity test loads a reference's
``state_dict()`` into the kcv model built with ``convention="torchvision"``
(PyTorch's padding and BN epsilon) and compares logits on random images;
PyTorch runs in this process whatever ``KERAS_BACKEND`` is.

Tolerance: ``max |kcv - torch| <= 1e-4 · max |torch|``, relative to the
logits' scale (0.03 to 440 here: random networks). Both sides compute in
float32 through 10 to 70 layers (measured: at most 6e-6 of the scale), so
1e-4 leaves a margin of more than 10; the arithmetic the convention fixes
moves the logits far more (BN epsilon 1e-3 instead of 1e-5: more than 10x
the tolerance, see test_the_tolerance_sees_the_bn_epsilon; "same" padding:
of the order of the logits themselves, 0.7x to 2x their scale).

Every full torchvision configuration (each depth, width and BN variant) is
checked name by name and shape by shape without computing
(``keras.StatelessScope``). The forward comparisons run one or two full
configurations per family (ResNet-18, ResNeXt-50 32x4d, VGG-11-BN, AlexNet,
SqueezeNet 1.0 and 1.1, ShuffleNetV2 x1.0, MobileNetV2, MobileNetV3-Small,
GoogLeNet at 88x88 with and without its auxiliary classifiers, timm's
SE-ResNet-50 at 64x64, DeepLabV3-ResNet-50 at 128x128 with 5 classes: the
deeper or wider ones, DeepLabV3-ResNet-101 too, repeat the same blocks, and
cost JAX more compilation than this file's budget of about two minutes per
backend) and two narrowed ones (VGG-11 without BN and the channels_first
AlexNet, dense layers of 64 units), at 64x64: VGG at 32x32 (its classifier
repeats the 1x1 map), AlexNet at 224x224, where its classifier sees a real
6x6 map, so that PyTorch's ``(C, H, W)`` flattening order is tested in both
formats (and GoogLeNet's auxiliary ``fc1`` on its 4x4 maps).
"""

import functools
import hashlib
import os
import sys
import types

import keras
import numpy as np
import pytest
import torch
import torch_references as tr

import kcv
from kcv import backend

TOLERANCE = 1e-4


@pytest.fixture(autouse=True)
def _seeded_torch():
    """The references' random weights are the same in every run."""
    torch.manual_seed(0)


def _images(size, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 3, size, size)).astype("float32")


def _logits(model, x):
    """The kcv model's output for NCHW images ``x``; maps (segmentation) in PyTorch's NCHW."""
    channels_last = keras.config.image_data_format() == "channels_last"
    if channels_last:
        x = x.transpose(0, 2, 3, 1)
    logits = np.asarray(model.predict(x, batch_size=len(x), verbose=0))
    return logits.transpose(0, 3, 1, 2) if channels_last and logits.ndim == 4 else logits


def _input_shape(size):
    if keras.config.image_data_format() == "channels_last":
        return (size, size, 3)
    return (3, size, size)


def _assert_parity(reference, model, size, batch=2, source=None):
    """Loads ``reference``'s state dict (or ``source``) into ``model``; compares logits.

    Returns:
        ``(torch logits, max |diff|)``.
    """
    x = _images(size, batch)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    source = reference.state_dict() if source is None else source
    assert kcv.weights.load_torchvision(model, source) is model
    error = np.abs(_logits(model, x) - expected).max()
    scale = np.abs(expected).max()
    assert error <= TOLERANCE * scale, f"max |diff| {error:.3g} at logit scale {scale:.3g}"
    return expected, error


LOGITS = {"convention": "torchvision", "classifier_activation": None}


def _deeplabv3(input_shape, classes, backbone, convention="torchvision"):
    """torchvision's deeplabv3_resnet50 / _resnet101 network: output stride 8, DeepLabHead."""
    return kcv.models.DeepLabV3(
        input_shape, classes, backbone=backbone, output_stride=8, convention=convention
    )


# builder of the torch reference, builder of the kcv model (input shape -> model), input size
PARITY = {
    "resnet18": (
        lambda: tr.resnet(18),
        lambda s: kcv.models.ResNet(18, input_shape=s, **LOGITS),
        64,
    ),
    "resnext50_32x4d": (
        lambda: tr.resnet(50, groups=32, width_per_group=4),
        lambda s: kcv.models.ResNeXt(50, 32, 4, input_shape=s, **LOGITS),
        64,
    ),
    "vgg11_narrow": (
        lambda: tr.VGG(11, fc_units=64),
        lambda s: kcv.models.VGG(11, input_shape=s, fc_units=64, **LOGITS),
        32,
    ),
    "vgg11_bn": (
        lambda: tr.VGG(11, batch_norm=True),
        lambda s: kcv.models.VGG(11, True, input_shape=s, **LOGITS),
        32,
    ),
    "alexnet_224": (
        tr.AlexNet,
        lambda s: kcv.models.AlexNet("torchvision", input_shape=s, **LOGITS),
        224,
    ),
    "alexnet_224_narrow": (
        lambda: tr.AlexNet(fc_units=64),
        lambda s: kcv.models.AlexNet("torchvision", input_shape=s, fc_units=64, **LOGITS),
        224,
    ),
    "squeezenet1_0": (
        lambda: tr.SqueezeNet("1_0"),
        lambda s: kcv.models.SqueezeNet("1.0", input_shape=s, **LOGITS),
        64,
    ),
    "shufflenet_v2_x1_0": (
        lambda: tr.ShuffleNetV2(1.0),
        lambda s: kcv.models.ShuffleNetV2(1.0, input_shape=s, **LOGITS),
        64,
    ),
    "mobilenet_v2": (
        tr.MobileNetV2,
        lambda s: kcv.models.MobileNetV2(input_shape=s, **LOGITS),
        64,
    ),
    "mobilenet_v3_small": (
        lambda: tr.MobileNetV3("small"),
        lambda s: kcv.models.MobileNetV3("small", input_shape=s, **LOGITS),
        64,
    ),
    # 88x88: odd maps (11, 5, 3 pixels) where ceil-mode pooling differs from "same"; the
    # reference has the auxiliary classifiers, the model not: their keys are ignored.
    "googlenet": (
        tr.GoogLeNet,
        lambda s: kcv.models.GoogLeNet(input_shape=s, **LOGITS),
        88,
    ),
    # 128x128: 16x16 features at output stride 8, where ASPP's rate-12 taps reach real
    # pixels; 5 classes. The reference has the auxiliary classifier, the model not.
    "deeplabv3_resnet50": (
        lambda: tr.DeepLabV3(50, num_classes=5),
        lambda s: _deeplabv3(s, 5, "resnet50"),
        128,
    ),
}


def _pair(name):
    torch_builder, kcv_builder, size = PARITY[name]
    reference = tr.randomize(torch_builder(), image_size=min(size, 64))
    return reference, kcv_builder(_input_shape(size)), size


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(PARITY) - {"alexnet_224_narrow"}))
def test_torchvision_weights_give_torchvision_logits(name):
    reference, model, size = _pair(name)
    _assert_parity(reference, model, size, batch=1 if size == 224 else 2)


@pytest.mark.backend_independent
def test_the_tolerance_sees_the_bn_epsilon():
    """The comparison is sharp: Keras' BN epsilon (1e-3) instead of torchvision's (1e-5)
    moves ResNet-18's logits by more than 10x the tolerance."""
    reference = tr.randomize(tr.resnet(18))
    x = torch.from_numpy(_images(64))
    with torch.no_grad():
        expected = reference(x).numpy()
        for norm in reference.modules():
            if isinstance(norm, torch.nn.BatchNorm2d):
                norm.eps = 1e-3
        shift = np.abs(reference(x).numpy() - expected).max()
    assert shift > 10 * TOLERANCE * np.abs(expected).max()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["resnet18", "mobilenet_v3_small", "alexnet_224_narrow", "deeplabv3_resnet50"]
)
def test_channels_first_models_take_the_same_weights(name):
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.config.set_image_data_format("channels_first")
    reference, model, size = _pair(name)
    _assert_parity(reference, model, size, batch=1 if size == 224 else 2)


@pytest.mark.slow
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_googlenet_auxiliary_classifiers_give_torchvisions_logits(data_format):
    """aux1 and aux2 load when the model has them: the three outputs are torchvision's.

    At 88x88 inception (4a) and (4d) are 11x11 maps, which torchvision's
    ``adaptive_avg_pool2d(x, (4, 4))`` averages in windows of 3 and 4 pixels;
    their ``fc1`` reads PyTorch's (C, H, W) flattening, in both data formats.
    """
    if data_format == "channels_first":
        supported, reason = backend.channels_first_support()
        if not supported:
            pytest.skip(reason)
        keras.config.set_image_data_format("channels_first")
    reference = tr.randomize(tr.GoogLeNet())
    model = kcv.models.GoogLeNet(input_shape=_input_shape(88), aux_logits=True, **LOGITS)
    kcv.weights.load_torchvision(model, reference.state_dict())
    x = _images(88)
    with torch.no_grad():
        expected = [out.numpy() for out in reference.all_logits(torch.from_numpy(x))]
    for name, got, want in zip(("main", "aux1", "aux2"), _logits_list(model, x), expected):
        error, scale = np.abs(got - want).max(), np.abs(want).max()
        assert error <= TOLERANCE * scale, f"{name}: max |diff| {error:.3g} at scale {scale:.3g}"


def _logits_list(model, x):
    if keras.config.image_data_format() == "channels_last":
        x = x.transpose(0, 2, 3, 1)
    return [np.asarray(out) for out in model.predict(x, batch_size=len(x), verbose=0)]


@pytest.mark.backend_independent
def test_torchvision_googlenet_structure():
    """Map sizes of torchvision's ceil-mode pools at 88x88 (odd maps: 11, 5, 3, where Keras'
    "same" gives 11, 6, 3), the 2x2 pool4, a 3x3 in each third branch, and the config."""
    model = _stateless(
        kcv.models.GoogLeNet, input_shape=(88, 88, 3), include_top=False, convention="torchvision"
    )
    sides = {"conv1": 44, "pool1": 22, "pool2": 11, "pool3": 5, "pool4": 3, "inception_5b": 3}
    for name, side in sides.items():
        assert model.get_layer(name).output.shape[1:3] == (side, side), name
    assert model.get_layer("pool4").pool_size == (2, 2)
    assert model.get_layer("pool1_pad").padding == ((0, 1), (0, 1))
    module = model.get_layer("inception_4a")
    assert module.wide_kernel == 3 and module.branches[2][3].kernel_size == (3, 3)
    clone = type(module).from_config(module.get_config())
    assert clone.get_config() == module.get_config()
    with pytest.raises(ValueError, match=r"`wide_kernel` must be 5 with factorize_5x5=True"):
        kcv.layers.InceptionModule(8, 8, 8, 8, 8, 8, factorize_5x5=True, wide_kernel=3)
    with pytest.raises(ValueError, match=r"`wide_kernel` must be one of 5, 3"):
        kcv.layers.InceptionModule(8, 8, 8, 8, 8, 8, wide_kernel=7)
    with pytest.raises(ValueError, match=r"`convention` must be one of 'keras', 'torchvision'"):
        kcv.models.GoogLeNet(convention="caffe")


@pytest.mark.backend_independent
def test_googlenet_preprocessing_folds_transform_input():
    """torchvision's pretrained GoogLeNet re-normalises its ImageNet-normalised input
    (``transform_input=True``); kcv's preprocessing for it normalises with mean and std 0.5
    in one step, and the network without transform_input gives the same logits on it."""
    image = np.random.default_rng(3).integers(0, 256, (90, 120, 3), dtype="uint8")
    ours = kcv.weights.preprocessing("GoogLeNet_Weights.IMAGENET1K_V1")
    assert (ours.resize_size, ours.crop_size, ours.mean, ours.std) == (
        256,
        224,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
    )
    imagenet = kcv.weights.Preprocessing("imagenet", 72, 64)
    folded = kcv.weights.Preprocessing("googlenet", 72, 64, ours.mean, ours.std)
    x_imagenet = torch.from_numpy(imagenet(image, "channels_first")[None])
    x_folded = torch.from_numpy(folded(image, "channels_first")[None])
    reference = tr.randomize(tr.GoogLeNet(aux_logits=False))
    with torch.no_grad():
        expected = reference(x_folded).numpy()
        reference.transform_input = True
        got = reference(x_imagenet).numpy()
    assert np.abs(got - expected).max() <= TOLERANCE * np.abs(expected).max()


@pytest.mark.slow
def test_a_model_without_its_classifier_takes_a_full_state_dict():
    reference = tr.randomize(tr.resnet(18))
    model = kcv.models.ResNet(
        18, include_top=False, pooling="avg", input_shape=_input_shape(64), convention="torchvision"
    )
    kcv.weights.load_torchvision(model, reference.state_dict())  # fc.* ignored
    x = _images(64)
    reference.fc = torch.nn.Identity()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_logits(model, x), expected, atol=TOLERANCE * np.abs(expected).max())


@pytest.mark.slow
def test_state_dict_files_and_numpy_arrays_load_like_the_dict(tmp_path):
    """SqueezeNet 1.1 from a .pth file, then from NumPy arrays (the parity test of 1.1)."""
    reference = tr.randomize(tr.SqueezeNet("1_1"))
    path = tmp_path / "squeezenet1_1.pth"
    torch.save(reference.state_dict(), path)
    model = kcv.models.SqueezeNet("1.1", input_shape=_input_shape(64), **LOGITS)
    _assert_parity(reference, model, 64, source=str(path))
    other = tr.SqueezeNet("1_1").eval()  # other random weights
    numpy_state = {k: v.numpy() for k, v in other.state_dict().items()}
    _assert_parity(other, model, 64, source=numpy_state)


# --- every torchvision configuration: names and shapes ------------------------------------

# torchvision builder name: (torch reference on the meta device, kcv model)
RESNETS = (18, 34, 50, 101, 152)
CONFIGURATIONS = {
    **{f"resnet{d}": (lambda d=d: tr.resnet(d), kcv.models.ResNet, (d,)) for d in RESNETS},
    "resnext50_32x4d": (
        lambda: tr.resnet(50, groups=32, width_per_group=4),
        kcv.models.ResNeXt,
        (50, 32, 4),
    ),
    "resnext101_32x8d": (
        lambda: tr.resnet(101, groups=32, width_per_group=8),
        kcv.models.ResNeXt,
        (101, 32, 8),
    ),
    "resnext101_64x4d": (
        lambda: tr.resnet(101, groups=64, width_per_group=4),
        kcv.models.ResNeXt,
        (101, 64, 4),
    ),
    "wide_resnet50_2": (
        lambda: tr.resnet(50, width_per_group=128),
        kcv.models.ResNeXt,
        (50, 1, 128),
    ),
    "wide_resnet101_2": (
        lambda: tr.resnet(101, width_per_group=128),
        kcv.models.ResNeXt,
        (101, 1, 128),
    ),
    **{
        f"vgg{d}{'_bn' if bn else ''}": (lambda d=d, bn=bn: tr.VGG(d, bn), kcv.models.VGG, (d, bn))
        for d in (11, 13, 16, 19)
        for bn in (False, True)
    },
    "alexnet": (tr.AlexNet, kcv.models.AlexNet, ("torchvision",)),
    "squeezenet1_0": (lambda: tr.SqueezeNet("1_0"), kcv.models.SqueezeNet, ("1.0",)),
    "squeezenet1_1": (lambda: tr.SqueezeNet("1_1"), kcv.models.SqueezeNet, ("1.1",)),
    **{
        f"shufflenet_v2_x{str(s).replace('.', '_')}": (
            lambda s=s: tr.ShuffleNetV2(s),
            kcv.models.ShuffleNetV2,
            (s,),
        )
        for s in (0.5, 1.0, 1.5, 2.0)
    },
    "mobilenet_v2": (tr.MobileNetV2, kcv.models.MobileNetV2, ()),
    "mobilenet_v3_large": (lambda: tr.MobileNetV3("large"), kcv.models.MobileNetV3, ("large",)),
    "mobilenet_v3_small": (lambda: tr.MobileNetV3("small"), kcv.models.MobileNetV3, ("small",)),
    "googlenet": (lambda: tr.GoogLeNet(aux_logits=False), kcv.models.GoogLeNet, ()),
    "googlenet_aux": (tr.GoogLeNet, functools.partial(kcv.models.GoogLeNet, aux_logits=True), ()),
    # without the auxiliary classifier, which kcv does not build (see the test below)
    **{
        f"deeplabv3_resnet{d}": (
            lambda d=d: tr.DeepLabV3(d, aux=False),
            functools.partial(_deeplabv3, (64, 64, 3), 21),
            (f"resnet{d}",),
        )
        for d in (50, 101)
    },
}
# torchvision's parameter counts (``meta["num_params"]`` of the weights): the references are
# torchvision's networks.
NUM_PARAMS = {
    "resnet18": 11_689_512,
    "resnet152": 60_192_808,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "vgg19_bn": 143_678_248,
    "alexnet": 61_100_840,
    "squeezenet1_0": 1_248_424,
    "shufflenet_v2_x2_0": 7_393_996,
    "mobilenet_v2": 3_504_872,
    "mobilenet_v3_small": 2_542_856,
    "googlenet": 6_624_904,
    "googlenet_aux": 13_004_888,  # + aux1 3,188,968 + aux2 3,191,016 (no meta count)
    # meta["num_params"] 42,004,074 and 60,996,202 less aux_classifier (FCNHead(1024, 21))
    "deeplabv3_resnet50": 39_638_869,
    "deeplabv3_resnet101": 58_630_997,
}


def _shapes_only(torch_builder):
    """The reference's state dict as zero arrays of its shapes (built on the meta device)."""
    with torch.device("meta"):
        module = torch_builder()
    zero = np.float32(0)
    return module, {k: np.broadcast_to(zero, v.shape) for k, v in module.state_dict().items()}


def _stateless(builder, **kwargs):
    with keras.StatelessScope(initialize_variables=False):
        return builder(**kwargs)


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_torchvision_configuration_maps_name_by_name(name):
    torch_builder, kcv_builder, args = CONFIGURATIONS[name]
    module, state = _shapes_only(torch_builder)
    if name in NUM_PARAMS:
        assert sum(p.numel() for p in module.parameters()) == NUM_PARAMS[name]
    with keras.StatelessScope(initialize_variables=False):
        model = kcv_builder(*args, convention="torchvision")
        kcv.weights.load_torchvision(model, state)  # every key and shape fits
    if name in NUM_PARAMS:
        assert kcv.analysis.count_params(model) == NUM_PARAMS[name]
    if name in kcv.weights.ARCHITECTURES:  # the zoo's table: the count, the weight sets
        library, prefix, _, count = kcv.weights.ARCHITECTURES[name]
        assert sum(p.numel() for p in module.parameters()) == count
        sets = [n for n in kcv.weights.TORCHVISION_WEIGHTS if n.startswith(f"{prefix}.")]
        assert sets and kcv.weights.weight_sets(model) == [(library, n) for n in sets]


_DEEPLAB_ARGS = {"input_shape": (64, 64, 3), "classes": 21, "backbone": "resnet50"}


@pytest.mark.backend_independent
def test_deeplabv3_ignores_the_auxiliary_classifier():
    """torchvision's pretrained deeplabv3_resnet50 holds aux_classifier (FCNHead(1024, 21) on
    layer3: 2,365,205 parameters; 42,004,074 in all, its meta["num_params"]); kcv builds no
    auxiliary head and loads the rest. The same state dict less a classifier key is refused."""
    module, state = _shapes_only(lambda: tr.DeepLabV3(50))
    assert sum(p.numel() for p in module.parameters()) == 42_004_074
    aux = sum(p.numel() for p in module.aux_classifier.parameters())
    assert aux == 9 * 1024 * 256 + 2 * 256 + 256 * 21 + 21 == 2_365_205
    assert any(key.startswith("aux_classifier.") for key in state)
    with keras.StatelessScope(initialize_variables=False):
        model = _deeplabv3((64, 64, 3), 21, "resnet50")
        kcv.weights.load_torchvision(model, state)
    assert kcv.analysis.count_params(model) == 42_004_074 - aux
    assert model.get_layer("aspp").rates == (12, 24, 36)
    del state["classifier.1.weight"]
    with pytest.raises(ValueError, match=r"missing 1 key.*classifier\.1\.weight"):
        kcv.weights.load_torchvision(_stateless(_deeplabv3, **_DEEPLAB_ARGS), state)


@pytest.mark.backend_independent
def test_weight_sets_fit_the_architecture_only():
    with keras.StatelessScope(initialize_variables=False):
        assert kcv.weights.weight_sets(kcv.models.ResNet(50)) == [
            ("torchvision", "ResNet50_Weights.IMAGENET1K_V1"),
            ("torchvision", "ResNet50_Weights.IMAGENET1K_V2"),
        ]
        assert kcv.weights.weight_sets(kcv.models.ResNet(50, classes=10)) == []
        assert kcv.weights.weight_sets(kcv.models.GoogLeNet(batch_norm=True)) == []  # 5x5s
        assert kcv.weights.weight_sets(kcv.models.GoogLeNetCIFAR()) == []
        assert kcv.weights.weight_sets(kcv.models.MobileNetV1()) == []
        # the paper's DeepLabV3 head (no 3x3 convolution after ASPP) is not torchvision's
        assert kcv.weights.weight_sets(_deeplabv3((64, 64, 3), 21, "resnet50", "keras")) == []
        assert kcv.weights.weight_sets(_deeplabv3((64, 64, 3), 21, "resnet101")) == [
            ("torchvision", "DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1")
        ]
        assert kcv.weights.weight_sets(kcv.models.SEResNet50()) == [
            ("timm", name) for name in kcv.weights.TIMM_WEIGHTS
        ]
    with pytest.raises(ValueError, match=r"`model` must be a keras.Model"):
        kcv.weights.weight_sets(kcv.layers.BasicBlock(8))


# --- timm's SE-ResNet-50 ----------------------------------------------------------------------


def _se_resnet50(input_shape=(224, 224, 3), **kwargs):
    """kcv.models.SEResNet50 with PyTorch's padding and BN epsilon, returning logits."""
    return kcv.models.SEResNet50(
        input_shape=input_shape, classifier_activation=None, convention="torchvision", **kwargs
    )


@pytest.mark.backend_independent
def test_timm_seresnet50_maps_name_by_name():
    """timm's seresnet50 (28,088,024 parameters: ``pretrained_cfg`` of its weights) is
    kcv.models.SEResNet50's network; every key and shape fits."""
    module, state = _shapes_only(lambda: tr.seresnet(50))
    assert sum(p.numel() for p in module.parameters()) == 28_088_024
    assert sum(key.endswith((".se.fc1.weight", ".se.fc2.bias")) for key in state) == 2 * 16
    with keras.StatelessScope(initialize_variables=False):
        model = _se_resnet50()
        paper = kcv.models.SEResNet50()
        kcv.weights.load_timm(model, state)
    assert kcv.analysis.count_params(model) == kcv.analysis.count_params(paper) == 28_088_024


@pytest.mark.slow
def test_timm_weights_give_timms_logits():
    reference = tr.randomize(tr.seresnet(50))
    x = _images(64)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    model = _se_resnet50(_input_shape(64))
    assert kcv.weights.load_timm(model, reference.state_dict()) is model
    error, scale = np.abs(_logits(model, x) - expected).max(), np.abs(expected).max()
    assert error <= TOLERANCE * scale, f"max |diff| {error:.3g} at logit scale {scale:.3g}"


def test_timm_weights_need_an_se_resnet_with_pytorchs_arithmetic():
    _, state = _shapes_only(lambda: tr.seresnet(50))
    with pytest.raises(ValueError, match=r"`model` must be a kcv SE-ResNet .* received resnet18"):
        kcv.weights.load_timm(_resnet18(), state)
    keras_se = _stateless(kcv.models.SEResNet50)
    with pytest.raises(
        ValueError,
        match=r"`model` must be built with PyTorch's arithmetic .* padded \"same\" \(conv1, pool1",
    ):
        kcv.weights.load_timm(keras_se, state)
    with pytest.raises(ValueError, match=r"no weights torchvision's model lacks.*conv2_block1/se/"):
        kcv.weights.load_torchvision(_stateless(_se_resnet50), state)
    del state["layer4.2.se.fc2.bias"]
    with pytest.raises(ValueError, match=r"timm's SE-ResNet .* missing 1 key.*layer4\.2\.se\.fc2"):
        kcv.weights.load_timm(_stateless(_se_resnet50), state)


# --- errors ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet18_state():
    return tr.resnet(18).state_dict()


def _resnet18(**kwargs):
    return _stateless(
        kcv.models.ResNet, depth=18, input_shape=(64, 64, 3), convention="torchvision", **kwargs
    )


def test_a_missing_key_is_named(resnet18_state):
    state = dict(resnet18_state)
    del state["layer2.0.downsample.1.running_var"]
    with pytest.raises(ValueError, match=r"missing 1 key.*layer2\.0\.downsample\.1\.running_var"):
        kcv.weights.load_torchvision(_resnet18(), state)


def test_an_unknown_key_is_named(resnet18_state):
    state = {**resnet18_state, "layer5.0.conv1.weight": np.zeros((3, 3, 3, 3))}
    with pytest.raises(ValueError, match=r"1 key\(s\) the model does not have: layer5\.0\.conv1"):
        kcv.weights.load_torchvision(_resnet18(), state)


def test_a_wrong_shape_names_the_key_and_both_shapes(resnet18_state):
    with pytest.raises(
        ValueError, match=r"fc\.weight: expected \(10, 512\), received \(1000, 512\)"
    ):
        kcv.weights.load_torchvision(_resnet18(classes=10), resnet18_state)


def test_a_resnet34_state_dict_does_not_fit_a_resnet18(resnet18_state):
    _, state = _shapes_only(lambda: tr.resnet(34))
    with pytest.raises(ValueError, match=r"does not have: layer1\.2\.bn1\.bias"):
        kcv.weights.load_torchvision(_resnet18(), state)


@pytest.mark.parametrize(
    "builder",
    [
        lambda: kcv.models.MobileNetV1(alpha=0.25, input_shape=(32, 32, 3)),
        lambda: kcv.models.AlexNet("paper"),
        lambda: kcv.models.GoogLeNetCIFAR(),
        lambda: kcv.models.DeepLabV3((64, 64, 3), 21, convention="torchvision"),
        lambda: kcv.models.DeepLabV3Plus((64, 64, 3), 21, "resnet50"),
    ],
    ids=[
        "mobilenet_v1",
        "alexnet_paper",
        "googlenet_cifar",
        "deeplabv3_mobilenet_v2",
        "deeplabv3plus_resnet50",
    ],
)
def test_a_model_without_torchvision_weights_is_refused(builder, resnet18_state):
    with pytest.raises(ValueError, match=r"`model` must be a kcv model with torchvision weights"):
        kcv.weights.load_torchvision(_stateless(builder), resnet18_state)


def test_a_layer_is_not_a_model(resnet18_state):
    with pytest.raises(
        ValueError, match=r"`model` must be a kcv model \(keras.Model\).*BasicBlock"
    ):
        kcv.weights.load_torchvision(kcv.layers.BasicBlock(8), resnet18_state)


@pytest.mark.parametrize(
    ("builder", "problem"),
    [
        (
            lambda: kcv.models.ResNet(18),
            r'padded "same" \(conv1, pool1, conv3_block1/conv1, .*BN epsilon \[0.001\]',
        ),
        (lambda: kcv.models.VGG(11, batch_norm=True), r"BN epsilon \[0.001\] where .* 1e-05"),
        (lambda: kcv.models.MobileNetV3("small"), r'padded "same" \(conv1, block_0/depthwise'),
        (
            lambda: kcv.models.GoogLeNet(),
            r"no BN .* and the paper's 5x5 in the Inception .* padded \"same\" \(conv1, pool1,",
        ),
        (
            lambda: kcv.models.GoogLeNet(batch_norm=False, convention="torchvision"),
            r"with no BN \(the paper's form",
        ),
        (
            lambda: _deeplabv3((64, 64, 3), 21, "resnet50", "keras"),
            r"no 3x3 convolution \+ BN between ASPP and the logits .* padded \"same\" "
            r"\(conv1, pool1, conv3_block1/conv2\) and BN epsilon \[0.001\]",
        ),
        (
            lambda: kcv.models.DeepLabV3((64, 64, 3), 21, "resnet50", convention="torchvision"),
            r"output_stride=8, .* with output stride 16 and ASPP rates \(6, 12, 18\)",
        ),
    ],
    ids=[
        "resnet18",
        "vgg11_bn",
        "mobilenet_v3_small",
        "googlenet_paper",
        "googlenet_no_bn",
        "deeplabv3_keras",
        "deeplabv3_os16",
    ],
)
def test_a_model_with_keras_arithmetic_is_refused(builder, problem):
    model = _stateless(builder)
    with pytest.raises(ValueError, match=r'`model` must be built with convention="torchvision"'):
        kcv.weights.load_torchvision(model, {})
    with pytest.raises(ValueError, match=problem):
        kcv.weights.load_torchvision(model, {})


def test_weights_torchvision_lacks_are_refused(resnet18_state):
    """A ResNet whose blocks carry SE layers is not torchvision's ResNet."""
    with keras.StatelessScope(initialize_variables=False):
        inputs = keras.Input((64, 64, 3))
        features = kcv.models.resnet.resnet_backbone(
            inputs,
            "channels_last",
            depths=(2, 2, 2, 2),
            block="basic",
            attention=lambda stage, block: kcv.layers.SqueezeExcite(16),
            padding="symmetric",
            bn_epsilon=1e-5,
        )[-1]
        model = keras.Model(inputs, features)
    with pytest.raises(ValueError, match=r"no weights torchvision's model lacks.*squeeze_excite"):
        kcv.weights.load_torchvision(model, resnet18_state)


def test_files_need_a_known_suffix_and_must_exist(tmp_path, resnet18_state):
    with pytest.raises(ValueError, match=r"the path of a \.pth, \.pt or \.safetensors file"):
        kcv.weights.load_torchvision(_resnet18(), str(tmp_path / "weights.h5"))
    with pytest.raises(FileNotFoundError, match="resnet18.pth"):
        kcv.weights.load_torchvision(_resnet18(), tmp_path / "resnet18.pth")
    with pytest.raises(ValueError, match=r"a state dict \(a mapping .* received list"):
        kcv.weights.load_torchvision(_resnet18(), list(resnet18_state.values()))


def test_safetensors_without_the_package_says_to_install_it(tmp_path, monkeypatch):
    path = tmp_path / "resnet18.safetensors"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        kcv.weights.load_torchvision(_resnet18(), path)


@pytest.mark.slow
def test_safetensors_files_load(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    reference = tr.randomize(tr.SqueezeNet("1_1"))
    path = tmp_path / "squeezenet1_1.safetensors"
    safetensors.save_file({k: v.numpy() for k, v in reference.state_dict().items()}, str(path))
    model = kcv.models.SqueezeNet("1.1", input_shape=_input_shape(64), **LOGITS)
    kcv.weights.load_torchvision(model, path)
    _assert_parity(reference, model, 64)


# --- the options behind the convention -------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        kcv.layers.BasicBlock(8, strides=2, padding="symmetric", bn_epsilon=1e-5),
        kcv.layers.Bottleneck(8, strides=2, padding="symmetric", bn_epsilon=1e-5),
        kcv.layers.InvertedResidual(8, strides=2, padding="symmetric", bn_epsilon=1e-5),
        kcv.layers.ShuffleNetV2Unit(8, strides=2, padding="symmetric", bn_epsilon=1e-5),
    ],
    ids=lambda block: type(block).__name__,
)
def test_blocks_keep_the_convention_through_their_config(block):
    clone = type(block).from_config(block.get_config())
    assert (clone.padding, clone.bn_epsilon) == ("symmetric", 1e-5)
    with keras.StatelessScope(initialize_variables=False):
        clone.build((None, 8, 8, 8))
    pads = [
        layer
        for layer in kcv.training.sublayers(clone)
        if isinstance(layer, keras.layers.ZeroPadding2D)
    ]
    assert pads and all(layer.padding == ((1, 1), (1, 1)) for layer in pads)
    assert clone.compute_output_shape((None, 8, 8, 8))[1:3] == (4, 4)


@pytest.mark.parametrize(
    "kwargs",
    [{"padding": "valid"}, {"bn_epsilon": 0}],
    ids=["padding", "bn_epsilon"],
)
def test_blocks_reject_bad_convention_options(kwargs):
    argument = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"`{argument}` must be"):
        kcv.layers.BasicBlock(8, **kwargs)


def test_models_reject_an_unknown_convention():
    with pytest.raises(ValueError, match=r"`convention` must be one of 'keras', 'torchvision'"):
        kcv.models.ResNet(18, convention="pytorch")


# --- preprocessing -----------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_preprocessing_numbers_are_torchvisions():
    """torchvision's ImageClassification presets: resize 256 (232 for the newer recipes), crop 224."""
    classic = kcv.weights.preprocessing("ResNet50_Weights.IMAGENET1K_V1")
    assert (classic.resize_size, classic.crop_size) == (256, 224)
    assert classic.mean == (0.485, 0.456, 0.406) and classic.std == (0.229, 0.224, 0.225)
    assert classic.interpolation == "bilinear"
    for name in (
        "ResNet50_Weights.IMAGENET1K_V2",
        "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
        "ShuffleNet_V2_X2_0_Weights.IMAGENET1K_V1",
    ):
        assert kcv.weights.preprocessing(name).resize_size == 232
    for name in (
        "AlexNet_Weights.IMAGENET1K_V1",
        "VGG16_BN_Weights.IMAGENET1K_V1",
        "SqueezeNet1_1_Weights.IMAGENET1K_V1",
        "MobileNet_V3_Small_Weights.IMAGENET1K_V1",
    ):
        assert kcv.weights.preprocessing(name).resize_size == 256


@pytest.mark.backend_independent
def test_deeplabv3_preprocessing_resizes_without_cropping():
    """torchvision's SemanticSegmentation(resize_size=520): shorter side 520, no crop."""
    for depth in (50, 101):
        prep = kcv.weights.preprocessing(f"DeepLabV3_ResNet{depth}_Weights.COCO_WITH_VOC_LABELS_V1")
        assert (prep.resize_size, prep.crop_size) == (520, None)
        assert prep.mean == (0.485, 0.456, 0.406) and prep.std == (0.229, 0.224, 0.225)
    image = np.random.default_rng(4).integers(0, 256, (300, 451, 3), dtype="uint8")
    got = prep(image, data_format="channels_last")
    assert got.shape == (520, 781, 3)  # int(520 · 451 / 300)
    np.testing.assert_allclose(got, _pil_reference(image, 520, None, "F"), atol=1e-5)


@pytest.mark.backend_independent
def test_preprocessing_rejects_unknown_weight_sets():
    with pytest.raises(ValueError, match=r"`name` must be a torchvision weight set"):
        kcv.weights.preprocessing("Inception_V3_Weights.IMAGENET1K_V1")


def _pil_reference(image, resize_size, crop_size, mode):
    """torchvision's pipeline on a PIL image: Resize(shorter side), CenterCrop, /255, Normalize."""
    from PIL import Image

    height, width = image.shape[:2]
    short, long = sorted((height, width))
    new_long = int(resize_size * long / short)
    size = (resize_size, new_long) if width <= height else (new_long, resize_size)
    if mode == "F":  # PIL's float path: no rounding to 8 bits
        channels = [
            np.asarray(
                Image.fromarray(image[..., c].astype("float32")).resize(size, Image.BILINEAR)
            )
            for c in range(3)
        ]
        resized = np.stack(channels, -1) / 255
    else:
        resized = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)) / 255
    crop = resized
    if crop_size is not None:
        top = int(round((resized.shape[0] - crop_size) / 2.0))
        left = int(round((resized.shape[1] - crop_size) / 2.0))
        crop = resized[top : top + crop_size, left : left + crop_size]
    return (crop - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])


@pytest.mark.backend_independent
@pytest.mark.parametrize("shape", [(300, 451), (517, 256), (180, 180)], ids=str)
def test_preprocessing_computes_torchvisions_pipeline(shape):
    image = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype="uint8")
    prep = kcv.weights.preprocessing("ResNet50_Weights.IMAGENET1K_V2")
    got = prep(image, data_format="channels_last")
    assert got.shape == (224, 224, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, _pil_reference(image, 232, 224, "F"), atol=1e-5)
    # PIL's uint8 path rounds after each pass: within about a grey level, i.e. 1/255 / std.
    uint8 = _pil_reference(image, 232, 224, "RGB")
    assert np.abs(got - uint8).max() <= 1.01 / 255 / 0.224


@pytest.mark.backend_independent
def test_preprocessing_batches_layouts_and_float_images():
    images = np.random.default_rng(2).integers(0, 256, (2, 240, 320, 3), dtype="uint8")
    prep = kcv.weights.preprocessing("AlexNet_Weights.IMAGENET1K_V1")
    last = prep(images, data_format="channels_last")
    first = prep(images, data_format="channels_first")
    assert last.shape == (2, 224, 224, 3) and first.shape == (2, 3, 224, 224)
    np.testing.assert_array_equal(first, last.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(prep(images / 255, "channels_last"), last, atol=1e-6)
    np.testing.assert_array_equal(prep(images[0], "channels_last"), last[0])
    with pytest.raises(ValueError, match=r"`images` must be an image \(H, W, 3\)"):
        prep(images[..., :2])


# --- downloading on request (never run for real here: get_file is replaced) -------------


@pytest.mark.backend_independent
def test_every_weight_set_has_a_published_file():
    """Each weight set that preprocessing and weight_sets name can also be downloaded, from
    the address torchvision / timm publish it at, under a file name of its own."""
    names = list(kcv.weights.TORCHVISION_WEIGHTS) + list(kcv.weights.TIMM_WEIGHTS)
    files = set()
    for name in names:
        url, file_name, prefix = kcv.weights.weight_url(name)
        assert url.endswith(file_name) or url.endswith("/model.safetensors"), name
        files.add(file_name)
        if name in kcv.weights.TORCHVISION_WEIGHTS:
            assert url.startswith("https://download.pytorch.org/models/") and len(prefix) >= 8
        else:
            assert url == f"https://huggingface.co/timm/{name}/resolve/main/model.safetensors"
            assert prefix is None
    assert len(files) == len(names)
    with pytest.raises(ValueError, match="`name` must be a weight set of"):
        kcv.weights.weight_url("ResNet18_Weights.DEFAULT")


@pytest.fixture
def fake_get_file(tmp_path, monkeypatch):
    """keras.utils.get_file writing ``content`` where Keras would, and recording the call."""
    fake = types.SimpleNamespace(content=b"", calls=[])

    def get_file(fname, origin, cache_subdir, cache_dir):
        fake.calls.append((fname, origin, cache_subdir, cache_dir))
        folder = tmp_path / cache_subdir
        folder.mkdir(exist_ok=True)
        path = folder / fname
        path.write_bytes(fake.content)
        return str(path)

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    return fake


@pytest.mark.backend_independent
def test_download_checks_torchvisions_hash_prefix(fake_get_file, monkeypatch):
    fake_get_file.content = b"weights"
    digest = hashlib.sha256(b"weights").hexdigest()
    monkeypatch.setitem(
        kcv.weights.TORCHVISION_WEIGHTS, "Fake_Weights.V1", (256, 224, f"fake-{digest[:8]}.pth")
    )
    path = kcv.weights.download("Fake_Weights.V1", cache_dir="somewhere")
    assert path.endswith(f"models/fake-{digest[:8]}.pth")
    assert fake_get_file.calls == [
        (
            f"fake-{digest[:8]}.pth",
            f"https://download.pytorch.org/models/fake-{digest[:8]}.pth",
            "models",
            "somewhere",
        )
    ]
    fake_get_file.content = b"truncated"
    with pytest.raises(OSError, match=f"does not begin with {digest[:8]}"):
        kcv.weights.download("Fake_Weights.V1")
    assert not os.path.exists(path)  # a file that fails the check is not left to be loaded


@pytest.mark.backend_independent
def test_download_of_timm_weights_names_the_file_after_the_tag(fake_get_file):
    fake_get_file.content = b"anything"
    path = kcv.weights.download("seresnet50.a1_in1k")
    assert path.endswith("seresnet50.a1_in1k.safetensors")
    assert fake_get_file.calls[0][1] == kcv.weights.weight_url("seresnet50.a1_in1k")[0]
