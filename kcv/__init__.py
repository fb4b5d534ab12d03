"""kcv: the convolutional building blocks that shaped computer vision, in Keras 3.

One code base for TensorFlow, JAX and PyTorch (pick with ``KERAS_BACKEND``).

Sub-packages:
    kcv.layers   the blocks, one module per paper family.
    kcv.models   the papers' networks, built from kcv.layers.
    kcv.losses   losses from the papers (EncNet's SE-loss).
    kcv.adaptive anytime and budgeted-batch inference with early exits (MSDNet).
    kcv.analysis parameters, MACs, receptive fields and output sizes of the papers' tables.
    kcv.distribute data-parallel training with keras.distribution (JAX).
    kcv.data     small data sets that run offline (procedural, digits; CIFAR).
    kcv.viz      the matplotlib figures the chapters share.
    kcv.testing  the layer test battery used by kcv's tests and its grader.
    kcv.backend  the one module that talks to the running backend directly.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow turns its oneDNN CPU kernels on by default only on some CPUs
# (not on this project's AMD EPYC machines); without them its gradient of a
# convolution with many channels on a small map is 10 to 100 times slower
# (ResNet-50's last stages at 32x32: EncNet trains 3x slower). TensorFlow
# reads the variable when it is imported, so this helps where kcv is
# imported first; the test runner, the benchmarks and the Makefile set it
# too. Set TF_ENABLE_ONEDNN_OPTS=0 to keep TensorFlow's own kernels.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from kcv import adaptive
from kcv import analysis
from kcv import data
from kcv import distribute
from kcv import layers
from kcv import losses
from kcv import models
from kcv import viz

__all__ = [
    "__version__",
    "adaptive",
    "analysis",
    "data",
    "distribute",
    "layers",
    "losses",
    "models",
    "viz",
]
