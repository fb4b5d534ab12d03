"""Plain PyTorch references for the kcv networks built on a ResNet (``torch.nn`` only).

One ``nn.Module`` per benchmarked kcv model, NCHW, with the structure and
the trainable parameter count of the kcv model at the configuration that
``benchmarks/models.py`` times (32x32 RGB, 10 classes): SE-ResNet-20 for
CIFAR, SE-ResNet-50, EncNet's CIFAR network, EncNet and SPNet. They share
one ResNet (:class:`ResidualBlock`, :class:`ResNetStages`,
:class:`ResNetBackbone`), the mirror of ``kcv.layers.BasicBlock`` /
``kcv.layers.Bottleneck`` and ``kcv.models.resnet``'s ``resnet_stages`` and
``resnet_backbone``: basic or bottleneck blocks, SE on the residual branch,
strides turned into dilation beyond an output stride, and a hook that puts a
module inside every block (kcv's ``attention`` / ``inner_attention``:
EncNet's encoding gates, SPNet's strip pooling). The blocks of ``native_torch.py``
(``conv_bn_act``, SE, Encoding, Context Encoding, strip and mixed pooling)
are reused. kcv options the benchmark does not use (``include_top=False``,
pooling, other backbones, ``se_loss=False``...) are left out.

Conventions shared with kcv: a convolution followed by batch normalization
has no bias, every other one has one; "same" padding (symmetric: at stride
2 Keras pads after only, same cost); batch normalization with Keras'
defaults; classifiers end in softmax, segmentation logits are upsampled
bilinearly with half-pixel centres (``align_corners=False``, as Keras'
resize).

Where they differ from kcv:

- the stride-2 padding above (same cost, a sampling grid shifted by one
  pixel), so that with the same weights the outputs differ from kcv's;
  with Keras' padding they agree to float32 rounding (checked on all five
  models, inference mode);
- the work of the last stage's 3x3 convolutions: kcv's ``Conv2D`` skips the
  taps that read only padding (``kcv.layers.conv.live_taps``), which at a
  32x32 input are all but the centre in SE-ResNet-50's 1x1 maps and in the
  dilation-4 convolutions on EncNet's and SPNet's 4x4 maps (about 12% and
  5% of their convolution MACs); here they are plain ``nn.Conv2d``, as a
  PyTorch user (or torchvision) writes them.

Papers:

- He et al. "Deep Residual Learning for Image Recognition". CVPR 2016.
  https://arxiv.org/abs/1512.03385
- Hu et al. "Squeeze-and-Excitation Networks". CVPR 2018.
  https://arxiv.org/abs/1709.01507
- Chen et al. "Rethinking Atrous Convolution for Semantic Image
  Segmentation" (DeepLabv3). 2017. https://arxiv.org/abs/1706.05587
- Zhang et al. "Context Encoding for Semantic Segmentation". CVPR 2018.
  https://arxiv.org/abs/1803.08904
- Hou et al. "Strip Pooling: Rethinking Spatial Pooling for Scene Parsing".
  CVPR 2020. https://arxiv.org/abs/2003.13328
"""

import functools

import torch
from native_torch import _BN
from native_torch import ContextEncoding
from native_torch import Encoding
from native_torch import MixedPooling
from native_torch import SqueezeExcite
from native_torch import StripPooling
from native_torch import atrous_schedule
from native_torch import conv_bn_act
from torch import nn
from torch.nn import functional as F

RESNET50_DEPTHS = (3, 4, 6, 3)
RESNET50_WIDTHS = (64, 128, 256, 512)


class ResidualBlock(nn.Module):
    """A basic or bottleneck residual block, optionally with SE and hooked modules.

    Bottleneck: ``1x1 (f) -> 3x3 (f, stride, dilation) -> [inner] -> 1x1
    (4f)``; basic: ``3x3 (f, stride, dilation) -> [inner] -> 3x3 (f,
    dilation)``; every convolution + BN, ReLU after all but the last; then
    ``[SE] -> [residual]`` and ``relu(shortcut + residual branch)``. The
    stride of a bottleneck is on its 3x3 (torchvision's ResNet "v1.5"). The
    shortcut is the identity, or a 1x1 projection + BN where the shape
    changes (He et al., option B). ``inner`` and ``residual`` are the
    modules (or None) that kcv's blocks take as ``inner_attention`` and
    ``attention`` (after SE, when both are given). The structure of
    ``kcv.layers.Bottleneck`` and ``kcv.layers.BasicBlock``.
    """

    def __init__(
        self,
        in_channels,
        filters,
        bottleneck,
        stride=1,
        dilation=1,
        reduction=None,
        inner=None,
        residual=None,
    ):
        super().__init__()
        conv3x3 = functools.partial(conv_bn_act, kernel_size=3, dilation=dilation)
        if bottleneck:
            out_channels = 4 * filters
            head = [conv_bn_act(in_channels, filters, 1), conv3x3(filters, filters, stride=stride)]
            tail = conv_bn_act(filters, out_channels, 1, activation=None)
        else:
            out_channels = filters
            head = [conv3x3(in_channels, filters, stride=stride)]
            tail = conv3x3(filters, filters, activation=None)
        layers = head + [inner, tail]
        layers += [None if reduction is None else SqueezeExcite(out_channels, reduction), residual]
        self.branch = nn.Sequential(*[layer for layer in layers if layer is not None])
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = conv_bn_act(
                in_channels, out_channels, 1, stride=stride, activation=None
            )
        self.out_channels = out_channels

    def forward(self, x):
        out = self.branch(x)
        out += self.shortcut(x)
        return F.relu(out, inplace=True)


class ResNetStages(nn.Sequential):
    """Residual stages, the mirror of ``kcv.models.resnet.resnet_stages``; returns the last stage.

    Stage ``s`` has ``depths[s]`` blocks of width ``widths[s]``, its first
    block with stride ``strides[s]``. With ``output_stride`` the strides
    past it become dilation (:func:`atrous_schedule`, ``input_stride`` being
    the stride of the input). ``block_hook(point, stage, block, channels)``
    (``point`` ``"inner"`` or ``"residual"``, ``stage`` and ``block`` from
    0, ``channels`` those of the tensor at that point) returns the module
    to insert there, or None; see :class:`ResidualBlock`.
    """

    def __init__(
        self,
        in_channels,
        bottleneck,
        depths,
        widths,
        strides,
        reduction=None,
        output_stride=None,
        input_stride=1,
        block_hook=None,
    ):
        unit_strides = [
            s if b == 0 else 1 for depth, s in zip(depths, strides) for b in range(depth)
        ]
        schedule = iter(atrous_schedule(unit_strides, output_stride, input_stride))
        expansion = 4 if bottleneck else 1
        stages = []
        for stage, (depth, width) in enumerate(zip(depths, widths)):
            blocks = []
            for index in range(depth):
                stride, dilation = next(schedule)
                hooked = {}
                if block_hook is not None:
                    points = (("inner", width), ("residual", expansion * width))
                    hooked = {
                        point: block_hook(point, stage, index, channels)
                        for point, channels in points
                    }
                blocks.append(
                    ResidualBlock(
                        in_channels, width, bottleneck, stride, dilation, reduction, **hooked
                    )
                )
                in_channels = blocks[-1].out_channels
            stages.append(nn.Sequential(*blocks))
        super().__init__(*stages)
        self.out_channels = in_channels


class ResNetBackbone(nn.Sequential):
    """The ImageNet (SE-)ResNet feature extractor, the mirror of ``kcv.models.resnet.resnet_backbone``.

    ``conv 7x7/2 (widths[0]) + BN + ReLU -> max pool 3x3/2 -> bottleneck
    stages`` (strides 1, 2, 2, 2; ResNet-50 by default). Max pooling pads
    with ``-inf``, as Keras' "same" max pooling ignores its padding.
    ``reduction``: SE ratio (None: plain ResNet); ``output_stride``: None, 8
    or 16 (dilated stages); ``block_hook``: see :class:`ResNetStages`.
    """

    def __init__(
        self,
        depths=RESNET50_DEPTHS,
        widths=RESNET50_WIDTHS,
        reduction=16,
        output_stride=None,
        block_hook=None,
    ):
        stages = ResNetStages(
            widths[0],
            True,
            depths,
            widths,
            (1, 2, 2, 2),
            reduction=reduction,
            output_stride=output_stride,
            input_stride=4,
            block_hook=block_hook,
        )
        super().__init__(
            conv_bn_act(3, widths[0], 7, stride=2), nn.MaxPool2d(3, stride=2, padding=1), stages
        )
        self.out_channels = stages.out_channels


class _Classifier(nn.Module):
    """``features -> global average pooling -> linear -> softmax``, kcv's ``classifier``."""

    def __init__(self, features, channels, classes):
        super().__init__()
        self.features = features
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return torch.softmax(self.fc(self.features(x).mean(dim=(2, 3))), dim=1)


def _upsample(x, factor):
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class SEResNetCIFAR(_Classifier):
    """SE-ResNet for CIFAR (He et al. Sec. 4.2, SE in every block), kcv's ``SEResNetCIFAR``.

    ``conv 3x3 (16) + BN + ReLU -> 3 stages of n = (depth - 2) / 6 basic
    blocks (16, 32, 64 channels, strides 1, 2, 2) with SE (``reduction``)
    -> global average pool -> linear -> softmax``; the shape-changing
    shortcuts are 1x1 projections + BN, as in kcv.
    """

    def __init__(self, classes=10, depth=20, reduction=16):
        n = (depth - 2) // 6
        stages = ResNetStages(16, False, (n, n, n), (16, 32, 64), (1, 2, 2), reduction=reduction)
        features = nn.Sequential(conv_bn_act(3, 16, 3), stages)
        super().__init__(features, stages.out_channels, classes)


class SEResNet50(_Classifier):
    """SE-ResNet-50 (Hu et al.), kcv's ``SEResNet50``.

    :class:`ResNetBackbone` with SE (``reduction``; None gives the plain
    ResNet-50) -> global average pool -> linear -> softmax. At 32x32 the
    last stage works on 1x1 maps.
    """

    def __init__(self, classes=10, reduction=16):
        backbone = ResNetBackbone(reduction=reduction)
        super().__init__(backbone, backbone.out_channels, classes)


class EncodingGate(nn.Module):
    """The gate of EncNet's CIFAR blocks (official ``EncLayer``), returning ``x * gate``.

    ``1x1 conv (C / reduction) + BN + ReLU -> Encoding (K) -> flatten
    (K·C/reduction) -> L2 normalisation -> linear (C) + sigmoid``, the
    structure of ``kcv.models.encnet.EncodingGate``.
    ``F.normalize`` divides by ``max(||v||, 1e-12)``, as Keras'
    ``UnitNormalization``.
    """

    def __init__(self, channels, num_codes=16, reduction=4):
        super().__init__()
        reduced = channels // reduction
        self.reduce = conv_bn_act(channels, reduced, 1)
        self.encoding = Encoding(reduced, num_codes)
        self.gate = nn.Linear(num_codes * reduced, channels)

    def forward(self, x):
        encoded = F.normalize(self.encoding(self.reduce(x)).flatten(1), dim=1, eps=1e-12)
        return x * torch.sigmoid(self.gate(encoded))[:, :, None, None]


class EncNetCIFAR(_Classifier):
    """EncNet's 14-layer CIFAR-10 network (Zhang et al.), kcv's ``EncNetCIFAR``.

    ``conv 3x3 (16w) + BN + ReLU -> 3 stages of 2 basic blocks (16w, 32w,
    64w; strides 1, 2, 2), an :class:`EncodingGate` on each residual branch
    before the addition -> BN + ReLU -> global average pool -> linear ->
    softmax``. One output: this network has no SE-loss head.
    """

    def __init__(self, classes=10, widen=4, num_codes=16, reduction=4):
        def hook(point, stage, block, channels):
            return EncodingGate(channels, num_codes, reduction) if point == "residual" else None

        widths = (16 * widen, 32 * widen, 64 * widen)
        stages = ResNetStages(widths[0], False, (2, 2, 2), widths, (1, 2, 2), block_hook=hook)
        features = nn.Sequential(
            conv_bn_act(3, widths[0], 3),
            stages,
            nn.BatchNorm2d(stages.out_channels, **_BN),
            nn.ReLU(inplace=True),
        )
        super().__init__(features, stages.out_channels, classes)


class EncNet(nn.Module):
    """EncNet for segmentation (Zhang et al.), kcv's ``EncNet`` with a ResNet-50 backbone.

    ``dilated ResNet-50 (no SE, output stride 8) -> 3x3 conv (head_filters)
    + BN + ReLU -> ContextEncoding (K codewords, SE-loss head) -> spatial
    dropout -> 1x1 conv (bias) to classes -> bilinear upsampling by the
    output stride``. Returns ``[segmentation (B, classes, H, W), se_logits
    (B, classes)]``, kcv's output order. Spatial dropout is ``Dropout2d``
    (Keras' ``SpatialDropout2D``).
    """

    def __init__(self, classes=10, num_codes=32, output_stride=8, head_filters=512, dropout=0.1):
        super().__init__()
        self.output_stride = output_stride
        self.backbone = ResNetBackbone(reduction=None, output_stride=output_stride)
        self.head_conv = conv_bn_act(self.backbone.out_channels, head_filters, 3)
        self.context_encoding = ContextEncoding(head_filters, num_codes, se_classes=classes)
        self.dropout = nn.Dropout2d(dropout)
        self.logits = nn.Conv2d(head_filters, classes, 1)

    def forward(self, x):
        y, se_logits = self.context_encoding(self.head_conv(self.backbone(x)))
        return [_upsample(self.logits(self.dropout(y)), self.output_stride), se_logits]


class SPNet(nn.Module):
    """SPNet (Hou et al.), kcv's ``SPNet`` with a ResNet-50 backbone.

    Backbone: dilated ResNet-50 (no SE, output stride 8) with a
    :class:`StripPooling` after the 3x3 convolution + BN + ReLU of the last
    block of stages conv2-conv4 and of every block of conv5 (kcv's
    ``strip_pooling_modules``). Head: ``1x1 conv (C/2) + BN + ReLU ->
    MixedPooling -> MixedPooling -> 3x3 conv (C/4) + BN + ReLU -> spatial
    dropout (Dropout2d) -> 1x1 conv (bias) to classes -> bilinear upsampling
    by the output stride``, on the backbone's ``C = 2048`` channels.
    Returns the segmentation logits ``(B, classes, H, W)``.
    """

    def __init__(self, classes=10, output_stride=8, pool_sizes=(20, 12), dropout=0.1):
        super().__init__()

        def hook(point, stage, block, channels):
            last_stage = len(RESNET50_DEPTHS) - 1
            if point == "inner" and (stage == last_stage or block == RESNET50_DEPTHS[stage] - 1):
                return StripPooling(channels)
            return None

        self.output_stride = output_stride
        backbone = ResNetBackbone(reduction=None, output_stride=output_stride, block_hook=hook)
        inter = backbone.out_channels // 2
        self.layers = nn.Sequential(
            backbone,
            conv_bn_act(backbone.out_channels, inter, 1),
            MixedPooling(inter, pool_sizes),
            MixedPooling(inter, pool_sizes),
            conv_bn_act(inter, inter // 2, 3),
            nn.Dropout2d(dropout),
            nn.Conv2d(inter // 2, classes, 1),
        )

    def forward(self, x):
        return _upsample(self.layers(x), self.output_stride)
