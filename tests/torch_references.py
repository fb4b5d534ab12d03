"""torchvision's classification networks, its ResNet DeepLabV3 (and timm's SE-ResNet) in plain
``torch.nn``.

torchvision itself cannot be installed beside this machine's PyTorch, so the
networks whose weights ``kcv.weights.load_torchvision`` maps are written here
from torchvision's ``models/`` sources: the same modules, the same parameter
names (``layer1.0.conv1.weight``, ``features.3.squeeze.weight``, ...), the
same padding, pooling and BN epsilon, the same forward pass. Only what the
tests vary is a parameter (the width of AlexNet's and VGG's dense layers).
They are an independent reference: none of this code is kcv's.

:func:`randomize` gives a network random BN statistics and affine
parameters (torchvision initialises them to 0/1, which would hide a wrong
mapping of ``running_var`` or ``weight``).

Reference: torchvision ``models/resnet.py``, ``vgg.py``, ``alexnet.py``,
``squeezenet.py``, ``shufflenetv2.py``, ``mobilenetv2.py``, ``mobilenetv3.py``,
``googlenet.py``, ``segmentation/deeplabv3.py`` (``DeepLabHead``, ``ASPP``),
``segmentation/fcn.py`` (``FCNHead``), ``segmentation/_utils.py``
(``_SimpleSegmentationModel``) and ``ops/misc.py`` (``Conv2dNormActivation``,
``SqueezeExcitation``);
timm ``models/resnet.py`` (``Bottleneck``, ``seresnet50``) and ``layers/squeeze_excite.py``
(``SEModule``): timm cannot be installed here either.
"""

import torch
from torch import nn

# --- ResNet, ResNeXt --------------------------------------------------------------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1
    ):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride, dilation, dilation, groups=groups, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ``ResNet(block, layers, num_classes, groups, width_per_group,
    replace_stride_with_dilation)``: a stage whose stride is replaced keeps stride 1 and
    multiplies the dilation by 2; its first block keeps the previous dilation."""

    def __init__(
        self,
        block,
        layers,
        num_classes=1000,
        groups=1,
        width_per_group=64,
        replace_stride_with_dilation=(False, False, False),
    ):
        super().__init__()
        self.inplanes, self.groups, self.base_width = 64, groups, width_per_group
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        dilate = replace_stride_with_dilation
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [
            block(
                self.inplanes,
                planes,
                stride,
                downsample,
                self.groups,
                self.base_width,
                previous_dilation,
            )
        ]
        self.inplanes = planes * block.expansion
        layers += [
            block(
                self.inplanes,
                planes,
                groups=self.groups,
                base_width=self.base_width,
                dilation=self.dilation,
            )
            for _ in range(1, blocks)
        ]
        return nn.Sequential(*layers)

    def stages(self, x):
        """The outputs of ``layer3`` and ``layer4``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return x, self.layer4(x)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.stages(x)[1]), 1))


RESNET_LAYERS = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


def resnet(depth, num_classes=1000, groups=1, width_per_group=64):
    block, layers = RESNET_LAYERS[depth]
    return ResNet(block, layers, num_classes, groups, width_per_group)


# --- VGG, AlexNet -----------------------------------------------------------------------

VGG_CFGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M"] + [256] * 4 + ["M"] + ([512] * 4 + ["M"]) * 2,
}


class VGG(nn.Module):
    """torchvision's ``vgg{depth}[_bn]``; ``fc_units`` is 4096 there."""

    def __init__(self, depth, batch_norm=False, num_classes=1000, fc_units=4096):
        super().__init__()
        layers, channels = [], 3
        for v in VGG_CFGS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(channels, v, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, fc_units),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(fc_units, fc_units),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(fc_units, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class AlexNet(nn.Module):
    """torchvision's ``alexnet`` ("One weird trick" widths); ``fc_units`` is 4096 there."""

    def __init__(self, num_classes=1000, fc_units=4096):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(256 * 6 * 6, fc_units),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(fc_units, fc_units),
            nn.ReLU(inplace=True),
            nn.Linear(fc_units, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- SqueezeNet ------------------------------------------------------------------------


class Fire(nn.Module):
    def __init__(self, inplanes, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [
                self.expand1x1_activation(self.expand1x1(x)),
                self.expand3x3_activation(self.expand3x3(x)),
            ],
            1,
        )


class SqueezeNet(nn.Module):
    """torchvision's ``squeezenet1_0`` / ``squeezenet1_1``: ceil-mode pools, conv classifier."""

    def __init__(self, version="1_0", num_classes=1000):
        super().__init__()

        def pool():
            return nn.MaxPool2d(3, 2, ceil_mode=True)

        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, 7, 2),
                nn.ReLU(inplace=True),
                pool(),
                Fire(96, 16, 64, 64),
                Fire(128, 16, 64, 64),
                Fire(128, 32, 128, 128),
                pool(),
                Fire(256, 32, 128, 128),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                pool(),
                Fire(512, 64, 256, 256),
            )
        else:
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2),
                nn.ReLU(inplace=True),
                pool(),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                pool(),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                pool(),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Conv2d(512, num_classes, 1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


# --- ShuffleNetV2 ----------------------------------------------------------------------


def channel_shuffle(x, groups):
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    return torch.transpose(x, 1, 2).contiguous().view(batch, -1, height, width)


class ShuffleUnit(nn.Module):
    """torchvision's ``shufflenetv2.InvertedResidual``."""

    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        branch = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, bias=False, groups=inp),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, 1, 0, bias=False),
                nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            nn.Conv2d(branch, branch, 3, stride, 1, bias=False, groups=branch),
            nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


SHUFFLENET_WIDTHS = {
    0.5: [24, 48, 96, 192, 1024],
    1.0: [24, 116, 232, 464, 1024],
    1.5: [24, 176, 352, 704, 1024],
    2.0: [24, 244, 488, 976, 2048],
}


class ShuffleNetV2(nn.Module):
    def __init__(self, scale=1.0, num_classes=1000):
        super().__init__()
        widths = SHUFFLENET_WIDTHS[scale]
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = widths[0]
        for name, repeats, out in zip(("stage2", "stage3", "stage4"), (4, 8, 4), widths[1:4]):
            units = [ShuffleUnit(channels, out, 2)]
            units += [ShuffleUnit(out, out, 1) for _ in range(repeats - 1)]
            setattr(self, name, nn.Sequential(*units))
            channels = out
        self.conv5 = nn.Sequential(
            nn.Conv2d(channels, widths[-1], 1, 1, 0, bias=False),
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean([2, 3]))


# --- MobileNetV2, MobileNetV3 ----------------------------------------------------------


def make_divisible(v, divisor=8, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_norm_act(inp, oup, kernel, stride=1, groups=1, norm=nn.BatchNorm2d, act=nn.ReLU6):
    """torchvision's ``Conv2dNormActivation``: padding ``(k - 1) // 2``, no bias, BN, act."""
    layers = [nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)]
    layers.append(norm(oup))
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class V2Block(nn.Module):
    """torchvision's ``mobilenetv2.InvertedResidual``."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = [conv_norm_act(inp, hidden, 1)] if expand_ratio != 1 else []
        layers += [
            conv_norm_act(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=1000, width_mult=1.0):
        super().__init__()
        settings = [
            [1, 16, 1, 1],
            [6, 24, 2, 2],
            [6, 32, 3, 2],
            [6, 64, 4, 2],
            [6, 96, 3, 1],
            [6, 160, 3, 2],
            [6, 320, 1, 1],
        ]
        channels = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        features = [conv_norm_act(3, channels, 3, 2)]
        for t, c, n, s in settings:
            out = make_divisible(c * width_mult)
            for i in range(n):
                features.append(V2Block(channels, out, s if i == 0 else 1, t))
                channels = out
        features.append(conv_norm_act(channels, last, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class SqueezeExcitation(nn.Module):
    """torchvision's ``ops.SqueezeExcitation`` with MobileNetV3's hard-sigmoid gate."""

    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


V3_NORM = {"eps": 0.001, "momentum": 0.01}

V3_SETTINGS = {
    "large": [
        (16, 3, 16, 16, False, "RE", 1),
        (16, 3, 64, 24, False, "RE", 2),
        (24, 3, 72, 24, False, "RE", 1),
        (24, 5, 72, 40, True, "RE", 2),
        (40, 5, 120, 40, True, "RE", 1),
        (40, 5, 120, 40, True, "RE", 1),
        (40, 3, 240, 80, False, "HS", 2),
        (80, 3, 200, 80, False, "HS", 1),
        (80, 3, 184, 80, False, "HS", 1),
        (80, 3, 184, 80, False, "HS", 1),
        (80, 3, 480, 112, True, "HS", 1),
        (112, 3, 672, 112, True, "HS", 1),
        (112, 5, 672, 160, True, "HS", 2),
        (160, 5, 960, 160, True, "HS", 1),
        (160, 5, 960, 160, True, "HS", 1),
    ],
    "small": [
        (16, 3, 16, 16, True, "RE", 2),
        (16, 3, 72, 24, False, "RE", 2),
        (24, 3, 88, 24, False, "RE", 1),
        (24, 5, 96, 40, True, "HS", 2),
        (40, 5, 240, 40, True, "HS", 1),
        (40, 5, 240, 40, True, "HS", 1),
        (40, 5, 120, 48, True, "HS", 1),
        (48, 5, 144, 48, True, "HS", 1),
        (48, 5, 288, 96, True, "HS", 2),
        (96, 5, 576, 96, True, "HS", 1),
        (96, 5, 576, 96, True, "HS", 1),
    ],
}


class V3Block(nn.Module):
    """torchvision's ``mobilenetv3.InvertedResidual``."""

    def __init__(self, inp, kernel, expanded, out, use_se, activation, stride):
        super().__init__()
        self.use_res_connect = stride == 1 and inp == out
        act = nn.Hardswish if activation == "HS" else nn.ReLU

        def norm(channels):
            return nn.BatchNorm2d(channels, **V3_NORM)

        layers = []
        if expanded != inp:
            layers.append(conv_norm_act(inp, expanded, 1, norm=norm, act=act))
        layers.append(conv_norm_act(expanded, expanded, kernel, stride, expanded, norm, act))
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4, 8)))
        layers.append(conv_norm_act(expanded, out, 1, norm=norm, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x) if self.use_res_connect else self.block(x)


class MobileNetV3(nn.Module):
    def __init__(self, variant="large", num_classes=1000, width_mult=1.0):
        super().__init__()

        def width(c):
            return make_divisible(c * width_mult, 8)

        def norm(channels):
            return nn.BatchNorm2d(channels, **V3_NORM)

        settings = V3_SETTINGS[variant]
        layers = [conv_norm_act(3, width(16), 3, 2, norm=norm, act=nn.Hardswish)]
        for inp, kernel, expanded, out, use_se, activation, stride in settings:
            layers.append(
                V3Block(width(inp), kernel, width(expanded), width(out), use_se, activation, stride)
            )
        last_in = width(settings[-1][3])
        layers.append(conv_norm_act(last_in, 6 * last_in, 1, norm=norm, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = width(1280 if variant == "large" else 1024)
        self.classifier = nn.Sequential(
            nn.Linear(6 * last_in, last),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=0.2, inplace=True),
            nn.Linear(last, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- timm's SE-ResNet ---------------------------------------------------------------------


class SEModule(nn.Module):
    """timm's ``SEModule``: mean over H, W -> fc1 (1x1 conv, bias) -> ReLU -> fc2 -> sigmoid."""

    def __init__(self, channels):
        super().__init__()
        hidden = max(8, int(channels / 16 + 4) // 8 * 8)  # make_divisible(C / 16, 8)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        scale = self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


class SEBottleneck(Bottleneck):
    """timm's ``Bottleneck`` with ``attn_layer="se"``: SE after ``bn3``, before the addition."""

    def __init__(self, inplanes, planes, *args, **kwargs):
        super().__init__(inplanes, planes, *args, **kwargs)
        self.se = SEModule(planes * 4)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def seresnet(depth, num_classes=1000):
    """timm's ``seresnet{depth}`` (50, 101, 152): torchvision's ResNet names, plus ``.se``."""
    return ResNet(SEBottleneck, RESNET_LAYERS[depth][1], num_classes)


# --- GoogLeNet ----------------------------------------------------------------------------


class BasicConv2d(nn.Module):
    """torchvision's GoogLeNet unit: convolution without bias, BN (eps 0.001), ReLU."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """torchvision's ``Inception``: ``branch3`` has a 3x3 where the paper has a 5x5."""

    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(cin, ch1x1, 1)
        self.branch2 = nn.Sequential(
            BasicConv2d(cin, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1)
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(cin, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, padding=1)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(cin, pool_proj, 1)
        )

    def forward(self, x):
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin, num_classes):
        super().__init__()
        self.conv = BasicConv2d(cin, 128, 1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.conv(nn.functional.adaptive_avg_pool2d(x, (4, 4)))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


GOOGLENET_MODULES = {  # name: (in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
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


class GoogLeNet(nn.Module):
    """torchvision's ``GoogLeNet(num_classes, aux_logits, transform_input)`` in eval mode.

    ``forward`` returns the logits; with ``aux_logits``, :meth:`all_logits`
    returns ``(logits, aux1, aux2)`` (torchvision computes the auxiliary
    heads in training mode only).
    """

    def __init__(self, num_classes=1000, aux_logits=True, transform_input=False):
        super().__init__()
        self.transform_input = transform_input
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, channels in GOOGLENET_MODULES.items():
            setattr(self, f"inception{name}", Inception(*channels))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.aux1 = InceptionAux(512, num_classes) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def all_logits(self, x):
        if self.transform_input:
            mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            x = x * (std / 0.5) + (mean - 0.5) / 0.5
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = None if self.aux1 is None else self.aux1(x)
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = None if self.aux2 is None else self.aux2(x)
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return logits, aux1, aux2

    def forward(self, x):
        return self.all_logits(x)[0]


# --- DeepLabV3 (torchvision models/segmentation/deeplabv3.py, fcn.py, _utils.py) ---------


class ASPPPooling(nn.Sequential):
    """Image pooling: average to 1x1, 1x1 conv + BN + ReLU, bilinear back to the input size."""

    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x):
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """torchvision's ``ASPP(in_channels, atrous_rates, out_channels=256)``: ``convs.0`` the
    1x1 branch, ``convs.1..n`` the 3x3 atrous branches (padding = dilation), ``convs.n+1``
    the pooling branch; ``project`` 1x1 + BN + ReLU + Dropout(0.5) on the concatenation."""

    def __init__(self, in_channels, atrous_rates, out_channels=256):
        super().__init__()

        def unit(kernel, rate=1):
            return nn.Sequential(
                nn.Conv2d(
                    in_channels,
                    out_channels,
                    kernel,
                    padding=rate * (kernel // 2),
                    dilation=rate,
                    bias=False,
                ),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            )

        branches = [unit(1)] + [unit(3, rate) for rate in atrous_rates]
        self.convs = nn.ModuleList([*branches, ASPPPooling(in_channels, out_channels)])
        self.project = nn.Sequential(
            nn.Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x):
        return self.project(torch.cat([branch(x) for branch in self.convs], 1))


class DeepLabV3(nn.Module):
    """torchvision's ``deeplabv3_resnet50`` / ``_resnet101`` in eval mode.

    ``backbone``: the ResNet with ``replace_stride_with_dilation=[False, True,
    True]`` (output stride 8), without ``avgpool`` and ``fc``
    (``IntermediateLayerGetter``); ``classifier``: ``DeepLabHead`` = ASPP
    (rates 12, 24, 36), 3x3 conv 256 -> 256 (no bias) + BN + ReLU, 1x1 conv
    to the classes (bias); ``aux_classifier`` (with ``aux``): ``FCNHead(1024,
    classes)`` on ``layer3``. ``forward`` returns the logits (torchvision's
    ``["out"]``) bilinearly resized to the input size; :meth:`all_logits`
    adds the auxiliary ones (torchvision's ``["aux"]``).
    """

    def __init__(self, depth=50, num_classes=21, aux=True):
        super().__init__()
        block, layers = RESNET_LAYERS[depth]
        self.backbone = ResNet(block, layers, replace_stride_with_dilation=(False, True, True))
        del self.backbone.avgpool, self.backbone.fc
        self.classifier = nn.Sequential(
            ASPP(2048, (12, 24, 36)),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, num_classes, 1),
        )
        self.aux_classifier = None
        if aux:
            self.aux_classifier = nn.Sequential(
                nn.Conv2d(1024, 256, 3, padding=1, bias=False),
                nn.BatchNorm2d(256),
                nn.ReLU(),
                nn.Dropout(0.1),
                nn.Conv2d(256, num_classes, 1),
            )

    def all_logits(self, x):
        size = x.shape[-2:]

        def resized(logits):
            return nn.functional.interpolate(
                logits, size=size, mode="bilinear", align_corners=False
            )

        aux_features, features = self.backbone.stages(x)
        out = resized(self.classifier(features))
        aux = None if self.aux_classifier is None else resized(self.aux_classifier(aux_features))
        return out, aux

    def forward(self, x):
        return self.all_logits(x)[0]


# --- random BN statistics --------------------------------------------------------------


@torch.no_grad()
def randomize(module, image_size=64, seed=0):
    """Gives every BN of ``module`` random statistics and affine parameters; returns it in eval mode.

    One forward pass in training mode on random images sets each BN's
    running statistics to its batch statistics (``momentum=None``: a plain
    average), so that activations stay of order one through deep networks;
    then the statistics are perturbed (``running_var`` scaled by U(0.5, 2),
    ``running_mean`` shifted by N(0, 0.2)·sqrt(var)) and ``weight`` ~ U(0.5,
    1.5), ``bias`` ~ N(0, 0.2). Variances of order one and below make the BN
    epsilon (1e-5 in torchvision, 1e-3 in Keras) visible at the tests'
    tolerance.
    """
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    module.train()
    module(torch.randn(4, 3, image_size, image_size, generator=generator))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
        shape = norm.running_var.shape
        std = norm.running_var.sqrt()
        norm.running_mean += 0.2 * std * torch.randn(shape, generator=generator)
        norm.running_var *= 0.5 + 1.5 * torch.rand(shape, generator=generator)
        norm.weight.copy_(0.5 + torch.rand(shape, generator=generator))
        norm.bias.copy_(0.2 * torch.randn(shape, generator=generator))
    return module.eval()
