"""The networks of the papers, assembled from :mod:`kcv.layers`.

Functional ``keras.Model`` builders following ``keras.applications``
conventions (``include_top``, ``input_shape``, ``classes``, ``pooling``,
``classifier_activation``, ``name``). kcv ships no pretrained weights:
``weights`` accepts only ``None``. One module per paper, and
:mod:`kcv.models.features` (``feature_info``, ``feature_extractor``): any
backbone's feature maps by stride.
"""

from kcv.models.alexnet import AlexNet
from kcv.models.deeplab import DeepLabV3
from kcv.models.deeplab import DeepLabV3Plus
from kcv.models.encnet import EncNet
from kcv.models.encnet import EncNetCIFAR
from kcv.models.fcn import FCN
from kcv.models.features import feature_extractor
from kcv.models.features import feature_info
from kcv.models.googlenet import GoogLeNet
from kcv.models.googlenet import GoogLeNetCIFAR
from kcv.models.mobilenet import MobileNetV1
from kcv.models.mobilenet import MobileNetV2
from kcv.models.mobilenet_v3 import MobileNetV3
from kcv.models.msdnet import MSDNet
from kcv.models.resnet import ResNet
from kcv.models.resnet import ResNeXt
from kcv.models.senet import SEResNet50
from kcv.models.senet import SEResNetCIFAR
from kcv.models.shufflenet import ShuffleNetV2
from kcv.models.spnet import SPNet
from kcv.models.squeezenet import SqueezeNet
from kcv.models.vgg import VGG

__all__ = [
    "FCN",
    "VGG",
    "AlexNet",
    "DeepLabV3",
    "DeepLabV3Plus",
    "EncNet",
    "EncNetCIFAR",
    "GoogLeNet",
    "GoogLeNetCIFAR",
    "MSDNet",
    "MobileNetV1",
    "MobileNetV2",
    "MobileNetV3",
    "ResNeXt",
    "ResNet",
    "SEResNet50",
    "SEResNetCIFAR",
    "SPNet",
    "ShuffleNetV2",
    "SqueezeNet",
    "feature_extractor",
    "feature_info",
]
