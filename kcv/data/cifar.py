"""CIFAR-10 and CIFAR-100: downloaded once into the Keras cache, a clear error offline.

Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
https://www.cs.toronto.edu/~kriz/cifar.html

The files are those of ``keras.datasets.cifar10`` and ``cifar100``, kept
where Keras keeps them (``$KERAS_HOME/datasets/``, default
``~/.keras/datasets/``), so a set that either downloaded serves both. Where
the files are missing, a short connection test comes first: offline, the
loader raises :class:`DatasetUnavailableError` within ``timeout`` seconds
(saying where to put the file) instead of hanging in a download.
"""

import os
import pickle
import socket
import threading
import typing
import urllib.parse
import urllib.request

import keras
import numpy as np

from kcv import _validation
from kcv.data.dataset import Dataset
from kcv.data.dataset import to_data_format

# Origins, hashes and folder names are those of keras.datasets.
_CIFAR = {
    "cifar10": {
        "title": "CIFAR-10",
        "origin": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "sha256": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        "folder": "cifar-10-batches-py-target",
        "inner": "cifar-10-batches-py",
        "train": [f"data_batch_{k}" for k in range(1, 6)],
        "test": ["test_batch"],
        "meta": "batches.meta",
    },
    "cifar100": {
        "title": "CIFAR-100",
        "origin": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "sha256": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        "folder": "cifar-100-python-target",
        "inner": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": "meta",
    },
}


class DatasetUnavailableError(OSError):
    """A data set is not in the cache and cannot be downloaded now (offline)."""


def cifar10(split="train", cache_dir=None, timeout=5.0, data_format=None):
    """CIFAR-10: 32x32 colour photos in 10 classes (50,000 train, 10,000 test).

    Args:
        split: str. ``"train"`` or ``"test"``.
        cache_dir: str or None. Folder that holds ``datasets/``; None is the
            Keras cache (``$KERAS_HOME``, default ``~/.keras``).
        timeout: float > 0. Seconds to wait for the download server before
            concluding the machine is offline.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.

    Returns:
        Dataset: ``x`` float32 ``(N, 32, 32, 3)`` in ``[0, 1]`` (the train
        split takes 614 MB), ``y`` int32 ``(N,)``, ``class_names`` from the
        data set's own metadata ("airplane", "automobile", ...).

    Raises:
        DatasetUnavailableError: the files are not cached and cannot be
            downloaded; the message says where to put them.

    Example:

    >>> import kcv
    >>> train = kcv.data.cifar10("train")  # doctest: +SKIP
    >>> train.x.shape, train.class_names[0]  # doctest: +SKIP
    ((50000, 32, 32, 3), 'airplane')

    Reference:
        A. Krizhevsky, "Learning Multiple Layers of Features from Tiny
        Images", technical report, University of Toronto, 2009.
    """
    return _load("cifar10", split, "labels", "label_names", cache_dir, timeout, data_format)


def cifar100(split="train", label_mode="fine", cache_dir=None, timeout=5.0, data_format=None):
    """CIFAR-100: 32x32 colour photos in 100 classes, grouped in 20 superclasses.

    Args:
        split: str. ``"train"`` (50,000 images) or ``"test"`` (10,000).
        label_mode: str. ``"fine"`` (100 classes) or ``"coarse"`` (20
            superclasses).
        cache_dir: str or None. Folder that holds ``datasets/``; None is the
            Keras cache (``$KERAS_HOME``, default ``~/.keras``).
        timeout: float > 0. Seconds to wait for the download server before
            concluding the machine is offline.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.

    Returns:
        Dataset: ``x`` float32 ``(N, 32, 32, 3)`` in ``[0, 1]``, ``y`` int32
        ``(N,)``, ``class_names`` from the data set's own metadata.

    Raises:
        DatasetUnavailableError: the files are not cached and cannot be
            downloaded; the message says where to put them.

    Example:

    >>> import kcv
    >>> test = kcv.data.cifar100("test", label_mode="coarse")  # doctest: +SKIP
    >>> test.num_classes  # doctest: +SKIP
    20

    Reference:
        A. Krizhevsky, "Learning Multiple Layers of Features from Tiny
        Images", technical report, University of Toronto, 2009.
    """
    label_mode = _validation.one_of("label_mode", label_mode, ("fine", "coarse"))
    return _load(
        "cifar100",
        split,
        f"{label_mode}_labels",
        f"{label_mode}_label_names",
        cache_dir,
        timeout,
        data_format,
    )


def _load(name, split, label_key, names_key, cache_dir, timeout, data_format):
    split = _validation.one_of("split", split, ("train", "test"))
    _validation.number("timeout", timeout, 0, low_open=True)
    data_format = _validation.data_format(data_format)
    spec = _CIFAR[name]
    folder = _fetch(spec, cache_dir, timeout)
    parts = [_unpickle(os.path.join(folder, file)) for file in spec[split]]
    pixels = np.concatenate([part["data"] for part in parts]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([part[label_key] for part in parts]).astype(np.int32)
    meta = _unpickle(os.path.join(folder, spec["meta"]))
    names = tuple(label_name.decode() for label_name in meta[names_key])
    images = pixels.astype(np.float32)
    images /= 255.0
    return Dataset(to_data_format(images, data_format), labels, names)


def _fetch(spec, cache_dir, timeout):
    """The folder of the extracted files: from the cache, else downloaded by Keras."""
    root = os.path.expanduser(cache_dir or os.environ.get("KERAS_HOME", "~/.keras"))
    datasets = os.path.join(root, "datasets")
    folder = os.path.join(datasets, spec["folder"], spec["inner"])
    if os.path.isdir(folder):
        return folder
    archive = os.path.join(datasets, spec["folder"] + "_archive")
    advice = (
        f"To use {spec['title']} offline, download {spec['origin']} on a connected "
        f"machine and copy it, under this exact name, to\n    {archive}\n(or extract it "
        f"so that {folder} "
        "exists), then call again. Without it, use a set that needs no network: "
        "kcv.data.shapes() (10 classes of shapes and textures) or kcv.data.digits() "
        "(1,797 real handwritten digits)."
    )
    if not os.path.exists(archive) and not _can_reach(spec["origin"], timeout):
        host = urllib.parse.urlsplit(spec["origin"]).hostname
        raise DatasetUnavailableError(
            f"{spec['title']} is not in the cache ({datasets}) and {host} could not be "
            f"reached (tried for up to {timeout:g} s): this machine looks offline.\n{advice}"
        )
    try:
        extracted = keras.utils.get_file(
            spec["folder"], spec["origin"], extract=True, file_hash=spec["sha256"], cache_dir=root
        )
    except Exception as error:  # Keras re-raises network failures as a bare Exception.
        raise DatasetUnavailableError(
            f"Downloading {spec['title']} from {spec['origin']} failed: {error}\n{advice}"
        ) from error
    return os.path.join(extracted, spec["inner"])


def _can_reach(url, timeout):
    """Whether a TCP connection to the URL's host (or its proxy) opens within ``timeout`` s.

    The attempt runs in a background thread that is abandoned after
    ``timeout``: looking up a host name ignores socket timeouts and can
    block for a long time on a machine without network.
    """
    proxy = urllib.request.getproxies().get(urllib.parse.urlsplit(url).scheme)
    target = urllib.parse.urlsplit(proxy or url)
    port = target.port or (443 if target.scheme == "https" else 80)
    answered, finished = [], threading.Event()

    def connect():
        try:
            socket.create_connection((target.hostname, port), timeout=timeout).close()
            answered.append(True)
        except OSError:
            pass
        finally:
            finished.set()

    threading.Thread(target=connect, daemon=True).start()
    finished.wait(timeout)
    return bool(answered)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain Python values, nothing else.

    A pickle can name any function to call while loading; allowing only
    numpy's array rebuilding keeps a tampered file from running code (as
    Keras' own loader does).
    """

    allowed: typing.ClassVar = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"Refusing to load `{module}.{name}` from a CIFAR file.")
        return super().find_class(module, name)


def _unpickle(path):
    """A CIFAR file (a pickled dict with bytes keys), with str keys."""
    with open(path, "rb") as file:
        content = _ArrayUnpickler(file, encoding="bytes").load()
    return {key.decode(): value for key, value in content.items()}
