"""The blocks, one module per paper family (see each module for its paper)."""

from kcv.layers.aspp import ASPP
from kcv.layers.conv import Conv2D
from kcv.layers.conv import DepthwiseConv2D
from kcv.layers.depthwise import DepthwiseSeparableConv
from kcv.layers.depthwise import InvertedResidual
from kcv.layers.encoding import ContextEncoding
from kcv.layers.encoding import Encoding
from kcv.layers.fire import FireModule
from kcv.layers.inception import InceptionModule
from kcv.layers.local_response_norm import LocalResponseNormalization
from kcv.layers.msd import MSDClassifier
from kcv.layers.msd import MSDDenseLayer
from kcv.layers.msd import MSDFirstLayer
from kcv.layers.msd import MSDTransition
from kcv.layers.normalization import BatchNormalization
from kcv.layers.pooling import MaxPooling2D
from kcv.layers.residual import BasicBlock
from kcv.layers.residual import Bottleneck
from kcv.layers.shufflenet import ChannelShuffle
from kcv.layers.shufflenet import ShuffleNetV2Unit
from kcv.layers.squeeze_excite import SqueezeExcite
from kcv.layers.strip_pooling import MixedPooling
from kcv.layers.strip_pooling import StripPooling

__all__ = [
    "ASPP",
    "BasicBlock",
    "BatchNormalization",
    "Bottleneck",
    "ChannelShuffle",
    "ContextEncoding",
    "Conv2D",
    "DepthwiseConv2D",
    "DepthwiseSeparableConv",
    "Encoding",
    "FireModule",
    "InceptionModule",
    "InvertedResidual",
    "LocalResponseNormalization",
    "MSDClassifier",
    "MSDDenseLayer",
    "MSDFirstLayer",
    "MSDTransition",
    "MaxPooling2D",
    "MixedPooling",
    "ShuffleNetV2Unit",
    "SqueezeExcite",
    "StripPooling",
]
