"""Pretrained weights from PyTorch's model zoo on kcv's models, on every backend.

:func:`load_torchvision` copies a torchvision state dict (a ``.pth`` or
``.safetensors`` file, or a dict of arrays) into the kcv model of the same
architecture: it maps torchvision's parameter names to kcv's layers,
transposes the kernel layouts (PyTorch's ``(out, in, kh, kw)`` to Keras'
``(kh, kw, in, out)``) and checks that every name and shape fits, so that
the model gives torchvision's logits on JAX, TensorFlow and PyTorch alike.
:func:`load_timm` does the same for timm's SE-ResNet-50 (``seresnet50``).
:func:`preprocessing` gives the image preprocessing that goes with a weight
set (resize, centre crop, ImageNet mean and standard deviation), computed
with NumPy so that every backend receives the same numbers.
:func:`weight_sets` names the weight sets that fit a model (the model zoo's
column), from the table ``ARCHITECTURES``.

The same weights give the same outputs only under the same arithmetic, and
Keras' and PyTorch's conventions differ in two places that a state dict
does not record. Padding: Keras' ``"same"`` pads a strided layer on an even
input by one pixel at the end, PyTorch's ``padding=1`` by one pixel on both
sides; batch normalization: Keras' epsilon is 1e-3, PyTorch's 1e-5. kcv's
models take ``convention="torchvision"`` for PyTorch's arithmetic
(:func:`kcv.models.common.convention_options`), and :func:`load_torchvision`
refuses a model built otherwise instead of returning other logits silently.

Nothing is downloaded unless asked: the state dict is the user's
(torchvision's ``weights.get_state_dict()``, a file they have), or
:func:`download` fetches a weight set into Keras' cache when called
(:func:`weight_url` says from where); kcv's tests and book never call it.
Reading a ``.pth`` file needs PyTorch (:func:`kcv.backend.load_torch_file`),
a ``.safetensors`` file the ``safetensors`` package; a dict of NumPy arrays
needs neither.

Reference:
    torchvision ``models/`` (``resnet.py``, ``vgg.py``, ``alexnet.py``,
    ``squeezenet.py``, ``shufflenetv2.py``, ``mobilenetv2.py``,
    ``mobilenetv3.py``, ``googlenet.py``, ``segmentation/deeplabv3.py``:
    parameter names and layouts) and ``transforms/_presets.py``
    (``ImageClassification``, ``SemanticSegmentation``: the preprocessing
    of the weights); timm ``models/resnet.py`` and
    ``layers/squeeze_excite.py`` (``seresnet50``).
"""

import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping

import keras
import numpy as np

from kcv import _validation
from kcv import backend
from kcv import layers
from kcv import training

# --- mapping torchvision's names onto kcv's layers -------------------------------------


@dataclasses.dataclass(frozen=True)
class _Slot:
    """One torchvision module (``prefix``: its name in the state dict) and the kcv layer
    holding its weights; ``kind`` says how the layouts differ. A dense layer after a
    flatten also needs the ``(H, W, C)`` of the flattened map (``flat_input``)."""

    prefix: str
    layer: keras.layers.Layer
    kind: str  # conv, depthwise, bn, dense, dense_from_conv (1x1 conv), dense_from_flatten
    flat_input: tuple = None


def _kernel_to_keras(kind, array, keras_shape):
    """A torchvision weight array in the layout of the Keras kernel of shape ``keras_shape``."""
    if kind == "conv":  # (out, in / groups, kh, kw) -> (kh, kw, in / groups, out)
        return array.transpose(2, 3, 1, 0)
    if kind == "depthwise":  # (C·M, 1, kh, kw), channel c·M + m -> (kh, kw, C, M)
        kh, kw, channels, multiplier = keras_shape
        return array.reshape(channels, multiplier, kh, kw).transpose(2, 3, 0, 1)
    if kind == "dense":  # (out, in) -> (in, out)
        return array.T
    if kind == "dense_from_conv":  # (out, in, 1, 1) -> (in, out)
        return array.reshape(array.shape[:2]).T
    # dense_from_flatten: torch flattens (C, H, W), Keras' Flatten (H, W, C) in either format.
    (height, width, channels), _ = keras_shape
    out = array.shape[0]
    return array.reshape(out, channels, height, width).transpose(2, 3, 1, 0).reshape(-1, out)


def _torch_kernel_shape(kind, keras_shape):
    """The shape torchvision stores for a Keras kernel of ``keras_shape``."""
    if kind == "conv":
        kh, kw, fan_in, out = keras_shape
        return (out, fan_in, kh, kw)
    if kind == "depthwise":
        kh, kw, channels, multiplier = keras_shape
        return (channels * multiplier, 1, kh, kw)
    if kind == "dense_from_conv":
        return (keras_shape[1], keras_shape[0], 1, 1)
    if kind == "dense_from_flatten":
        return (keras_shape[1][1], int(np.prod(keras_shape[0])))
    return (keras_shape[1], keras_shape[0])  # dense


def _assignments(slot):
    """``[(torch key, variable, torch shape, to_keras)]`` for one slot."""
    layer, kind = slot.layer, slot.kind
    if kind == "bn":
        pairs = [
            ("weight", layer.gamma),
            ("bias", layer.beta),
            ("running_mean", layer.moving_mean),
            ("running_var", layer.moving_variance),
        ]
        return [(f"{slot.prefix}.{n}", v, tuple(v.shape), lambda a: a) for n, v in pairs]
    kernel = layer.kernel
    keras_shape = tuple(kernel.shape)
    if kind == "dense_from_flatten":
        keras_shape = (slot.flat_input, keras_shape)
    found = [
        (
            f"{slot.prefix}.weight",
            kernel,
            _torch_kernel_shape(kind, keras_shape),
            lambda a: _kernel_to_keras(kind, a, keras_shape),
        )
    ]
    if getattr(layer, "use_bias", False):
        found.append((f"{slot.prefix}.bias", layer.bias, tuple(layer.bias.shape), lambda a: a))
    return found


def _flatten_input(model, name="flatten"):
    """``(H, W, C)`` of the map the model's layer ``name`` (a ``Flatten``) flattens."""
    flatten = model.get_layer(name)
    shape = tuple(flatten.input.shape[1:])
    return shape if flatten.data_format == "channels_last" else (*shape[1:], shape[0])


def _has(model, name):
    return any(layer.name == name for layer in model.layers)


def _typed(layer_list, cls):
    return [layer for layer in layer_list if isinstance(layer, cls)]


def _conv_bn_slots(prefix, unit, conv_kind="conv"):
    """``prefix.0`` / ``prefix.1``: torchvision's ``Conv2dNormActivation`` of a kcv unit."""
    conv_cls = keras.layers.DepthwiseConv2D if conv_kind == "depthwise" else keras.layers.Conv2D
    conv = _typed(unit, conv_cls)[0]
    bn = _typed(unit, keras.layers.BatchNormalization)[0]
    return [_Slot(f"{prefix}.0", conv, conv_kind), _Slot(f"{prefix}.1", bn, "bn")]


def _sequential_slots(prefix, layer_list):
    """torchvision ``nn.Sequential`` indices for kcv layers in the same order.

    Every kcv layer but a ``ZeroPadding2D`` (which torchvision folds into the
    convolution) takes the next index; convolutions and BN get a slot.
    """
    slots, index = [], 0
    for layer in layer_list:
        if isinstance(layer, keras.layers.ZeroPadding2D):
            continue
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            slots.append(_Slot(f"{prefix}.{index}", layer, "depthwise"))
        elif isinstance(layer, keras.layers.Conv2D):
            slots.append(_Slot(f"{prefix}.{index}", layer, "conv"))
        elif isinstance(layer, keras.layers.BatchNormalization):
            slots.append(_Slot(f"{prefix}.{index}", layer, "bn"))
        index += 1
    return slots


def _head(model, mapping):
    """Slots of a classifier (``{kcv layer: (torch prefix, kind)}``), if the model has it."""
    return [
        _Slot(
            prefix,
            model.get_layer(name),
            kind,
            _flatten_input(model) if kind == "dense_from_flatten" else None,
        )
        for name, (prefix, kind) in mapping.items()
        if _has(model, name)
    ]


def _resnet(model):
    slots = [
        _Slot("conv1", model.get_layer("conv1"), "conv"),
        _Slot("bn1", model.get_layer("conv1_bn"), "bn"),
    ]
    for block in _typed(model.layers, (layers.BasicBlock, layers.Bottleneck)):
        stage, index = map(int, re.fullmatch(r"conv(\d+)_block(\d+)", block.name).groups())
        prefix = f"layer{stage - 1}.{index - 1}"
        for number, unit in enumerate(block.units, start=1):
            slots.append(
                _Slot(f"{prefix}.conv{number}", _typed(unit, keras.layers.Conv2D)[0], "conv")
            )
            slots.append(
                _Slot(
                    f"{prefix}.bn{number}", _typed(unit, keras.layers.BatchNormalization)[0], "bn"
                )
            )
        if block.shortcut is not None:
            slots += _conv_bn_slots(f"{prefix}.downsample", block.shortcut)
    return slots + _head(model, {"predictions": ("fc", "dense")}), ("fc.",)


def _se_resnet(model):
    """timm's SE-ResNet: torchvision's ResNet names, and each block's SE as ``.se.fc1`` /
    ``.se.fc2`` (``SEModule``: 1x1 convolutions with bias, kcv's dense layers)."""
    slots, head_prefixes = _resnet(model)
    for block in _typed(model.layers, (layers.BasicBlock, layers.Bottleneck)):
        stage, index = map(int, re.fullmatch(r"conv(\d+)_block(\d+)", block.name).groups())
        prefix = f"layer{stage - 1}.{index - 1}.se"
        slots.append(_Slot(f"{prefix}.fc1", block.attention.reduce, "dense_from_conv"))
        slots.append(_Slot(f"{prefix}.fc2", block.attention.expand, "dense_from_conv"))
    return slots, head_prefixes


def _vgg(model):
    slots, index = [], 0
    for layer in model.layers:
        if not re.match(r"block\d+_", layer.name):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            slots.append(_Slot(f"features.{index}", layer, "conv"))
        elif isinstance(layer, keras.layers.BatchNormalization):
            slots.append(_Slot(f"features.{index}", layer, "bn"))
        index += 1  # the conv, its BN, its ReLU and each pool are modules of `features`
    head = {
        "fc1": ("classifier.0", "dense_from_flatten"),
        "fc2": ("classifier.3", "dense"),
        "predictions": ("classifier.6", "dense"),
    }
    return slots + _head(model, head), ("classifier.",)


def _alexnet(model):
    features = {"conv1": 0, "conv2": 3, "conv3": 6, "conv4": 8, "conv5": 10}
    slots = [_Slot(f"features.{i}", model.get_layer(name), "conv") for name, i in features.items()]
    head = {
        "fc1": ("classifier.1", "dense_from_flatten"),
        "fc2": ("classifier.4", "dense"),
        "predictions": ("classifier.6", "dense"),
    }
    return slots + _head(model, head), ("classifier.",)


def _squeezenet(model):
    slots, index = [_Slot("features.0", model.get_layer("conv1"), "conv")], 2  # conv1, ReLU
    for layer in model.layers:
        if isinstance(layer, keras.layers.MaxPooling2D):
            index += 1
        elif isinstance(layer, layers.FireModule):
            prefix = f"features.{index}"
            for torch_name, unit in (
                ("squeeze", layer.squeeze_layers),
                ("expand1x1", layer.expand_1x1_layers),
                ("expand3x3", layer.expand_3x3_layers),
            ):
                slots.append(_Slot(f"{prefix}.{torch_name}", unit[0], "conv"))
            index += 1
    return slots + _head(model, {"conv10": ("classifier.1", "conv")}), ("classifier.",)


def _shufflenet(model):
    slots = _conv_bn_slots("conv1", [model.get_layer("conv1"), model.get_layer("conv1_bn")])
    for unit in _typed(model.layers, layers.ShuffleNetV2Unit):
        stage, index = map(int, re.fullmatch(r"stage(\d+)_unit(\d+)", unit.name).groups())
        prefix = f"stage{stage}.{index - 1}"
        slots += _sequential_slots(f"{prefix}.branch1", unit.branch1)
        slots += _sequential_slots(f"{prefix}.branch2", unit.branch2)
    slots += _conv_bn_slots("conv5", [model.get_layer("conv5"), model.get_layer("conv5_bn")])
    return slots + _head(model, {"predictions": ("fc", "dense")}), ("fc.",)


def _inverted_residual_slots(prefix, block):
    """An InvertedResidual's slots: units ``prefix.k.0/1``; MobileNetV2's projection
    ``prefix.k`` / ``prefix.k+1``, MobileNetV3's ``prefix.k.0/1``; SE ``prefix.k.fc1/fc2``."""
    by_name = {layer.name: layer for layer in block.blocks}
    v3 = block.expanded_channels is not None
    slots, index = [], 0
    if "expand" in by_name:
        slots += _conv_bn_slots(f"{prefix}.0", [by_name["expand"], by_name["expand_bn"]])
        index += 1
    slots += _conv_bn_slots(
        f"{prefix}.{index}", [by_name["depthwise"], by_name["depthwise_bn"]], "depthwise"
    )
    index += 1
    if "squeeze_excite" in by_name:
        se = by_name["squeeze_excite"]
        slots.append(_Slot(f"{prefix}.{index}.fc1", se.reduce, "dense_from_conv"))
        slots.append(_Slot(f"{prefix}.{index}.fc2", se.expand, "dense_from_conv"))
        index += 1
    if v3:
        return slots + _conv_bn_slots(
            f"{prefix}.{index}", [by_name["project"], by_name["project_bn"]]
        )
    return slots + [
        _Slot(f"{prefix}.{index}", by_name["project"], "conv"),
        _Slot(f"{prefix}.{index + 1}", by_name["project_bn"], "bn"),
    ]


def _mobilenet(model):
    blocks = _typed(model.layers, layers.InvertedResidual)
    v3 = blocks[0].expanded_channels is not None
    slots = _conv_bn_slots("features.0", [model.get_layer("conv1"), model.get_layer("conv1_bn")])
    for number, block in enumerate(blocks, start=1):
        inner = "block" if v3 else "conv"
        slots += _inverted_residual_slots(f"features.{number}.{inner}", block)
    last = [model.get_layer("conv_last"), model.get_layer("conv_last_bn")]
    slots += _conv_bn_slots(f"features.{len(blocks) + 1}", last)
    if v3:
        head = {"pre_logits": ("classifier.0", "dense"), "predictions": ("classifier.3", "dense")}
    else:
        head = {"predictions": ("classifier.1", "dense")}
    return slots + _head(model, head), ("classifier.",)


def _googlenet(model):
    """torchvision's ``BasicConv2d`` is ``name.conv`` / ``name.bn``; its Inception branches
    ``branch1``, ``branch2.0/1``, ``branch3.0/1`` and ``branch4.1`` (after the pool)."""

    def unit(prefix, conv, bn):
        return [_Slot(f"{prefix}.conv", conv, "conv"), _Slot(f"{prefix}.bn", bn, "bn")]

    slots = []
    for kcv_name, torch_name in (("conv1", "conv1"), ("conv2_reduce", "conv2"), ("conv2", "conv3")):
        slots += unit(torch_name, model.get_layer(kcv_name), model.get_layer(f"{kcv_name}_bn"))
    branch_names = (
        ("branch1",),
        ("branch2.0", "branch2.1"),
        ("branch3.0", "branch3.1"),
        ("branch4.1",),
    )
    for module in _typed(model.layers, layers.InceptionModule):
        prefix = "inception" + module.name.removeprefix("inception_")
        for names, branch in zip(branch_names, module.branches):
            convs = _typed(branch, keras.layers.Conv2D)
            norms = _typed(branch, keras.layers.BatchNormalization)
            for name, conv, bn in zip(names, convs, norms):
                slots += unit(f"{prefix}.{name}", conv, bn)
    for aux in ("aux1", "aux2"):
        if _has(model, f"{aux}_conv"):
            slots += unit(
                f"{aux}.conv", model.get_layer(f"{aux}_conv"), model.get_layer(f"{aux}_conv_bn")
            )
            slots += [
                _Slot(
                    f"{aux}.fc1",
                    model.get_layer(f"{aux}_fc"),
                    "dense_from_flatten",
                    _flatten_input(model, f"{aux}_flatten"),
                ),
                _Slot(f"{aux}.fc2", model.get_layer(f"{aux}_predictions"), "dense"),
            ]
    return slots + _head(model, {"predictions": ("fc", "dense")}), ("fc.", "aux1.", "aux2.")


def _deeplabv3(model):
    """torchvision's ``deeplabv3_resnet50`` / ``_resnet101``: the ResNet's names under
    ``backbone.``; ``classifier`` is ``DeepLabHead``: ``0`` the ASPP (``convs.0`` the 1x1
    branch, ``convs.1-3`` the atrous ones, ``convs.4`` the pooling branch, whose
    ``AdaptiveAvgPool2d`` takes index 0: conv ``.1``, BN ``.2``; ``project.0/1``), ``1/2``
    the 3x3 convolution and its BN, ``4`` the logits. ``aux_classifier`` (an ``FCNHead``
    on ``layer3``) has no kcv counterpart: its keys are ignored."""
    backbone, _ = _resnet(model)
    slots = [dataclasses.replace(slot, prefix=f"backbone.{slot.prefix}") for slot in backbone]
    aspp = model.get_layer("aspp")
    for index, branch in enumerate(aspp.branches):
        slots += _conv_bn_slots(f"classifier.0.convs.{index}", branch)
    pool = f"classifier.0.convs.{len(aspp.branches)}"
    slots += [
        _Slot(f"{pool}.1", _typed(aspp.pool_branch, keras.layers.Conv2D)[0], "conv"),
        _Slot(f"{pool}.2", _typed(aspp.pool_branch, keras.layers.BatchNormalization)[0], "bn"),
    ]
    slots += _conv_bn_slots("classifier.0.project", aspp.projection)
    if _has(model, "head_conv"):
        slots += [
            _Slot("classifier.1", model.get_layer("head_conv"), "conv"),
            _Slot("classifier.2", model.get_layer("head_conv_bn"), "bn"),
        ]
    slots.append(_Slot("classifier.4", model.get_layer("logits"), "conv"))
    return slots, ("aux_classifier.",)


# family: (slot maker, torchvision's BN epsilon)
_FAMILIES = {
    "ResNet": (_resnet, 1e-5),
    "VGG": (_vgg, 1e-5),
    "AlexNet": (_alexnet, 1e-5),
    "SqueezeNet": (_squeezenet, 1e-5),
    "ShuffleNetV2": (_shufflenet, 1e-5),
    "MobileNetV2": (_mobilenet, 1e-5),
    "MobileNetV3": (_mobilenet, 1e-3),  # torchvision's BatchNorm2d(eps=0.001)
    "GoogLeNet": (_googlenet, 1e-3),  # BasicConv2d's BatchNorm2d(eps=0.001)
    "DeepLabV3": (_deeplabv3, 1e-5),
}
_SUPPORTED = (
    "ResNet, ResNeXt, VGG (with or without BN), AlexNet(variant='torchvision'), SqueezeNet, "
    "ShuffleNetV2, MobileNetV2, MobileNetV3, GoogLeNet or DeepLabV3 (ResNet-50/101 backbone)"
)


# What a family's builder needs besides the convention to be torchvision's network.
_EXAMPLE_OPTIONS = {"DeepLabV3": 'backbone="resnet50", output_stride=8, '}


def _family(model):
    """The torchvision family of a kcv model, from the blocks and layers it is made of."""
    if not isinstance(model, keras.Model):
        _validation.fail(
            "model",
            f"a kcv model (keras.Model) with torchvision weights: {_SUPPORTED}",
            model,
            received=type(model).__name__,
        )
    family = _detected_family(model)
    if family is None:
        _validation.fail(
            "model",
            f"a kcv model with torchvision weights: {_SUPPORTED}",
            model,
            received=f"keras.Model {model.name!r}",
        )
    return family


def _detected_family(model):
    """:func:`_family`'s answer, or None for a model of no torchvision family."""
    types = {type(layer) for layer in model.layers}
    names = {layer.name for layer in model.layers}
    inverted = _typed(model.layers, layers.InvertedResidual)
    if layers.ASPP in types:  # torchvision's DeepLabV3 has a ResNet and no v3+ decoder
        resnet = layers.Bottleneck in types and "decoder_concat" not in names
        return "DeepLabV3" if resnet else None
    if _typed(model.layers, layers.InceptionModule) and "conv2_reduce" in names:
        return "GoogLeNet"  # GoogLeNetCIFAR (one 3x3 stem) has no torchvision weights
    if layers.ShuffleNetV2Unit in types:
        return "ShuffleNetV2"
    if layers.FireModule in types:
        return "SqueezeNet"
    if inverted:
        return "MobileNetV2" if inverted[0].expanded_channels is None else "MobileNetV3"
    if types & {layers.BasicBlock, layers.Bottleneck}:
        return "ResNet"
    if "block1_conv1" in names:
        return "VGG"
    if {"conv1", "conv5", "pool5"} <= names and layers.LocalResponseNormalization not in types:
        return "AlexNet"  # the paper's variant normalises (LRN) and groups: no torchvision weights
    return None


# Layers whose "same" padding differs from PyTorch's where they stride.
_WINDOWED = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)


def _convention_problems(model, family):
    """What in ``model`` computes differently from torchvision with the same weights."""
    epsilon = _FAMILIES[family][1]
    same_padded, epsilons = [], set()
    for layer in training.sublayers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.epsilon != epsilon:
            epsilons.add(layer.epsilon)
        if isinstance(layer, _WINDOWED) and layer.padding == "same" and max(layer.strides) > 1:
            window = layer.pool_size if hasattr(layer, "pool_size") else layer.kernel_size
            if max(window) > 1:
                same_padded.append(layer.path or layer.name)
    problems = []
    if family == "GoogLeNet":
        problems += _googlenet_problems(model)
    if family == "DeepLabV3":
        problems += _deeplabv3_problems(model)
    if same_padded:
        shown = ", ".join(same_padded[:4]) + (", ..." if len(same_padded) > 4 else "")
        problems.append(f'strided layers padded "same" ({shown})')
    if epsilons:
        problems.append(f"BN epsilon {sorted(epsilons)} where torchvision's is {epsilon:g}")
    return problems


def _googlenet_problems(model):
    """What in a kcv GoogLeNet is not torchvision's ``googlenet`` (beyond the arithmetic)."""
    modules = _typed(model.layers, layers.InceptionModule)
    problems = []
    if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
        problems.append("no BN (the paper's form; torchvision's has BN: batch_norm=True)")
    kernels = {tuple(_typed(m.branches[2], keras.layers.Conv2D)[-1].kernel_size) for m in modules}
    if kernels != {(3, 3)} or any(m.factorize_5x5 for m in modules):
        problems.append(
            "the paper's 5x5 in the Inception modules' third branch (torchvision's has a 3x3)"
        )
    return problems


def _deeplabv3_problems(model):
    """What in a kcv DeepLabV3 is not torchvision's ``deeplabv3_resnet50`` / ``_resnet101``."""
    problems = []
    if not _has(model, "head_conv"):
        problems.append(
            "no 3x3 convolution + BN between ASPP and the logits (the paper's head; "
            "torchvision's DeepLabHead has one)"
        )
    blocks = _typed(model.layers, layers.Bottleneck)
    output_stride = 4 * int(np.prod([block.strides for block in blocks]))
    rates = model.get_layer("aspp").rates
    if (output_stride, rates) != (8, (12, 24, 36)):
        problems.append(
            f"output stride {output_stride} and ASPP rates {rates} (torchvision's: output "
            "stride 8, rates (12, 24, 36))"
        )
    return problems


# --- reading state dicts ---------------------------------------------------------------


def _as_array(value):
    """A NumPy array from a tensor of any framework (a torch tensor without importing torch)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, on any device
        value = value.detach().cpu()
        # float32 for every float (bfloat16 has no NumPy type; kcv's variables are float32).
        return (value.float() if value.is_floating_point() else value).numpy()
    return np.asarray(value)


def _read_safetensors(path):
    try:
        from safetensors.numpy import load_file
    except ImportError as error:
        raise ImportError(
            f"Reading {path!r} needs the safetensors package: pip install safetensors "
            "(or load the file yourself and pass the state dict as a dict of arrays)."
        ) from error
    return load_file(path)


def _read_state_dict(state_dict_or_path):
    """``{name: numpy array}`` from a state dict or a ``.pth`` / ``.safetensors`` path."""
    source = state_dict_or_path
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not path.endswith((".pth", ".pt", ".safetensors")):
            _validation.fail(
                "state_dict_or_path",
                "a dict of arrays or the path of a .pth, .pt or .safetensors file",
                source,
            )
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No state dict file at {path!r}.")
        source = (
            _read_safetensors(path)
            if path.endswith(".safetensors")
            else backend.load_torch_file(path)
        )
    if not isinstance(source, Mapping) or not all(isinstance(k, str) for k in source):
        _validation.fail(
            "state_dict_or_path",
            "a state dict (a mapping of parameter names to tensors or arrays) or its file",
            state_dict_or_path,
            received=type(source).__name__,
        )
    return {
        name: _as_array(value)
        for name, value in source.items()
        if not name.endswith("num_batches_tracked")  # BN's step counter: no Keras counterpart
    }


def _listed(names, limit=8):
    names = sorted(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _load(model, slots, head_prefixes, state_dict_or_path, library, family):
    """Checks the state dict against the model's ``slots`` and assigns it.

    ``head_prefixes``: the classifiers' key prefixes, ignored when the model
    lacks them; ``library`` and ``family`` name the network in messages.
    """
    state = _read_state_dict(state_dict_or_path)
    assignments = [entry for slot in slots for entry in _assignments(slot)]
    expected = {key for key, *_ in assignments}
    uncovered = {id(v) for v in model.weights} - {id(v) for _, v, *_ in assignments}
    if uncovered:
        paths = [v.path for v in model.weights if id(v) in uncovered]
        _validation.fail(
            "model",
            f"a {family} as {library} builds it (no weights {library}'s model lacks)",
            model,
            received=f"{model.name!r} with weights {_listed(paths, 4)}",
        )
    # A classifier the model lacks (include_top=False, no auxiliary classifiers): its keys go.
    absent = tuple(
        head for head in head_prefixes if not any(f"{s.prefix}.".startswith(head) for s in slots)
    )
    given = {k for k in state if not (absent and k.startswith(absent))}
    missing, unknown = expected - given, given - expected
    if missing or unknown:
        found = []
        if missing:
            found.append(f"missing {len(missing)} key(s) the model needs: {_listed(missing)}")
        if unknown:
            found.append(f"{len(unknown)} key(s) the model does not have: {_listed(unknown)}")
        _validation.fail(
            "state_dict_or_path",
            f"a state dict of {library}'s {family} with the model's configuration",
            state_dict_or_path,
            received="a state dict " + "; ".join(found),
        )
    wrong = [
        f"{key}: expected {shape}, received {tuple(state[key].shape)}"
        for key, _, shape, _ in assignments
        if tuple(state[key].shape) != shape
    ]
    if wrong:
        _validation.fail(
            "state_dict_or_path",
            "a state dict whose shapes fit the model (same depth, widths and classes)",
            state_dict_or_path,
            received="a state dict with " + "; ".join(wrong[:8]),
        )
    for key, variable, _, to_keras in assignments:
        variable.assign(np.ascontiguousarray(to_keras(state[key]), dtype=variable.dtype))
    return model


def _is_se_resnet(model):
    """Whether every residual block of ``model`` carries a sigmoid SE block (and nothing else)."""
    blocks = _typed(model.layers, (layers.BasicBlock, layers.Bottleneck))
    return bool(blocks) and all(
        isinstance(block.attention, layers.SqueezeExcite)
        and block.attention.gate == "sigmoid"
        and block.inner_attention is None
        for block in blocks
    )


def load_timm(model, state_dict_or_path):
    """Copies a timm SE-ResNet state dict (``seresnet50``) into the kcv SE-ResNet.

    timm's ``seresnet50`` (``timm.create_model("seresnet50")``, 28,088,024
    parameters, :func:`kcv.models.SEResNet50`'s count) is torchvision's
    ResNet-50 with an ``SEModule`` on the residual branch of every
    bottleneck, after its last BN and before the addition, as in kcv. Its
    names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
    ``layer1.0.downsample.0``, ``fc``; see :func:`load_torchvision`) plus
    ``layerX.Y.se.fc1`` and ``layerX.Y.se.fc2``: 1x1 convolutions with bias
    (``(C/16, C, 1, 1)`` and ``(C, C/16, 1, 1)``), ReLU between them and a
    sigmoid gate after, which become the ``reduce`` and ``expand`` dense
    layers of :class:`kcv.layers.SqueezeExcite` (kernels ``(C, C/16)`` and
    ``(C/16, C)``). timm rounds the SE width to a multiple of 8
    (``make_divisible(C / 16, 8)``); for the bottleneck networks (SE on 256
    to 2048 channels) that is ``C / 16``, kcv's width; the basic-block
    ``seresnet18`` / ``34`` (SE on 64 channels: 8 in timm, 4 in kcv) do not
    fit, and the shape check says so.

    The model must compute as PyTorch does: padding of strided layers ``(k -
    1) // 2`` on both sides and BN epsilon 1e-5, what ``convention=
    "torchvision"`` gives kcv's ResNets (``kcv.models.SEResNet50(convention=
    "torchvision")``); a model with Keras' padding or
    epsilon is refused with what differs. A model without its classifier
    (``include_top=False``) ignores the state dict's ``fc.*``. timm's
    weights expect its preprocessing (``timm.data.resolve_data_config``:
    ImageNet mean and std, and each weight set's own resize and crop).

    Args:
        model: a kcv SE-ResNet (``keras.Model``): the ImageNet ResNet whose
            every block has a :class:`kcv.layers.SqueezeExcite` with a
            sigmoid gate, built with PyTorch's padding and BN epsilon.
        state_dict_or_path: a mapping of timm parameter names to tensors
            (``timm_model.state_dict()``, or ``safetensors`` / ``torch.load``
            output), or the path of a ``.pth`` / ``.pt`` or ``.safetensors``
            file (timm's hub weights are ``model.safetensors``).

    Returns:
        ``model``, its weights replaced.

    Raises:
        ValueError: naming ``model`` (not an SE-ResNet, or computing with
            Keras' padding or BN epsilon), or ``state_dict_or_path`` (keys
            missing or unknown, listed; shapes that do not fit).
        ImportError: a ``.pth`` file without PyTorch, a ``.safetensors``
            file without the ``safetensors`` package.

    Example:

    >>> import kcv
    >>> model = kcv.models.SEResNet50(convention="torchvision", classifier_activation=None)
    >>> kcv.weights.load_timm(model, "seresnet50/model.safetensors")  # doctest: +SKIP

    Reference:
        timm ``models/resnet.py`` (``Bottleneck``, ``seresnet50``) and
        ``layers/squeeze_excite.py`` (``SEModule``).
    """
    if not isinstance(model, keras.Model) or not _is_se_resnet(model):
        _validation.fail(
            "model",
            "a kcv SE-ResNet (keras.Model; kcv.models.SEResNet50's network, every block with "
            "a sigmoid SqueezeExcite) for timm's seresnet weights",
            model,
            received=getattr(model, "name", type(model).__name__),
        )
    problems = _convention_problems(model, "ResNet")
    if problems:
        _validation.fail(
            "model",
            'built with PyTorch\'s arithmetic (padding="symmetric", bn_epsilon=1e-5, as '
            "convention=\"torchvision\" sets): timm's weights give timm's logits only with it",
            model,
            received=f"{model.name!r} with {' and '.join(problems)}",
        )
    slots, head_prefixes = _se_resnet(model)
    return _load(model, slots, head_prefixes, state_dict_or_path, "timm", "SE-ResNet")


def load_torchvision(model, state_dict_or_path):
    """Copies a torchvision state dict into the kcv model of the same architecture.

    Every parameter is mapped by name: torchvision's ``layer1.0.conv1.weight``
    is ResNet block ``conv2_block1``'s ``conv1`` kernel, ``features.3.squeeze``
    SqueezeNet's ``fire2`` squeeze, and so on, for ResNet and ResNeXt
    (:func:`kcv.models.ResNet`, :func:`kcv.models.ResNeXt`; ``cardinality=1,
    width_per_group=128`` is ``wide_resnet50_2``), VGG with and without BN,
    AlexNet (``variant="torchvision"``), SqueezeNet 1.0 and 1.1,
    ShuffleNetV2, MobileNetV2, MobileNetV3, GoogLeNet and DeepLabV3 with a
    ResNet-50 or ResNet-101 backbone. Layouts are converted:
    convolution kernels ``(out, in / groups, kh, kw)`` to ``(kh, kw, in /
    groups, out)`` (grouped ResNeXt convolutions included); depthwise kernels
    ``(C, 1, kh, kw)`` to ``(kh, kw, C, 1)``; ``Linear`` weights ``(out,
    in)`` to dense kernels ``(in, out)``; MobileNetV3's SE ``1x1``
    convolutions to dense kernels; the first dense layer of AlexNet and VGG
    from PyTorch's ``(C, H, W)`` flattening to Keras' ``(H, W, C)``, in
    ``channels_first`` models too (Keras' ``Flatten`` flattens channels
    last in both formats). BN's ``weight``, ``bias``, ``running_mean`` and
    ``running_var`` become ``gamma``, ``beta``, ``moving_mean`` and
    ``moving_variance``; ``num_batches_tracked`` is ignored.

    GoogLeNet: torchvision's ``googlenet`` is the BN network with a 3x3
    convolution where the paper's Inception modules have their 5x5 (a
    known torchvision slip, pytorch/vision issue 906, kept for its
    pretrained weights: 6,624,904 parameters instead of 7,005,832), ceil-mode
    max pools and a 2x2 pool before stage 5; ``kcv.models.GoogLeNet(...,
    convention="torchvision")`` builds that network, and a GoogLeNet with
    the paper's 5x5 or without BN is refused. Its names: ``conv1``,
    ``conv2``, ``conv3`` (kcv's ``conv1``, ``conv2_reduce``, ``conv2``),
    each ``.conv`` / ``.bn``; ``inception3a.branch1`` (1x1),
    ``.branch2.0/1`` (3x3 reduce, 3x3), ``.branch3.0/1`` (5x5 reduce, the
    3x3), ``.branch4.1`` (pool projection); ``aux1`` / ``aux2`` (``.conv``,
    ``.fc1``, ``.fc2``), loaded into a model with ``aux_logits=True`` and
    ignored by one without, like ``fc`` with ``include_top=False`` (the
    pretrained file holds them, untrained). torchvision's pretrained model
    re-normalises its input (``transform_input=True``); the kcv model takes
    ``preprocessing("GoogLeNet_Weights.IMAGENET1K_V1")``, which folds that
    step into the normalisation (mean and std 0.5).

    DeepLabV3: torchvision's ``deeplabv3_resnet50`` and
    ``deeplabv3_resnet101`` load into ``kcv.models.DeepLabV3((H, W, 3),
    classes, backbone="resnet50", output_stride=8, convention="torchvision")``
    (``"resnet101"``): the dilated ResNet (strides of stages 4 and 5
    replaced by dilation 2 and 4, the first block of each keeping the
    previous rate, as ``replace_stride_with_dilation=[False, True, True]``),
    ASPP at rates 12, 24, 36 with image pooling and projection, and
    ``DeepLabHead``'s 3x3 convolution + BN + ReLU before the 1x1 logits,
    which kcv builds only with ``convention="torchvision"`` (the paper has
    none: a DeepLabV3 built otherwise, or at output stride 16, is refused).
    Names: the ResNet's under ``backbone.`` (no ``fc``); ``classifier.0``
    the ASPP (``convs.0`` the 1x1 branch, ``convs.1-3`` the atrous branches,
    ``convs.4.1/2`` the pooling branch's conv and BN, ``project.0/1``),
    ``classifier.1/2`` the 3x3 convolution and its BN, ``classifier.4`` the
    logits. The auxiliary classifier (``aux_classifier.*``, an FCN head on
    stage 4 for training) is not built by kcv and its keys are ignored, like
    ``fc`` with ``include_top=False``. 21 classes: 39,638,869 parameters
    (ResNet-101: 58,630,997), torchvision's ``num_params`` less the
    auxiliary head's 2,365,205. Preprocessing: :func:`preprocessing`
    (resize to 520, no crop; sides must then be made multiples of 8).

    Not loaded (no kcv model of the same network): torchvision's
    ``deeplabv3_mobilenet_v3_large`` (a dilated MobileNetV3-Large: kcv's
    DeepLabV3 takes MobileNetV2 only) and ``lraspp_mobilenet_v3_large`` (no
    LR-ASPP in kcv); ``fcn_resnet50``: a dilated ResNet-50 with ``FCNHead``
    (3x3 convolution 2048 -> 512 + BN + ReLU, dropout, 1x1 to classes) and
    no skips, a different network from :func:`kcv.models.FCN` (Long et
    al.'s VGG or ResNet with scoring layers fused across strides and
    learned upsampling); Inception v3, DenseNet, EfficientNet, RegNet, ViT
    and the others: no kcv model.

    The model must compute as torchvision does: built with
    ``convention="torchvision"`` (torchvision's padding of strided layers and
    its BN epsilon; see :func:`kcv.models.common.convention_options`), else a
    ``ValueError`` says what differs. A model without its classifier
    (``include_top=False``) takes a full state dict: the classifier's
    entries (``fc.*``, ``classifier.*``) are then ignored. Use
    ``classifier_activation=None`` to compare logits (DeepLabV3's default).

    Args:
        model: a kcv model (``keras.Model``) of one of the families above,
            built with ``convention="torchvision"``.
        state_dict_or_path: a mapping of torchvision parameter names to
            tensors (torch, NumPy or any array), e.g. ``torch_model.state_dict()``,
            or the path of a ``.pth`` / ``.pt`` file (read with
            ``torch.load(..., weights_only=True)``; needs PyTorch) or of a
            ``.safetensors`` file (needs the ``safetensors`` package).

    Returns:
        ``model``, its weights replaced.

    Raises:
        ValueError: naming ``model`` (not a supported family, or built with
            Keras' convention, or with weights torchvision's model has not,
            e.g. SE blocks), or ``state_dict_or_path`` (keys missing from or
            unknown to the model, listed; a shape that does not fit, with the
            key, the expected and the received shape).
        ImportError: a ``.pth`` file without PyTorch, a ``.safetensors``
            file without the ``safetensors`` package.

    Example:

    >>> import kcv
    >>> model = kcv.models.ResNet(
    ...     18, convention="torchvision", classifier_activation=None)
    >>> kcv.weights.load_torchvision(model, "resnet18-f37072fd.pth")  # doctest: +SKIP
    >>> prep = kcv.weights.preprocessing("ResNet18_Weights.IMAGENET1K_V1")
    >>> logits = model.predict(prep(images))  # doctest: +SKIP

    Reference:
        torchvision ``models/`` (the modules' names and layouts);
        ``torch.nn.Conv2d``, ``torch.nn.Linear``, ``torch.nn.BatchNorm2d``.
    """
    family = _family(model)
    problems = _convention_problems(model, family)
    if problems:
        _validation.fail(
            "model",
            f'built with convention="torchvision" (e.g. kcv.models.{family}(..., '
            f'{_EXAMPLE_OPTIONS.get(family, "")}convention="torchvision")): torchvision\'s '
            "weights give torchvision's "
            "logits only with its padding and BN epsilon",
            model,
            received=f"{model.name!r} with {' and '.join(problems)}",
        )
    slots, head_prefixes = _FAMILIES[family][0](model)
    return _load(model, slots, head_prefixes, state_dict_or_path, "torchvision", family)


# --- preprocessing ---------------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

TORCHVISION_URL = "https://download.pytorch.org/models/"
# torchvision's weight sets: (resize_size, crop_size, file). The sizes are those of the
# preset in each Weights entry ("transforms=partial(ImageClassification, crop_size=224,
# resize_size=232)"; resize_size defaults to 256), bilinear, ImageNet mean and std; the
# file is the Weights entry's url under TORCHVISION_URL, and the hex digits after its last
# "-" begin the file's SHA-256 (torchvision's check_hash).
TORCHVISION_WEIGHTS = {
    "AlexNet_Weights.IMAGENET1K_V1": (256, 224, "alexnet-owt-7be5be79.pth"),
    "VGG11_Weights.IMAGENET1K_V1": (256, 224, "vgg11-8a719046.pth"),
    "VGG13_Weights.IMAGENET1K_V1": (256, 224, "vgg13-19584684.pth"),
    "VGG16_Weights.IMAGENET1K_V1": (256, 224, "vgg16-397923af.pth"),
    "VGG19_Weights.IMAGENET1K_V1": (256, 224, "vgg19-dcbb9e9d.pth"),
    "VGG11_BN_Weights.IMAGENET1K_V1": (256, 224, "vgg11_bn-6002323d.pth"),
    "VGG13_BN_Weights.IMAGENET1K_V1": (256, 224, "vgg13_bn-abd245e5.pth"),
    "VGG16_BN_Weights.IMAGENET1K_V1": (256, 224, "vgg16_bn-6c64b313.pth"),
    "VGG19_BN_Weights.IMAGENET1K_V1": (256, 224, "vgg19_bn-c79401a0.pth"),
    "ResNet18_Weights.IMAGENET1K_V1": (256, 224, "resnet18-f37072fd.pth"),
    "ResNet34_Weights.IMAGENET1K_V1": (256, 224, "resnet34-b627a593.pth"),
    "ResNet50_Weights.IMAGENET1K_V1": (256, 224, "resnet50-0676ba61.pth"),
    "ResNet50_Weights.IMAGENET1K_V2": (232, 224, "resnet50-11ad3fa6.pth"),
    "ResNet101_Weights.IMAGENET1K_V1": (256, 224, "resnet101-63fe2227.pth"),
    "ResNet101_Weights.IMAGENET1K_V2": (232, 224, "resnet101-cd907fc2.pth"),
    "ResNet152_Weights.IMAGENET1K_V1": (256, 224, "resnet152-394f9c45.pth"),
    "ResNet152_Weights.IMAGENET1K_V2": (232, 224, "resnet152-f82ba261.pth"),
    "ResNeXt50_32X4D_Weights.IMAGENET1K_V1": (256, 224, "resnext50_32x4d-7cdf4587.pth"),
    "ResNeXt50_32X4D_Weights.IMAGENET1K_V2": (232, 224, "resnext50_32x4d-1a0047aa.pth"),
    "ResNeXt101_32X8D_Weights.IMAGENET1K_V1": (256, 224, "resnext101_32x8d-8ba56ff5.pth"),
    "ResNeXt101_32X8D_Weights.IMAGENET1K_V2": (232, 224, "resnext101_32x8d-110c445d.pth"),
    "ResNeXt101_64X4D_Weights.IMAGENET1K_V1": (232, 224, "resnext101_64x4d-173b62eb.pth"),
    "Wide_ResNet50_2_Weights.IMAGENET1K_V1": (256, 224, "wide_resnet50_2-95faca4d.pth"),
    "Wide_ResNet50_2_Weights.IMAGENET1K_V2": (232, 224, "wide_resnet50_2-9ba9bcbe.pth"),
    "Wide_ResNet101_2_Weights.IMAGENET1K_V1": (256, 224, "wide_resnet101_2-32ee1156.pth"),
    "Wide_ResNet101_2_Weights.IMAGENET1K_V2": (232, 224, "wide_resnet101_2-d733dc28.pth"),
    "SqueezeNet1_0_Weights.IMAGENET1K_V1": (256, 224, "squeezenet1_0-b66bff10.pth"),
    "SqueezeNet1_1_Weights.IMAGENET1K_V1": (256, 224, "squeezenet1_1-b8a52dc0.pth"),
    "ShuffleNet_V2_X0_5_Weights.IMAGENET1K_V1": (256, 224, "shufflenetv2_x0.5-f707e7126e.pth"),
    "ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1": (256, 224, "shufflenetv2_x1-5666bf0f80.pth"),
    "ShuffleNet_V2_X1_5_Weights.IMAGENET1K_V1": (232, 224, "shufflenetv2_x1_5-3c479a10.pth"),
    "ShuffleNet_V2_X2_0_Weights.IMAGENET1K_V1": (232, 224, "shufflenetv2_x2_0-8be3c8ee.pth"),
    "MobileNet_V2_Weights.IMAGENET1K_V1": (256, 224, "mobilenet_v2-b0353104.pth"),
    "MobileNet_V2_Weights.IMAGENET1K_V2": (232, 224, "mobilenet_v2-7ebf99e0.pth"),
    "MobileNet_V3_Large_Weights.IMAGENET1K_V1": (256, 224, "mobilenet_v3_large-8738ca79.pth"),
    "MobileNet_V3_Large_Weights.IMAGENET1K_V2": (232, 224, "mobilenet_v3_large-5c1a4163.pth"),
    "MobileNet_V3_Small_Weights.IMAGENET1K_V1": (256, 224, "mobilenet_v3_small-047dcff4.pth"),
    "GoogLeNet_Weights.IMAGENET1K_V1": (256, 224, "googlenet-1378be20.pth"),
    # SemanticSegmentation(resize_size=520): no crop.
    "DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1": (
        520,
        None,
        "deeplabv3_resnet50_coco-cd0a2569.pth",
    ),
    "DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1": (
        520,
        None,
        "deeplabv3_resnet101_coco-586e9e4e.pth",
    ),
}
# Weight sets whose model re-normalises its input: torchvision's pretrained GoogLeNet
# (transform_input=True) maps the ImageNet-normalised x_c to x_c·std_c / 0.5 + (mean_c - 0.5)
# / 0.5, i.e. the [0, 1] image normalised with mean and std 0.5: kcv folds that into the
# preprocessing, the model takes the result as it is.
_INPUT_NORMALIZATION = {"GoogLeNet_Weights.IMAGENET1K_V1": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}


# The networks whose weights load, by builder name: (library, weight sets' prefix, kcv family,
# parameter count with the 1000-class top: torchvision's ``meta["num_params"]``, timm's count;
# the DeepLabs' with 21 classes, less the auxiliary classifier that kcv does not build:
# meta["num_params"] 42,004,074 and 60,996,202 less FCNHead(1024, 21)'s 2,365,205).
ARCHITECTURES = {
    **{
        f"resnet{depth}": ("torchvision", f"ResNet{depth}_Weights", "ResNet", count)
        for depth, count in (
            (18, 11_689_512),
            (34, 21_797_672),
            (50, 25_557_032),
            (101, 44_549_160),
            (152, 60_192_808),
        )
    },
    "resnext50_32x4d": ("torchvision", "ResNeXt50_32X4D_Weights", "ResNet", 25_028_904),
    "resnext101_32x8d": ("torchvision", "ResNeXt101_32X8D_Weights", "ResNet", 88_791_336),
    "resnext101_64x4d": ("torchvision", "ResNeXt101_64X4D_Weights", "ResNet", 83_455_272),
    "wide_resnet50_2": ("torchvision", "Wide_ResNet50_2_Weights", "ResNet", 68_883_240),
    "wide_resnet101_2": ("torchvision", "Wide_ResNet101_2_Weights", "ResNet", 126_886_696),
    **{
        f"vgg{depth}{suffix}": ("torchvision", f"VGG{depth}{suffix.upper()}_Weights", "VGG", count)
        for depth, suffix, count in (
            (11, "", 132_863_336),
            (11, "_bn", 132_868_840),
            (13, "", 133_047_848),
            (13, "_bn", 133_053_736),
            (16, "", 138_357_544),
            (16, "_bn", 138_365_992),
            (19, "", 143_667_240),
            (19, "_bn", 143_678_248),
        )
    },
    "alexnet": ("torchvision", "AlexNet_Weights", "AlexNet", 61_100_840),
    "squeezenet1_0": ("torchvision", "SqueezeNet1_0_Weights", "SqueezeNet", 1_248_424),
    "squeezenet1_1": ("torchvision", "SqueezeNet1_1_Weights", "SqueezeNet", 1_235_496),
    **{
        f"shufflenet_v2_{scale.lower()}": (
            "torchvision",
            f"ShuffleNet_V2_{scale}_Weights",
            "ShuffleNetV2",
            count,
        )
        for scale, count in (
            ("X0_5", 1_366_792),
            ("X1_0", 2_278_604),
            ("X1_5", 3_503_624),
            ("X2_0", 7_393_996),
        )
    },
    "mobilenet_v2": ("torchvision", "MobileNet_V2_Weights", "MobileNetV2", 3_504_872),
    "mobilenet_v3_large": ("torchvision", "MobileNet_V3_Large_Weights", "MobileNetV3", 5_483_032),
    "mobilenet_v3_small": ("torchvision", "MobileNet_V3_Small_Weights", "MobileNetV3", 2_542_856),
    "googlenet": ("torchvision", "GoogLeNet_Weights", "GoogLeNet", 6_624_904),
    "deeplabv3_resnet50": ("torchvision", "DeepLabV3_ResNet50_Weights", "DeepLabV3", 39_638_869),
    "deeplabv3_resnet101": (
        "torchvision",
        "DeepLabV3_ResNet101_Weights",
        "DeepLabV3",
        58_630_997,
    ),
    "seresnet50": ("timm", "seresnet50", "SE-ResNet", 28_088_024),
}
# timm's pretrained tags of the networks load_timm maps (timm's ``pretrained_cfgs``).
TIMM_WEIGHTS = (
    "seresnet50.a1_in1k",
    "seresnet50.a2_in1k",
    "seresnet50.a3_in1k",
    "seresnet50.ra2_in1k",
)


def weight_sets(model):
    """The pretrained weight sets that fit ``model``'s architecture.

    The model is matched to a torchvision or timm network
    (``ARCHITECTURES``) by its family (the blocks it is made of) and its
    trainable parameter count with the 1000-class classifier, and the
    network's weight sets are listed: torchvision's (``TORCHVISION_WEIGHTS``,
    with :func:`preprocessing`; load with :func:`load_torchvision`) or
    timm's (``TIMM_WEIGHTS``; load with :func:`load_timm`). The model may
    be built with either convention; the weights load once it is built with
    ``convention="torchvision"`` (PyTorch's padding and BN epsilon), which
    does not change its parameters, except GoogLeNet, whose torchvision
    form has a 3x3 in place of the paper's 5x5 (only
    ``GoogLeNet(convention="torchvision")`` matches), and DeepLabV3, whose
    torchvision form has a 3x3 convolution + BN after ASPP (only
    ``DeepLabV3(..., 21, backbone="resnet50" or "resnet101",
    convention="torchvision")`` matches, counted with 21 classes and
    without torchvision's auxiliary classifier; the weights load at output
    stride 8). A model with another
    number of classes or without its classifier matches nothing here,
    though the same weights load into it (without ``fc``).

    Args:
        model: a ``keras.Model`` (built, or inside
            ``keras.StatelessScope``).

    Returns:
        A list of ``(library, weight set)`` pairs, ``("torchvision",
        "ResNet50_Weights.IMAGENET1K_V1")`` or ``("timm",
        "seresnet50.a1_in1k")``; empty when none fits.

    Example:

    >>> import kcv
    >>> kcv.weights.weight_sets(kcv.models.SqueezeNet("1.1"))
    [('torchvision', 'SqueezeNet1_1_Weights.IMAGENET1K_V1')]
    >>> [name for _, name in kcv.weights.weight_sets(kcv.models.ResNet(50))]
    ['ResNet50_Weights.IMAGENET1K_V1', 'ResNet50_Weights.IMAGENET1K_V2']
    """
    if not isinstance(model, keras.Model):
        _validation.fail("model", "a keras.Model", model, received=type(model).__name__)
    family = "SE-ResNet" if _is_se_resnet(model) else _detected_family(model)
    count = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    found = []
    for library, prefix, model_family, parameters in ARCHITECTURES.values():
        if (model_family, parameters) != (family, count):
            continue
        names = TORCHVISION_WEIGHTS if library == "torchvision" else TIMM_WEIGHTS
        found += [(library, name) for name in names if name.startswith(f"{prefix}.")]
    return found


def _resampling_matrix(size_in, size_out):
    """PIL's antialiased bilinear resampling of one axis as a ``(size_out, size_in)`` matrix.

    Output pixel ``i`` averages the inputs with a triangle filter centred at
    ``(i + 0.5) · s`` (``s = size_in / size_out``), widened to ``max(s, 1)``
    pixels when shrinking, with weights normalised to sum to 1
    (``ImagingResample``'s ``precompute_coeffs``; torchvision's
    ``antialias=True`` resize implements the same filter).
    """
    scale = size_in / size_out
    width = max(scale, 1.0)
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        centre = (i + 0.5) * scale
        low = max(int(centre - width + 0.5), 0)
        high = min(int(centre + width + 0.5), size_in)
        taps = np.arange(low, high)
        weights = np.clip(1.0 - np.abs((taps - centre + 0.5) / width), 0.0, None)
        matrix[i, low:high] = weights / weights.sum()
    return matrix


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """The preprocessing of a weight set; calling it applies it to images.

    torchvision's ``ImageClassification`` preset: resize the shorter side to
    ``resize_size`` (bilinear, antialiased; the longer side to
    ``int(resize_size · long / short)``), crop the central ``crop_size`` x
    ``crop_size`` square (offsets ``int(round((n - crop_size) / 2))``; no
    crop when ``crop_size`` is None, as torchvision's
    ``SemanticSegmentation`` preset), scale
    the values to [0, 1] (integer images are divided by their type's
    maximum, 255 for ``uint8``; float images must already lie in [0, 1]),
    then subtract ``mean`` and divide by ``std`` per channel (RGB order).
    Computed in float64 with NumPy, so every backend receives the same
    numbers; torchvision resizes ``uint8`` images in 8 bits (PIL rounds
    after each of its two passes), which moves its values by up to about
    one grey level (1/255 before normalisation).

    Args:
        name: str. The weight set, as torchvision names it.
        resize_size: int. Shorter side after resizing.
        crop_size: int or None. Side of the central crop (the model's input
            size); None: no crop (the resized image).
        mean: tuple of 3 floats. Per-channel mean of the [0, 1] inputs.
        std: tuple of 3 floats. Per-channel standard deviation.
        interpolation: str. ``"bilinear"`` (torchvision's, antialiased).

    Example:

    >>> import numpy as np, kcv
    >>> prep = kcv.weights.preprocessing("ResNet50_Weights.IMAGENET1K_V2")
    >>> prep.resize_size, prep.crop_size
    (232, 224)
    >>> prep(np.zeros((300, 400, 3), "uint8")).shape
    (224, 224, 3)

    Reference:
        torchvision ``transforms/_presets.py``, ``ImageClassification``;
        ``transforms/functional.py`` (``resize``, ``center_crop``).
    """

    name: str
    resize_size: int
    crop_size: int
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    interpolation: str = "bilinear"

    def __call__(self, images, data_format=None):
        """Preprocesses one image ``(H, W, 3)`` or a batch ``(B, H, W, 3)`` of one size.

        Args:
            images: array-like (NumPy, PIL image, ...), channels last, RGB;
                integer values (``uint8``: 0-255) or floats in [0, 1].
            data_format: str or None. Layout of the result;
                None reads ``keras.config.image_data_format()``.

        Returns:
            A float32 NumPy array ``(crop, crop, 3)`` or ``(B, crop, crop,
            3)`` (channels first: ``(3, crop, crop)``, ``(B, 3, crop,
            crop)``); without a crop, the resized height and width.
        """
        data_format = _validation.data_format(data_format)
        array = np.asarray(images)
        single = array.ndim == 3
        if array.ndim not in (3, 4) or array.shape[-1] != len(self.mean):
            _validation.fail(
                "images",
                "an image (H, W, 3) or a batch (B, H, W, 3), channels last",
                images,
                received=f"an array of shape {array.shape}",
            )
        batch = array[None] if single else array
        if np.issubdtype(batch.dtype, np.integer):
            batch = batch / np.iinfo(batch.dtype).max
        batch = batch.astype("float64")
        height, width = batch.shape[1:3]
        short, long = sorted((height, width))
        resized_long = int(self.resize_size * long / short)
        new_h, new_w = (
            (self.resize_size, resized_long)
            if height <= width
            else (resized_long, self.resize_size)
        )
        batch = np.einsum("oh,bhwc->bowc", _resampling_matrix(height, new_h), batch)
        batch = np.einsum("pw,bowc->bopc", _resampling_matrix(width, new_w), batch)
        if self.crop_size is not None:
            top = int(round((new_h - self.crop_size) / 2.0))
            left = int(round((new_w - self.crop_size) / 2.0))
            batch = batch[:, top : top + self.crop_size, left : left + self.crop_size]
        batch = ((batch - np.asarray(self.mean)) / np.asarray(self.std)).astype("float32")
        if data_format == "channels_first":
            batch = batch.transpose(0, 3, 1, 2)
        return batch[0] if single else batch


def preprocessing(name):
    """The preprocessing that goes with a torchvision weight set.

    ``name`` is torchvision's name of the weights, ``"<Weights enum>.<tag>"``
    (``str(torchvision.models.ResNet50_Weights.IMAGENET1K_V1)``), for the
    weight sets of the models :func:`load_torchvision` loads
    (``TORCHVISION_WEIGHTS`` lists them). The classifiers' are torchvision's
    ImageNet preset with a 224 crop, mean ``(0.485, 0.456, 0.406)``, std
    ``(0.229, 0.224, 0.225)`` and inputs in [0, 1]; they differ in the resize: 256
    for the original ("V1") weights, 232 for those of torchvision's newer
    recipe (ResNet-50/101/152 and ResNeXt "V2", MobileNetV2/V3-Large "V2",
    ShuffleNetV2 x1.5 and x2.0). GoogLeNet's pretrained model re-normalises
    its input inside the network (``transform_input=True``: ``x_c · std_c /
    0.5 + (mean_c - 0.5) / 0.5`` on the ImageNet-normalised ``x_c``), which
    kcv's :func:`kcv.models.GoogLeNet` does not: its preprocessing here
    normalises with mean and std ``(0.5, 0.5, 0.5)``, the same numbers in
    one step, so that the kcv model gives torchvision's logits. The DeepLabV3
    weights (``DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1`` and
    ``_ResNet101_``) take torchvision's ``SemanticSegmentation`` preset:
    the shorter side resized to 520, no crop (``crop_size`` None), ImageNet
    mean and std. torchvision's model then resizes its logits to any input
    size; kcv's DeepLabV3 needs sides that are multiples of 8 (its output
    stride), so pad or crop the result to such sides (a square image gives
    520 x 520, 520 = 65 · 8). Inception v3 is not listed (no kcv model).

    Args:
        name: str. E.g. ``"ResNet50_Weights.IMAGENET1K_V1"``.

    Returns:
        A :class:`Preprocessing`: its fields are the numbers, calling it
        applies it to images.

    Example:

    >>> import kcv
    >>> prep = kcv.weights.preprocessing("MobileNet_V3_Small_Weights.IMAGENET1K_V1")
    >>> prep.resize_size, prep.crop_size, prep.mean
    (256, 224, (0.485, 0.456, 0.406))

    Reference:
        torchvision ``models/*.py`` (each ``Weights`` entry's ``transforms``)
        and ``transforms/_presets.py`` (``ImageClassification``).
    """
    if name not in TORCHVISION_WEIGHTS:
        _validation.fail(
            "name",
            "a torchvision weight set such as 'ResNet50_Weights.IMAGENET1K_V1' "
            "(kcv.weights.TORCHVISION_WEIGHTS lists them)",
            name,
        )
    resize_size, crop_size, _ = TORCHVISION_WEIGHTS[name]
    return Preprocessing(name, resize_size, crop_size, *_INPUT_NORMALIZATION.get(name, ()))


# --- downloading, on request ------------------------------------------------------------

# timm's weights live on the Hugging Face Hub, one repository per tag (``hf_hub_id="timm/"``).
TIMM_URL = "https://huggingface.co/timm/{name}/resolve/main/model.safetensors"


def weight_url(name):
    """Where a weight set of :data:`TORCHVISION_WEIGHTS` or :data:`TIMM_WEIGHTS` is published.

    Args:
        name: str. A torchvision weight set (``"ResNet18_Weights.IMAGENET1K_V1"``)
            or a timm tag (``"seresnet50.a1_in1k"``).

    Returns:
        ``(url, file_name, sha256_prefix)``: the address, the name of the file
        in the cache, and the beginning of its SHA-256 (torchvision's files
        carry it in their name; None for timm's).

    Raises:
        ValueError: naming ``name`` when it is neither.

    Example:

    >>> import kcv
    >>> kcv.weights.weight_url("ResNet18_Weights.IMAGENET1K_V1")[1:]
    ('resnet18-f37072fd.pth', 'f37072fd')
    """
    if name in TORCHVISION_WEIGHTS:
        file_name = TORCHVISION_WEIGHTS[name][2]
        prefix = re.search(r"-([0-9a-f]+)\.pth$", file_name).group(1)
        return TORCHVISION_URL + file_name, file_name, prefix
    if name in TIMM_WEIGHTS:
        return TIMM_URL.format(name=name), f"{name}.safetensors", None
    return _validation.fail(
        "name",
        "a weight set of kcv.weights.TORCHVISION_WEIGHTS or kcv.weights.TIMM_WEIGHTS "
        "(e.g. 'ResNet18_Weights.IMAGENET1K_V1' or 'seresnet50.a1_in1k')",
        name,
    )


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(name, cache_dir=None):
    """Downloads a weight set once into Keras' cache and returns the file's path.

    Only on request: nothing in kcv calls it (its tests and the book build
    stay offline). The file goes where :func:`keras.utils.get_file` keeps
    downloads (``~/.keras/models/`` or ``$KERAS_HOME/models/``, or
    ``cache_dir/models/``) and is not fetched again once there. A
    torchvision file is checked against the SHA-256 prefix in its name, as
    torchvision does; a file that does not match is removed and the call
    fails, so a broken download is never loaded. Pass the path to
    :func:`load_torchvision` or :func:`load_timm`.

    Args:
        name: str. A torchvision weight set or a timm tag (:func:`weight_url`).
        cache_dir: str or None. The cache's root; None: Keras' default.

    Returns:
        str. The path of the ``.pth`` (torchvision) or ``.safetensors``
        (timm) file.

    Raises:
        ValueError: naming ``name`` when the weight set is unknown.
        OSError: when the file's SHA-256 does not begin with the published
            prefix (the file is removed).

    Example:

    >>> import kcv  # doctest: +SKIP
    >>> model = kcv.models.ResNet(18, convention="torchvision")  # doctest: +SKIP
    >>> path = kcv.weights.download("ResNet18_Weights.IMAGENET1K_V1")  # doctest: +SKIP
    >>> kcv.weights.load_torchvision(model, path)  # doctest: +SKIP
    """
    url, file_name, prefix = weight_url(name)
    path = keras.utils.get_file(file_name, origin=url, cache_subdir="models", cache_dir=cache_dir)
    if prefix is not None and not _sha256(path).startswith(prefix):
        os.remove(path)
        raise OSError(
            f"The download of {name!r} from {url} is not torchvision's file: its SHA-256 "
            f"does not begin with {prefix}. It was removed; download again."
        )
    return path
