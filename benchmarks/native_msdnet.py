"""Plain PyTorch MSDNet (``torch.nn`` only, no Keras).

The structure and the trainable parameter count of
``kcv.models.MSDNet(preset="cifar_anytime", classes=10)``, the model that
``benchmarks/models.py`` times as ``msdnet_cifar_anytime``: 7 blocks of
4, 2, 2, 2, 2, 2, 2 multi-scale dense layers on 3 scales (32x32, 16x16,
8x8), the finest scale dropped after 6 and after 12 layers, each drop
followed by a 1x1 transition halving the channels, and an exit (two 3x3
stride-2 convolutions, global average pooling, a linear layer) on the
coarsest scale after every block. NCHW; every scale is a tensor, a list of
scales is finest first.

Same conventions as ``native_torch.py`` (whose ``conv_bn_act`` builds every
convolution here): conv (no bias) + BN + ReLU, Keras' BN defaults,
symmetric padding where Keras' "same" pads only after at stride 2 (same
output sizes, same cost). ``native_torch.MSDNetBlock`` is the first block
of this network alone.

Paper: Huang et al. "Multi-Scale Dense Networks for Resource Efficient
Image Classification". ICLR 2018. https://arxiv.org/abs/1703.09844
"""

import math

import torch
from native_torch import conv_bn_act
from torch import nn


def _layer_plan(steps, scales):
    """Output scale count of every dense layer, kcv's ``prune="max"`` rule.

    The finest scale is dropped every ``ceil(L / S)`` layers (L layers, S
    scales), as ``kcv.models.msdnet._layer_plan`` and the official
    ``MSDNet._build_block`` do; a transition follows each drop.
    """
    total = sum(steps)
    interval = math.ceil(total / scales)
    return [scales - (current - 1) // interval for current in range(1, total + 1)]


def _path(in_channels, out_channels, stride, bottleneck_factor):
    """1x1 bottleneck to ``min(C_in, factor · C_out)`` then the 3x3 convolution."""
    inner = min(in_channels, bottleneck_factor * out_channels)
    return nn.Sequential(
        conv_bn_act(in_channels, inner, 1), conv_bn_act(inner, out_channels, 3, stride=stride)
    )


class MSDFirstLayer(nn.Module):
    """CIFAR stem at S scales: 3x3 conv at scale 0, a 3x3 stride-2 conv per coarser one.

    Scale ``s`` has ``filters · growth_factor[s]`` channels:
    ``kcv.layers.MSDFirstLayer(stem="cifar")``.
    """

    def __init__(self, filters, growth_factor):
        super().__init__()
        widths = [filters * f for f in growth_factor]
        self.scales = nn.ModuleList(
            [conv_bn_act(3, widths[0], 3)]
            + [conv_bn_act(widths[s - 1], widths[s], 3, stride=2) for s in range(1, len(widths))]
        )
        self.out_channels = widths

    def forward(self, x):
        outputs = []
        for conv in self.scales:
            x = conv(x)
            outputs.append(x)
        return outputs


class MSDDenseLayer(nn.Module):
    """One multi-scale dense layer: ``kcv.layers.MSDDenseLayer`` (bottlenecks on).

    The input holds the S' coarsest of the S scales. Output scale ``s`` is
    its input concatenated with ``g = growth_rate · growth_factor[s]`` new
    channels: ``g // 2`` from a strided path of the finer input scale and
    ``g // 2`` from a regular path of scale ``s`` (order [input, strided,
    regular]), or all ``g`` from the regular path at the finest input scale.
    ``out_scales`` one lower than the number of inputs drops the finest
    scale, which then only feeds the strided path of the next one.
    """

    def __init__(self, in_channels, growth_rate, growth_factor, bottleneck_factor, out_scales):
        super().__init__()
        first = len(growth_factor) - len(in_channels)  # network scale of the finest input
        self.skip = len(in_channels) - out_scales
        self.paths = nn.ModuleList()
        self.out_channels = []
        for j in range(self.skip, len(in_channels)):
            s = first + j
            growth = growth_rate * growth_factor[s]
            if j == 0:
                paths = [_path(in_channels[0], growth, 1, bottleneck_factor[s])]
            else:
                growth //= 2
                paths = [
                    _path(in_channels[j - 1], growth, 2, bottleneck_factor[s - 1]),
                    _path(in_channels[j], growth, 1, bottleneck_factor[s]),
                ]
            self.paths.append(nn.ModuleList(paths))
            self.out_channels.append(in_channels[j] + growth * len(paths))

    def forward(self, scales):
        outputs = []
        for j, paths in enumerate(self.paths, start=self.skip):
            sources = scales[j + 1 - len(paths) : j + 1]  # [finer, same] or [same]
            outputs.append(torch.cat([scales[j]] + [p(x) for p, x in zip(paths, sources)], dim=1))
        return outputs


class MSDTransition(nn.Module):
    """1x1 conv + BN + ReLU at every scale: ``kcv.layers.MSDTransition``."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.scales = nn.ModuleList(conv_bn_act(i, o, 1) for i, o in zip(in_channels, out_channels))

    def forward(self, scales):
        return [conv(x) for conv, x in zip(self.scales, scales)]


class MSDClassifier(nn.Module):
    """An exit on the coarsest scale: ``kcv.layers.MSDClassifier``.

    Two 3x3 stride-2 conv + BN + ReLU of ``filters`` channels, global
    average pooling, a linear layer to ``classes`` logits.
    """

    def __init__(self, in_channels, classes, filters=128):
        super().__init__()
        self.convs = nn.Sequential(
            conv_bn_act(in_channels, filters, 3, stride=2),
            conv_bn_act(filters, filters, 3, stride=2),
        )
        self.fc = nn.Linear(filters, classes)

    def forward(self, scales):
        return self.fc(self.convs(scales[-1]).mean(dim=(2, 3)))


class MSDNet(nn.Module):
    """MSDNet with an exit after every block: ``kcv.models.MSDNet``'s CIFAR form.

    Defaults are the ``cifar_anytime`` preset (official README: ``--nBlocks
    7 --stepmode even --step 2 --base 4 --nChannels 16``, growth rate 6,
    growth and bottleneck factors (1, 2, 4), 128-channel exits), with
    kcv's defaults ``prune="max"``, ``reduction=0.5``, ``bottleneck=True``.
    Only these are supported: the CIFAR stem, ``step_mode="even"``
    (``base`` layers in the first block, ``step`` in each other),
    ``prune="max"``, bottlenecks on, integer exit widths.

    As in kcv, a base width ``n`` (``channels`` at first) grows by
    ``growth_rate`` per layer and becomes ``floor(reduction · n)`` at each
    transition, whose scale ``s`` then has ``n · growth_factor[s]``
    channels.

    Args:
        classes: int. Logits per exit.
        blocks, step, base: ints. Number of blocks (and exits), layers per
            block after the first, layers of the first block.
        channels: int. Channels of the first layer at scale 0.
        growth_rate: int. Channels each layer adds at scale 0.
        growth_factor: tuple of int. Channel multiplier per scale (its
            length is the number of scales).
        bottleneck_factor: tuple of int or None. Bottleneck width factor per
            scale; None takes ``growth_factor``.
        reduction: float in (0, 1). Transition compression.
        classifier_filters: int. Channels of the exits' convolutions.

    Returns (forward): the list of the ``blocks`` exits' ``(B, classes)``
    logits, first (cheapest) to last.

    Example:

    >>> model = MSDNet(classes=10)
    >>> [tuple(y.shape) for y in model(torch.ones(2, 3, 32, 32))][-1]
    (2, 10)
    """

    def __init__(
        self,
        classes=10,
        blocks=7,
        step=2,
        base=4,
        channels=16,
        growth_rate=6,
        growth_factor=(1, 2, 4),
        bottleneck_factor=None,
        reduction=0.5,
        classifier_filters=128,
    ):
        super().__init__()
        factors = tuple(growth_factor)
        bottleneck_factor = factors if bottleneck_factor is None else tuple(bottleneck_factor)
        steps = [base] + [step] * (blocks - 1)
        plan = iter(_layer_plan(steps, len(factors)))
        self.first = MSDFirstLayer(channels, factors)
        widths, width = self.first.out_channels, channels
        self.blocks, self.exits = nn.ModuleList(), nn.ModuleList()
        for count in steps:
            block = []
            for _ in range(count):
                layer = MSDDenseLayer(widths, growth_rate, factors, bottleneck_factor, next(plan))
                block.append(layer)
                width += growth_rate
                if len(layer.out_channels) < len(widths):  # a scale was dropped
                    width = math.floor(reduction * width)
                    new = [width * f for f in factors[len(factors) - len(layer.out_channels) :]]
                    block.append(MSDTransition(layer.out_channels, new))
                    widths = new
                else:
                    widths = layer.out_channels
            self.blocks.append(nn.Sequential(*block))
            self.exits.append(MSDClassifier(widths[-1], classes, classifier_filters))

    def forward(self, x):
        scales, outputs = self.first(x), []
        for block, exit_ in zip(self.blocks, self.exits):
            scales = block(scales)
            outputs.append(exit_(scales))
        return outputs
