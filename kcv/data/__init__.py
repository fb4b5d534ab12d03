"""Small data sets that run offline, for the chapters and the tests.

Every loader returns a :class:`Dataset` (``x`` float32 images in ``[0, 1]``,
``y`` int32 labels or masks, ``class_names``, ``extras``): plain numpy
arrays that ``model.fit`` takes on every backend.

Procedural, numpy only, deterministic given ``seed`` (:mod:`kcv.data.synthetic`):
    shapes              outlines and textures, for classification.
    scenes              scene type decides the objects: context for EncNet.
    thin_structures     long thin lines against blobs: strip pooling (SPNet).
    multiscale_objects  the same classes at very different scales: ASPP.

Real, shipped with kcv (:mod:`kcv.data.digits`):
    digits              1,797 handwritten digits, resized.

Downloaded once into the Keras cache, a clear error offline (:mod:`kcv.data.cifar`):
    cifar10, cifar100

By name, resized and in the channels asked for (:mod:`kcv.data.named`):
    load                the classification sets above, for a chapter's DATASET switch
    resize              images resized and converted to 1 or 3 channels, as load does
"""

from kcv.data.cifar import DatasetUnavailableError
from kcv.data.cifar import cifar10
from kcv.data.cifar import cifar100
from kcv.data.dataset import Batches
from kcv.data.dataset import Dataset
from kcv.data.digits import digits
from kcv.data.named import load
from kcv.data.named import resize
from kcv.data.synthetic import IGNORE_INDEX
from kcv.data.synthetic import MULTISCALE_CLASSES
from kcv.data.synthetic import SCENE_CLASSES
from kcv.data.synthetic import SCENE_OBJECTS
from kcv.data.synthetic import SCENE_TYPES
from kcv.data.synthetic import SHAPE_CLASSES
from kcv.data.synthetic import THIN_CLASSES
from kcv.data.synthetic import multiscale_objects
from kcv.data.synthetic import scenes
from kcv.data.synthetic import shapes
from kcv.data.synthetic import thin_structures

__all__ = [
    "IGNORE_INDEX",
    "MULTISCALE_CLASSES",
    "SCENE_CLASSES",
    "SCENE_OBJECTS",
    "SCENE_TYPES",
    "SHAPE_CLASSES",
    "THIN_CLASSES",
    "Batches",
    "Dataset",
    "DatasetUnavailableError",
    "cifar10",
    "cifar100",
    "digits",
    "load",
    "multiscale_objects",
    "resize",
    "scenes",
    "shapes",
    "thin_structures",
]
