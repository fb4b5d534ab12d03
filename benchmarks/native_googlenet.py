"""Plain PyTorch GoogLeNet for CIFAR-10 (``torch.nn`` only, no Keras).

The structure and the trainable parameter count of
``kcv.models.GoogLeNetCIFAR(classes=10)`` (6,158,346), the model that
``benchmarks/models.py`` times as ``googlenet_cifar``: a 3x3 stem without
downsampling, the Inception stages 3-5 of the paper's Table 1 in their
BN-Inception form (BN after every convolution, each 5x5 factorised into two
3x3), global average pooling and a dense softmax classifier. NCHW.

Papers:

- Szegedy et al. "Going Deeper with Convolutions". CVPR 2015.
  https://arxiv.org/abs/1409.4842
- Ioffe, Szegedy. "Batch Normalization: Accelerating Deep Network Training
  by Reducing Internal Covariate Shift". ICML 2015 (BN after every
  convolution, the 5x5 replaced by two 3x3). https://arxiv.org/abs/1502.03167
"""

import torch
from native_torch import conv_bn_act
from torch import nn
from torch.nn import functional as F

# Table 1, stages 3, 4 and 5: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
# pool proj) per module, as in kcv/models/googlenet.py.
_STAGES = (
    (
        (64, 96, 128, 16, 32, 32),  # 3a
        (128, 128, 192, 32, 96, 64),  # 3b
    ),
    (
        (192, 96, 208, 16, 48, 64),  # 4a
        (160, 112, 224, 24, 64, 64),  # 4b
        (128, 128, 256, 24, 64, 64),  # 4c
        (112, 144, 288, 32, 64, 64),  # 4d
        (256, 160, 320, 32, 128, 128),  # 4e
    ),
    (
        (256, 160, 320, 32, 128, 128),  # 5a
        (384, 192, 384, 48, 128, 128),  # 5b
    ),
)


class InceptionModuleBN(nn.Module):
    """BN-Inception module: every convolution is conv (no bias) + BN + ReLU.

    Branches: 1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 3x3 -> 3x3 (the
    factorised 5x5); 3x3 max pool (stride 1, padded with ``-inf``, as Keras'
    "same" max pooling ignores its padding) -> 1x1 projection; concatenated
    on channels. The structure of ``kcv.layers.InceptionModule`` with
    ``batch_norm=True, factorize_5x5=True`` (``native_torch.InceptionModule``
    is the paper's ``batch_norm=False, factorize_5x5=False`` form).

    Example:

    >>> block = InceptionModuleBN(192, 64, 96, 128, 16, 32, 32)  # inception(3a)
    >>> block(torch.ones(1, 192, 8, 8)).shape
    torch.Size([1, 256, 8, 8])
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
        self.branch_1x1 = conv_bn_act(in_channels, filters_1x1, 1)
        self.branch_3x3 = nn.Sequential(
            conv_bn_act(in_channels, filters_3x3_reduce, 1),
            conv_bn_act(filters_3x3_reduce, filters_3x3, 3),
        )
        self.branch_5x5 = nn.Sequential(
            conv_bn_act(in_channels, filters_5x5_reduce, 1),
            conv_bn_act(filters_5x5_reduce, filters_5x5, 3),
            conv_bn_act(filters_5x5, filters_5x5, 3),
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv_bn_act(in_channels, filters_pool_proj, 1)
        )
        self.out_channels = filters_1x1 + filters_3x3 + filters_5x5 + filters_pool_proj

    def forward(self, x):
        branches = (self.branch_1x1, self.branch_3x3, self.branch_5x5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


class GoogLeNetCIFAR(nn.Module):
    """GoogLeNet on 32x32 images: ``kcv.models.GoogLeNetCIFAR`` with its defaults.

    ``conv 3x3 (192) + BN + ReLU -> inception 3a, 3b -> max pool 3x3/2 ->
    4a-4e -> max pool 3x3/2 -> 5a, 5b -> global average pool -> dense
    classes -> softmax``: stage 3 runs at 32x32, stage 4 at 16x16, stage 5
    at 8x8. Only kcv's defaults are built (``batch_norm=True,
    factorize_5x5=True``, ``include_top=True``, softmax output); its other
    options are not supported.

    Difference from kcv: the stride-2 max poolings pad one ``-inf`` row and
    column on each side where Keras' "same" pads one after only; the output
    sizes (16, 8) and the work are the same.

    Args:
        classes: int. Number of classes.

    Returns (forward): ``(B, classes)`` softmax scores.

    Example:

    >>> model = GoogLeNetCIFAR(classes=10)
    >>> sum(p.numel() for p in model.parameters())
    6158346
    """

    def __init__(self, classes=10):
        super().__init__()
        layers = [conv_bn_act(3, 192, 3)]
        channels = 192
        for index, stage in enumerate(_STAGES):
            if index:
                layers.append(nn.MaxPool2d(3, stride=2, padding=1))
            for filters in stage:
                module = InceptionModuleBN(channels, *filters)
                layers.append(module)
                channels = module.out_channels
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return F.softmax(self.fc(self.features(x).mean(dim=(2, 3))), dim=1)
