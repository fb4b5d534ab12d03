"""kcv: the convolutional building blocks that shaped computer vision, in Keras 3.

One code base for TensorFlow, JAX and PyTorch (pick with ``KERAS_BACKEND``).

Sub-packages:
    kcv.layers      the blocks, one module per paper family.
    kcv.models      the papers' networks, built from kcv.layers.
    kcv.losses      losses from the papers (EncNet's SE-loss).
    kcv.adaptive    anytime and budgeted-batch inference with early exits (MSDNet).
    kcv.analysis    parameters, MACs, receptive fields and output sizes of the papers' tables.
    kcv.distribute  data-parallel training with keras.distribution (JAX).
    kcv.data        small data sets that run offline (procedural, digits; CIFAR).
    kcv.experiments comparisons over several seeds: effects, spreads, recorded results.
    kcv.interpret   what a network computes and where it looks (activations, CAM, Grad-CAM).
    kcv.viz         the matplotlib figures the chapters share.
    kcv.weights     pretrained torchvision weights on kcv's models, and their preprocessing.
    kcv.testing     the layer test battery used by kcv's tests and its grader.
    kcv.backend     the one module that talks to the running backend directly.
    kcv.config      user settings read when a layer is built (convolution implementations).
    kcv.environment process settings to apply before a backend loads.

``import kcv`` imports nothing else and changes nothing: each sub-package is
imported the first time it is used (``kcv.layers.SqueezeExcite``), and
importing ``kcv.layers`` or ``kcv.models`` registers kcv's layers with Keras
for ``keras.saving.load_model``. So a program can call
``kcv.environment.configure()`` after ``import kcv`` and before any backend
is loaded.
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "adaptive",
    "analysis",
    "backend",
    "config",
    "data",
    "distribute",
    "environment",
    "experiments",
    "interpret",
    "layers",
    "losses",
    "models",
    "testing",
    "training",
    "viz",
    "weights",
)

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name):
    """Imports a sub-package on first use (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"kcv.{name}")
    raise AttributeError(f"module 'kcv' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBPACKAGES))
