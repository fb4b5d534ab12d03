"""Plain PyTorch references for kcv's MobileNets and DeepLabs (``torch.nn`` only).

One ``nn.Module`` per kcv model that ``benchmarks/models.py`` times, NCHW,
with the layers, the order and the trainable parameter count of the kcv
model at that configuration (32x32x3 input, 10 classes, ``alpha=1``):
``MobileNetV1``, ``MobileNetV2``, ``DeepLabV3`` and ``DeepLabV3Plus``. One
feature extractor, :class:`MobileNetV2Features`, is both the body of the
classifier and, made atrous, the DeepLab backbone, as in kcv. Options of
the kcv builders that the benchmark does not use (width multiplier
``alpha``, ``depth_multiplier``, ``include_top=False``, other backbones,
separable ASPP and decoder...) are left out.

Conventions of ``native_torch.py`` (whose ``conv_bn_act``, ``InvertedResidual``,
``ASPP`` and ``atrous_schedule`` are
reused): a convolution followed by BN has no bias; "same" padding is
``dilation * (k - 1) / 2`` per side (at stride 2 Keras pads only after,
symmetric padding gives the same output size and cost); BN with Keras'
defaults; dropout and BN in training mode, as ``train_on_batch`` runs them.

Papers:

- Howard et al. "MobileNets: Efficient Convolutional Neural Networks for
  Mobile Vision Applications". 2017. https://arxiv.org/abs/1704.04861
- Sandler et al. "MobileNetV2: Inverted Residuals and Linear Bottlenecks".
  CVPR 2018. https://arxiv.org/abs/1801.04381
- Chen et al. "Rethinking Atrous Convolution for Semantic Image
  Segmentation" (DeepLabv3). 2017. https://arxiv.org/abs/1706.05587
- Chen et al. "Encoder-Decoder with Atrous Separable Convolution for
  Semantic Image Segmentation" (DeepLabv3+). ECCV 2018.
  https://arxiv.org/abs/1802.02611
"""

import torch
from native_torch import ASPP
from native_torch import InvertedResidual
from native_torch import atrous_schedule
from native_torch import conv_bn_act
from torch import nn
from torch.nn import functional as F

# MobileNet, Table 1: (pointwise filters, stride) of the 13 separable blocks.
V1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)

# MobileNetV2, Table 2: (expansion t, output channels c, repeats n, stride s).
V2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def separable_conv(in_channels, out_channels, stride=1):
    """MobileNet v1 block: 3x3 depthwise (stride) + BN + ReLU6, 1x1 pointwise + BN + ReLU6.

    ``kcv.layers.DepthwiseSeparableConv(activation="relu6", strides=stride)``,
    as ``kcv.models.MobileNetV1`` builds it (``native_torch``'s
    ``DepthwiseSeparableConv`` is the stride-1 ReLU block).
    """
    return nn.Sequential(
        conv_bn_act(
            in_channels, in_channels, 3, activation=nn.ReLU6, stride=stride, groups=in_channels
        ),
        conv_bn_act(in_channels, out_channels, 1, activation=nn.ReLU6),
    )


class MobileNetV2Features(nn.Module):
    """MobileNetV2's body: the 3x3/2 stem (32) + BN + ReLU6 and the 17 inverted residuals.

    ``kcv.models.MobileNetV2(alpha=1)`` up to ``block_16`` (320 channels),
    without the final 1x1 convolution to 1280. ``output_stride`` (None, 8 or
    16) turns the later strides into dilations of the depthwise
    convolutions (:func:`atrous_schedule`, as kcv does), which leaves the
    parameters unchanged. ``forward`` returns ``(low_level, features)``: the
    output of ``block_2`` (24 channels, stride 4), DeepLabv3+'s low-level
    features, and that of ``block_16``.
    """

    LOW_LEVEL_BLOCK = 2

    def __init__(self, output_stride=None):
        super().__init__()
        self.stem = conv_bn_act(3, 32, 3, activation=nn.ReLU6, stride=2)
        units = [(t, c, s if i == 0 else 1) for t, c, n, s in V2_BLOCKS for i in range(n)]
        schedule = atrous_schedule([s for _, _, s in units], output_stride, input_stride=2)
        blocks, in_channels = [], 32
        for (expansion, channels, _), (stride, rate) in zip(units, schedule):
            blocks.append(InvertedResidual(in_channels, channels, expansion, stride, rate))
            in_channels = channels
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = in_channels
        self.low_level_channels = units[self.LOW_LEVEL_BLOCK][1]

    def forward(self, x):
        x = self.stem(x)
        low_level = None
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index == self.LOW_LEVEL_BLOCK:
                low_level = x
        return low_level, x


class MobileNetV1(nn.Module):
    """MobileNet (v1): 3x3/2 stem + BN + ReLU6, 13 separable blocks, GAP, dropout, dense.

    The structure of ``kcv.models.MobileNetV1(alpha=1, depth_multiplier=1)``
    (paper, Table 1, with ReLU6 as kcv and the official code use), 10
    classes by default; ``dropout`` (kcv's default 1e-3) precedes the
    linear classifier. Returns class probabilities ``(B, classes)``.
    """

    def __init__(self, classes=10, dropout=1e-3):
        super().__init__()
        layers, in_channels = [conv_bn_act(3, 32, 3, activation=nn.ReLU6, stride=2)], 32
        for filters, stride in V1_BLOCKS:
            layers.append(separable_conv(in_channels, filters, stride))
            in_channels = filters
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_channels, classes)

    def forward(self, x):
        x = self.dropout(self.features(x).mean(dim=(2, 3)))
        return torch.softmax(self.classifier(x), dim=1)


class MobileNetV2(nn.Module):
    """MobileNetV2: :class:`MobileNetV2Features`, 1x1 conv (1280) + BN + ReLU6, GAP, dense, softmax.

    The structure of ``kcv.models.MobileNetV2(alpha=1)``: no dropout before
    the classifier (kcv follows ``keras.applications``). Returns class
    probabilities ``(B, classes)``.
    """

    def __init__(self, classes=10):
        super().__init__()
        self.features = MobileNetV2Features()
        self.conv_last = conv_bn_act(self.features.out_channels, 1280, 1, activation=nn.ReLU6)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x):
        _, x = self.features(x)
        x = self.conv_last(x).mean(dim=(2, 3))
        return torch.softmax(self.classifier(x), dim=1)


def upsample(x, size):
    """Bilinear resize, half-pixel centres: Keras' ``UpSampling2D(interpolation="bilinear")``."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class DeepLabV3(nn.Module):
    """DeepLabv3: atrous MobileNetV2 -> ASPP -> 1x1 logits (bias) -> bilinear upsampling.

    The structure of ``kcv.models.DeepLabV3(backbone="mobilenet_v2",
    alpha=1)``: :class:`MobileNetV2Features` at ``output_stride`` 16 (320
    channels, blocks 14-16 at dilation 2), ``native_torch.ASPP`` (1x1, 3x3
    at ``rates`` scaled by ``16 / output_stride``, image pooling; concat,
    1x1 projection, dropout 0.1; ``filters`` channels), logits upsampled to
    the input size. Returns logits ``(B, classes, H, W)``.

    Difference from kcv in the work done, not in the function: kcv's
    ``Conv2D`` and ``DepthwiseConv2D`` drop the taps of a dilated
    convolution that read only padding (``kcv.layers.conv.live_taps``): at a
    32x32 input the ASPP's rate 6-18 convolutions and the dilation-2
    depthwise convolutions run on a 2x2 map and kcv computes them as 1x1
    convolutions. Here they are plain dilated ``nn.Conv2d``, as a PyTorch
    user (or torchvision) writes them.
    """

    def __init__(self, classes=10, output_stride=16, rates=(6, 12, 18), filters=256):
        super().__init__()
        self.backbone = MobileNetV2Features(output_stride)
        self.aspp = ASPP(
            self.backbone.out_channels, filters, tuple(r * 16 // output_stride for r in rates)
        )
        self.logits = nn.Conv2d(filters, classes, 1)

    def forward(self, x):
        _, features = self.backbone(x)
        return upsample(self.logits(self.aspp(features)), x.shape[2:])


class DeepLabV3Plus(DeepLabV3):
    """DeepLabv3+: DeepLabv3's encoder and a decoder refining at stride 4.

    The structure of ``kcv.models.DeepLabV3Plus(backbone="mobilenet_v2",
    alpha=1, separable=False)``: the ASPP output upsampled bilinearly to the
    stride-4 size; the low-level features (``block_2``, 24 channels) through
    a 1x1 conv (``low_level_filters``) + BN + ReLU; concatenated (encoder
    first), two 3x3 convs (``filters``) + BN + ReLU, 1x1 logits (bias),
    upsampled to the input size. Returns logits ``(B, classes, H, W)``.
    Same note on dilated convolutions as :class:`DeepLabV3`.
    """

    def __init__(
        self, classes=10, output_stride=16, rates=(6, 12, 18), filters=256, low_level_filters=48
    ):
        super().__init__(classes, output_stride, rates, filters)
        self.decoder_low_level = conv_bn_act(self.backbone.low_level_channels, low_level_filters, 1)
        self.decoder_convs = nn.Sequential(
            conv_bn_act(filters + low_level_filters, filters, 3),
            conv_bn_act(filters, filters, 3),
        )

    def forward(self, x):
        low_level, features = self.backbone(x)
        encoded = upsample(self.aspp(features), low_level.shape[2:])
        decoded = self.decoder_convs(torch.cat([encoded, self.decoder_low_level(low_level)], dim=1))
        return upsample(self.logits(decoded), x.shape[2:])
