"""Plain PyTorch reference for the kcv benchmarks (``torch.nn`` only, no Keras).

Sandler et al. "MobileNetV2: Inverted Residuals and Linear Bottlenecks".
CVPR 2018. https://arxiv.org/abs/1801.04381
"""

from torch import nn

# Keras' BatchNormalization defaults (epsilon 1e-3, moving-average momentum
# 0.99), written in PyTorch's convention (momentum = 1 - Keras momentum), so
# that both sides do the same arithmetic.
_BN = {"eps": 1e-3, "momentum": 0.01}


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual with linear bottleneck, NCHW.

    ``x -> 1x1 expand to t·C + BN + ReLU6 -> 3x3 depthwise + BN + ReLU6
    -> 1x1 linear projection + BN [+ x]`` (paper, Table 1 and Fig. 3b): the
    structure of ``kcv.layers.InvertedResidual`` with its defaults. The
    expansion is skipped when ``t = 1``; the shortcut is added only when the
    stride is 1 and ``in_channels == out_channels``. Convolutions have no bias.
    With stride 2 the depthwise padding is symmetric (PyTorch's ``padding=1``)
    where Keras' "same" pads only after; the cost is the same.

    Args:
        in_channels: int. Input channels ``C``.
        out_channels: int. Output channels of the projection.
        expansion: int or float >= 1. Expansion factor ``t``; the hidden width
            is ``round(C · t)``.
        stride: 1 or 2. Stride of the depthwise convolution.

    Example:

    >>> import torch
    >>> block = InvertedResidual(24, 24, expansion=6)
    >>> block(torch.ones(1, 24, 16, 16)).shape
    torch.Size([1, 24, 16, 16])
    """

    def __init__(self, in_channels, out_channels, expansion=6, stride=1):
        super().__init__()
        hidden = int(round(in_channels * expansion))
        layers = []
        if expansion != 1:
            layers += [
                nn.Conv2d(in_channels, hidden, 1, bias=False),
                nn.BatchNorm2d(hidden, **_BN),
                nn.ReLU6(inplace=True),
            ]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden, **_BN),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels, **_BN),
        ]
        self.block = nn.Sequential(*layers)
        self.has_residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = self.block(x)
        return out + x if self.has_residual else out
