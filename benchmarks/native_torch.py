"""Plain PyTorch references for the kcv benchmarks (``torch.nn`` only, no Keras).

One ``nn.Module`` per kcv block, NCHW, with the structure and the trainable
parameter count of the kcv layer at the configuration that
``benchmarks/families.py`` times (that script checks the counts before
timing). Each module implements what the benchmark needs and no more: the
kcv options a benchmark does not use (``batch_norm`` of the Inception
module, separable ASPP...) are left out.

Conventions shared with kcv: a convolution followed by batch normalization
has no bias, every other one has one; "same" padding (stride 1, odd kernels:
symmetric); batch normalization with Keras' defaults.

Papers, in the order of the modules:

- Szegedy et al. "Going Deeper with Convolutions". CVPR 2015.
  https://arxiv.org/abs/1409.4842
- Hu et al. "Squeeze-and-Excitation Networks". CVPR 2018.
  https://arxiv.org/abs/1709.01507
- Howard et al. "MobileNets". 2017. https://arxiv.org/abs/1704.04861
- Sandler et al. "MobileNetV2: Inverted Residuals and Linear Bottlenecks".
  CVPR 2018. https://arxiv.org/abs/1801.04381
- Chen et al. "Rethinking Atrous Convolution for Semantic Image
  Segmentation" (DeepLabv3). 2017. https://arxiv.org/abs/1706.05587
- Zhang et al. "Context Encoding for Semantic Segmentation". CVPR 2018.
  https://arxiv.org/abs/1803.08904
- Hou et al. "Strip Pooling: Rethinking Spatial Pooling for Scene Parsing".
  CVPR 2020. https://arxiv.org/abs/2003.13328
- Huang et al. "Multi-Scale Dense Networks for Resource Efficient Image
  Classification". ICLR 2018. https://arxiv.org/abs/1703.09844
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

# Keras' BatchNormalization defaults (epsilon 1e-3, moving-average momentum
# 0.99), written in PyTorch's convention (momentum = 1 - Keras momentum), so
# that both sides do the same arithmetic.
_BN = {"eps": 1e-3, "momentum": 0.01}


def atrous_schedule(strides, output_stride, input_stride):
    """``(stride, dilation)`` per unit, DeepLab's rule as kcv's ``atrous_schedule``.

    Visiting the units (blocks) in order, a stride that would take the total
    stride past ``output_stride`` becomes 1 and multiplies the dilation of
    the units after it; the unit that drops it keeps the dilation in force
    before it (torchvision's ``replace_stride_with_dilation``).
    ``output_stride=None`` keeps every stride; ``input_stride`` is the
    stride of the first unit's input.
    """
    schedule, total, rate = [], input_stride, 1
    for stride in strides:
        if output_stride is not None and total * stride > output_stride:
            schedule.append((1, rate))
            rate *= stride
        else:
            schedule.append((stride, rate))
            total *= stride
    return schedule


def conv_bn_act(
    in_channels,
    out_channels,
    kernel_size,
    batch_norm=True,
    activation=nn.ReLU,
    stride=1,
    dilation=1,
    groups=1,
):
    """Conv -> [BN] -> [activation], the unit of every block below.

    The convolution has a bias exactly when no BN follows it. Padding is
    ``dilation * (k - 1) / 2`` per axis: Keras' "same" at stride 1 (odd
    kernels); at stride 2 it is symmetric where Keras pads only after (same
    cost). ``activation`` is an ``nn`` class (applied in place) or None.
    """
    kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    layers = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=tuple(dilation * (k - 1) // 2 for k in kernel),
            dilation=dilation,
            groups=groups,
            bias=not batch_norm,
        )
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels, **_BN))
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


class InceptionModule(nn.Module):
    """GoogLeNet's Inception module as in the paper (Fig. 2b): conv (bias) + ReLU.

    Branches: 1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 5x5; 3x3 max pool
    (stride 1) -> 1x1 projection; concatenated on channels. The structure of
    ``kcv.layers.InceptionModule`` with ``batch_norm=False,
    factorize_5x5=False``. PyTorch pads max pooling with ``-inf``, as Keras'
    "same" max pooling ignores its padding.

    Example:

    >>> import torch
    >>> block = InceptionModule(192, 64, 96, 128, 16, 32, 32)  # inception(3a)
    >>> sum(p.numel() for p in block.parameters())
    163696
    """

    def __init__(
        self,
        in_channels,
        filters_1x1,
        filters_3x3_reduce,
        filters_3x3,
        filters_5x5_reduce,
        filters_5x5,
        filters_pool_proj,
    ):
        super().__init__()

        def conv(cin, cout, k):
            return conv_bn_act(cin, cout, k, batch_norm=False)

        self.branch_1x1 = conv(in_channels, filters_1x1, 1)
        self.branch_3x3 = nn.Sequential(
            conv(in_channels, filters_3x3_reduce, 1), conv(filters_3x3_reduce, filters_3x3, 3)
        )
        self.branch_5x5 = nn.Sequential(
            conv(in_channels, filters_5x5_reduce, 1), conv(filters_5x5_reduce, filters_5x5, 5)
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv(in_channels, filters_pool_proj, 1)
        )

    def forward(self, x):
        branches = (self.branch_1x1, self.branch_3x3, self.branch_5x5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


class SqueezeExcite(nn.Module):
    """SE block: ``x * sigmoid(W2 relu(W1 GAP(x) + b1) + b2)``, FCs with bias.

    The structure of ``kcv.layers.SqueezeExcite`` (reduced width
    ``max(1, C // reduction)``, sigmoid gate).
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, channels)

    def forward(self, x):
        scale = torch.sigmoid(self.expand(F.relu(self.reduce(x.mean(dim=(2, 3))))))
        return x * scale[:, :, None, None]


class DepthwiseSeparableConv(nn.Module):
    """MobileNet v1 block: 3x3 depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU.

    The structure of ``kcv.layers.DepthwiseSeparableConv`` with its defaults
    (stride 1, depth multiplier 1, no bias).
    """

    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__()
        self.block = nn.Sequential(
            conv_bn_act(in_channels, in_channels, kernel_size, groups=in_channels),
            conv_bn_act(in_channels, out_channels, 1),
        )

    def forward(self, x):
        return self.block(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual with linear bottleneck, NCHW.

    ``x -> 1x1 expand to t·C + BN + ReLU6 -> 3x3 depthwise + BN + ReLU6
    -> 1x1 linear projection + BN [+ x]`` (paper, Table 1 and Fig. 3b): the
    structure of ``kcv.layers.InvertedResidual`` with its defaults. The
    expansion is skipped when ``t = 1``; the shortcut is added only when the
    stride is 1 and ``in_channels == out_channels``. Convolutions have no bias.

    Args:
        in_channels: int. Input channels ``C``.
        out_channels: int. Output channels of the projection.
        expansion: int or float >= 1. Expansion factor ``t``; the hidden width
            is ``round(C · t)``.
        stride: 1 or 2. Stride of the depthwise convolution.
        dilation: int. Dilation of the depthwise convolution (kcv's
            ``dilation_rate``, DeepLab's atrous MobileNetV2).

    Example:

    >>> import torch
    >>> block = InvertedResidual(24, 24, expansion=6)
    >>> block(torch.ones(1, 24, 16, 16)).shape
    torch.Size([1, 24, 16, 16])
    """

    def __init__(self, in_channels, out_channels, expansion=6, stride=1, dilation=1):
        super().__init__()
        hidden = int(round(in_channels * expansion))
        layers = []
        if expansion != 1:
            layers.append(conv_bn_act(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [
            conv_bn_act(
                hidden,
                hidden,
                3,
                activation=nn.ReLU6,
                stride=stride,
                dilation=dilation,
                groups=hidden,
            ),
            conv_bn_act(hidden, out_channels, 1, activation=None),
        ]
        self.block = nn.Sequential(*layers)
        self.has_residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = self.block(x)
        return out + x if self.has_residual else out


class ASPP(nn.Module):
    """DeepLabv3 ASPP: 1x1, 3x3 atrous per rate, image pooling; concat, project, dropout.

    Every convolution is conv (no bias) + BN + ReLU. The image-level branch
    (global average pooling -> 1x1) is broadcast back to ``H x W``, as kcv
    does (bilinear upsampling of a 1x1 map, torchvision's way, gives the same
    constant map). The structure of ``kcv.layers.ASPP`` with
    ``merge="concat", image_pooling=True, separable=False, batch_norm=True``.
    """

    def __init__(self, in_channels, filters=256, rates=(6, 12, 18), dropout=0.1):
        super().__init__()
        self.branches = nn.ModuleList(
            [conv_bn_act(in_channels, filters, 1)]
            + [conv_bn_act(in_channels, filters, 3, dilation=rate) for rate in rates]
        )
        self.image_pool = conv_bn_act(in_channels, filters, 1)
        self.project = conv_bn_act(filters * (len(rates) + 2), filters, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        outputs = [branch(x) for branch in self.branches]
        pooled = self.image_pool(x.mean(dim=(2, 3), keepdim=True))
        outputs.append(pooled.expand(-1, -1, *x.shape[2:]))
        return self.dropout(self.project(torch.cat(outputs, dim=1)))


class Encoding(nn.Module):
    """Residual encoding ``e_k = Σ_i softmax_k(scale_k ||x_i - c_k||²) (x_i - c_k)``.

    Written with kcv's algebra, not ``torch.cdist``: distances as
    ``||x||² - 2 x·c + ||c||²`` (two reductions and one batched matrix
    product), the encoding as ``AᵀX - (Σ_i a_ik) c_k``, so both sides do the
    same work and never build the ``B x N x K x C`` residuals. As in kcv,
    the computation runs in float32 under autocast. Codewords are initialised
    uniform in ``±1/sqrt(K·C)`` and scales in ``[-1, 0)``, kcv's (and
    PyTorch-Encoding's) initialisation. Input NCHW, output ``(B, K, C)``.
    """

    def __init__(self, channels, num_codes=32):
        super().__init__()
        bound = 1.0 / math.sqrt(num_codes * channels)
        self.codewords = nn.Parameter(torch.empty(num_codes, channels).uniform_(-bound, bound))
        self.scale = nn.Parameter(torch.empty(num_codes).uniform_(-1.0, 0.0))

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            x = x.float().flatten(2).transpose(1, 2)  # (B, N, C)
            codes = self.codewords
            distances = (
                x.square().sum(-1, keepdim=True) - 2.0 * x @ codes.t() + codes.square().sum(-1)
            )
            assignment = torch.softmax(distances * self.scale, dim=-1)  # (B, N, K)
            return assignment.transpose(1, 2) @ x - assignment.sum(1).unsqueeze(-1) * codes


class ContextEncoding(nn.Module):
    """EncNet's Context Encoding Module, with an optional SE-loss head.

    ``x -> 1x1 conv + BN + ReLU -> Encoding(K) -> BN over codewords -> ReLU
    -> mean over K = e``, ``γ = sigmoid(W e + b)``, ``y = relu(x + x·γ)``:
    the structure of ``kcv.layers.ContextEncoding``. ``BatchNorm1d(K)`` on
    ``(B, K, C)`` normalises per codeword over batch and channels, as Keras'
    ``BatchNormalization(axis=1)`` does. With ``se_classes`` (None by
    default: no head, ``y`` alone) it returns ``(y, W_se e + b_se)``, the
    SE-loss logits, as kcv does.
    """

    def __init__(self, channels, num_codes=32, se_classes=None):
        super().__init__()
        self.reduce = conv_bn_act(channels, channels, 1)
        self.encoding = Encoding(channels, num_codes)
        self.codeword_bn = nn.BatchNorm1d(num_codes, **_BN)
        self.gate = nn.Linear(channels, channels)
        self.se_head = None if se_classes is None else nn.Linear(channels, se_classes)

    def forward(self, x):
        encoded = F.relu(self.codeword_bn(self.encoding(self.reduce(x))))
        context = encoded.mean(dim=1)
        gamma = torch.sigmoid(self.gate(context))
        y = F.relu(x + x * gamma[:, :, None, None])
        return y if self.se_head is None else (y, self.se_head(context))


class StripPooling(nn.Module):
    """SPNet's strip pooling module (SPM), returning ``x * gate``.

    Row means (``H x 1``) -> 3x1 conv + BN; column means (``1 x W``) -> 1x3
    conv + BN; broadcast sum, ReLU, 1x1 conv (bias), sigmoid: the structure
    of ``kcv.layers.StripPooling``.
    """

    def __init__(self, channels):
        super().__init__()
        self.horizontal = conv_bn_act(channels, channels, (3, 1), activation=None)
        self.vertical = conv_bn_act(channels, channels, (1, 3), activation=None)
        self.gate_conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        rows = self.horizontal(x.mean(dim=3, keepdim=True))  # (B, C, H, 1)
        columns = self.vertical(x.mean(dim=2, keepdim=True))  # (B, C, 1, W)
        return x * torch.sigmoid(self.gate_conv(F.relu(rows + columns)))


class MixedPooling(nn.Module):
    """SPNet's mixed pooling module (MPM), the layer names of the official code.

    With ``m = C // 4``: ``x1, x2`` = two 1x1 ``C -> m`` (+ BN + ReLU); short
    range: ``conv2_0`` (3x3) on ``x1``, ``conv2_1`` / ``conv2_2`` (3x3) on
    ``x1`` adaptively average-pooled to ``P0²`` / ``P1²`` and upsampled
    bilinearly, summed, ReLU, ``conv2_5`` (3x3 + BN + ReLU); long range: the
    column strip through ``conv2_3`` (1x3), the row strip through ``conv2_4``
    (3x1), broadcast sum, ReLU, ``conv2_6`` (3x3 + BN + ReLU); output
    ``relu(x + conv3([short, long]))`` with ``conv3`` 1x1 ``2m -> C`` + BN.
    The structure of ``kcv.layers.MixedPooling``. Upsampling uses
    ``align_corners=False`` (half-pixel centres), as kcv's
    ``keras.ops.image.resize`` does; SPNet uses ``align_corners=True`` (same
    cost).
    """

    def __init__(self, channels, pool_sizes=(20, 12)):
        super().__init__()
        inter = channels // 4
        self.pool_sizes = tuple(pool_sizes)
        self.conv1_1 = conv_bn_act(channels, inter, 1)
        self.conv1_2 = conv_bn_act(channels, inter, 1)
        self.conv2_0 = conv_bn_act(inter, inter, 3, activation=None)
        self.conv2_1 = conv_bn_act(inter, inter, 3, activation=None)
        self.conv2_2 = conv_bn_act(inter, inter, 3, activation=None)
        self.conv2_3 = conv_bn_act(inter, inter, (1, 3), activation=None)
        self.conv2_4 = conv_bn_act(inter, inter, (3, 1), activation=None)
        self.conv2_5 = conv_bn_act(inter, inter, 3)
        self.conv2_6 = conv_bn_act(inter, inter, 3)
        self.conv3 = conv_bn_act(2 * inter, channels, 1, activation=None)

    def _pool_conv_upsample(self, x, pool_size, conv):
        pooled = conv(F.adaptive_avg_pool2d(x, pool_size))
        return F.interpolate(pooled, size=x.shape[2:], mode="bilinear", align_corners=False)

    def forward(self, x):
        x1, x2 = self.conv1_1(x), self.conv1_2(x)
        p0, p1 = self.pool_sizes
        short = self.conv2_5(
            F.relu(
                self.conv2_0(x1)
                + self._pool_conv_upsample(x1, p0, self.conv2_1)
                + self._pool_conv_upsample(x1, p1, self.conv2_2)
            )
        )
        columns = self.conv2_3(x2.mean(dim=2, keepdim=True))  # (B, m, 1, W)
        rows = self.conv2_4(x2.mean(dim=3, keepdim=True))  # (B, m, H, 1)
        long = self.conv2_6(F.relu(rows + columns))
        return F.relu(x + self.conv3(torch.cat([short, long], dim=1)))


class MSDNetBlock(nn.Module):
    """MSDNet's first block: the first layer, ``layers`` dense layers and the exit.

    Scale ``s`` starts with ``filters · growth_factor[s]`` channels (3x3 conv
    at scale 0, 3x3 stride-2 convs below); every dense layer adds
    ``growth · growth_factor[s]`` channels per scale, half from a strided
    path of scale ``s-1`` and half from a regular path of scale ``s`` (all of
    it from the regular path at scale 0), each a 1x1 bottleneck to
    ``min(C_in, growth_factor[t] · C_out)`` channels then a 3x3 conv; the
    exit is two 3x3 stride-2 convs of 128 channels, average pooling and a
    linear layer on the coarsest scale. Huang et al., MSDNet, ICLR 2018.
    """

    def __init__(
        self, in_channels, filters=16, growth=6, growth_factor=(1, 2, 4), layers=4, classes=10
    ):
        super().__init__()
        widths = [filters * f for f in growth_factor]
        self.first = nn.ModuleList(
            [conv_bn_act(in_channels, widths[0], 3)]
            + [conv_bn_act(widths[s - 1], widths[s], 3, stride=2) for s in range(1, len(widths))]
        )

        def path(cin, cout, stride, factor):
            return nn.Sequential(
                conv_bn_act(cin, min(cin, factor * cout), 1),
                conv_bn_act(min(cin, factor * cout), cout, 3, stride=stride),
            )

        self.dense = nn.ModuleList()
        for _ in range(layers):
            scales = nn.ModuleList()
            for s, factor in enumerate(growth_factor):
                new = growth * factor
                if s == 0:
                    scales.append(nn.ModuleList([path(widths[0], new, 1, factor)]))
                else:
                    scales.append(
                        nn.ModuleList(
                            [
                                path(widths[s - 1], new // 2, 2, growth_factor[s - 1]),
                                path(widths[s], new // 2, 1, factor),
                            ]
                        )
                    )
            self.dense.append(scales)
            widths = [w + growth * f for w, f in zip(widths, growth_factor)]
        self.exit = nn.Sequential(
            conv_bn_act(widths[-1], 128, 3, stride=2),
            conv_bn_act(128, 128, 3, stride=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(128, classes),
        )

    def forward(self, x):
        scales = []
        for conv in self.first:
            x = conv(x)
            scales.append(x)
        for layer in self.dense:
            scales = [
                torch.cat(
                    [scales[s]] + [p(scales[s - len(paths) + 1 + i]) for i, p in enumerate(paths)],
                    1,
                )
                for s, paths in enumerate(layer)
            ]
        return self.exit(scales[-1])
