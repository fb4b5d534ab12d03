"""The image-classification sets by name, in the size and channels a chapter asks for.

A chapter that trains a classifier names its data in its parameters cell
(``DATASET = "shapes"``) and loads it with :func:`load`, so that a learner
with CIFAR-10 in the Keras cache (or a GPU and time) switches to it by
changing that one word: the same number of images, resized to the chapter's
image size, in the channels its networks take.
"""

import numpy as np

from kcv import _validation
from kcv.data import cifar
from kcv.data import synthetic
from kcv.data.dataset import Dataset
from kcv.data.dataset import to_data_format
from kcv.data.digits import digits
from kcv.data.digits import resize_bilinear

NAMES = ("shapes", "digits", "cifar10", "cifar100")
# ITU-R BT.601 luma weights: a colour image in one channel.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def load(name, split="train", n=None, size=32, channels=3, seed=0, data_format=None):
    """An image-classification set by name: ``n`` images of ``split``, ``size`` pixels square.

    * ``"shapes"``: :func:`kcv.data.shapes` ``(n, size, seed)``, drawn for
      this call (``n`` required): ``seed`` alone decides the images, so a
      chapter draws its test images with another seed than its training
      images (``split`` only names the role).
    * ``"digits"``: :func:`kcv.data.digits`, the first ``n`` images of the
      stratified ``split`` (all of it when ``n`` is None).
    * ``"cifar10"``, ``"cifar100"``: :func:`kcv.data.cifar10` /
      :func:`kcv.data.cifar100` (fine labels) from the Keras cache, or
      downloaded once where the machine is online (never offline: a clear
      :class:`kcv.data.DatasetUnavailableError`); the first ``n`` images of
      the split (the files are already in random order), resized.

    Resizing is bilinear with half-pixel centres, in numpy (identical on
    every backend). ``channels=1`` turns colour images grey (ITU-R BT.601
    weights); ``channels=3`` copies grey digits to three channels.

    Args:
        name: str. One of ``"shapes"``, ``"digits"``, ``"cifar10"``, ``"cifar100"``.
        split: str. ``"train"`` or ``"test"``.
        n: int or None. Number of images; None: the whole split (not for
            ``"shapes"``, which has no fixed size).
        size: int >= 16. Height and width.
        channels: int. 1 or 3.
        seed: int >= 0. The images of ``"shapes"``. The real sets' splits
            are fixed (``"digits"``: :func:`kcv.data.digits`' default split),
            so that one call per split, each with its own seed, suits every set.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.

    Returns:
        :class:`kcv.data.Dataset` with ``x`` float32 ``(n, size, size,
        channels)`` (or channels first) in ``[0, 1]`` and ``y`` int32 labels.

    Raises:
        ValueError: an unknown ``name`` or ``split``, ``n`` missing for
            ``"shapes"`` or larger than the split, a bad ``size`` or ``channels``.
        kcv.data.DatasetUnavailableError: CIFAR offline and not in the cache.

    Example:

    >>> import kcv
    >>> train = kcv.data.load("shapes", "train", n=64, size=16, seed=0)
    >>> test = kcv.data.load("shapes", "test", n=32, size=16, seed=1)
    >>> train.x.shape, test.x.shape
    ((64, 16, 16, 3), (32, 16, 16, 3))
    """
    name = _validation.one_of("name", name, NAMES)
    split = _validation.one_of("split", split, ("train", "test"))
    size = _validation.positive_int("size", size, 16)
    channels = _validation.one_of("channels", channels, (1, 3))
    seed = _validation.positive_int("seed", seed, 0)
    data_format = _validation.data_format(data_format)
    if n is not None:
        n = _validation.positive_int("n", n)
    if name == "shapes":
        if n is None:
            _validation.fail("n", 'a number of images for "shapes" (it is drawn on demand)', n)
        found = synthetic.shapes(n, size=size, seed=seed, data_format="channels_last")
    elif name == "digits":
        found = digits(size, channels, split, data_format="channels_last")
    else:
        loader = cifar.cifar10 if name == "cifar10" else cifar.cifar100
        found = loader(split, data_format="channels_last")
    if n is not None and n > len(found):
        _validation.fail("n", f"at most the {len(found)} images of {name}'s {split} split", n)
    found = found if n is None else found[:n]
    x = _resized(found.x.transpose(0, 3, 1, 2), size, channels)  # (N, C, H, W)
    return Dataset(to_data_format(x, data_format), found.y, found.class_names)


def resize(images, size, channels=None, data_format=None):
    """Images resized to ``size`` x ``size`` and converted to ``channels``, in NumPy.

    The resizing of :func:`load`, for images a learner already has: bilinear
    with half-pixel centres and clamped borders, without antialiasing
    (PyTorch's ``interpolate(mode="bilinear", align_corners=False)``), so
    that every backend receives the same numbers; values are clipped to
    ``[0, 1]``. ``channels=1`` turns colour images grey (ITU-R BT.601
    weights), ``channels=3`` copies a grey image into three channels.

    Args:
        images: array ``(N, H, W, C)`` (``(N, C, H, W)`` in ``channels_first``)
            with values in ``[0, 1]``, ``C`` 1 or 3.
        size: int >= 1. Height and width of the result.
        channels: 1, 3 or None (None: as many as the input has).
        data_format: str or None. The layout of ``images`` and of the result;
            None reads ``keras.config.image_data_format()``.

    Returns:
        A float32 array ``(N, size, size, channels)`` (or channels first).

    Raises:
        ValueError: naming ``images`` (not a batch of 1- or 3-channel images),
            ``size``, ``channels`` or ``data_format``.

    Example:

    >>> import numpy as np, kcv
    >>> grey = np.zeros((2, 16, 16, 1), "float32")
    >>> kcv.data.resize(grey, 64, channels=3, data_format="channels_last").shape
    (2, 64, 64, 3)
    """
    data_format = _validation.data_format(data_format)
    size = _validation.positive_int("size", size)
    if channels is not None:
        channels = _validation.one_of("channels", channels, (1, 3))
    x = np.asarray(images, np.float32)
    channels_last = data_format == "channels_last"
    if x.ndim != 4 or x.shape[-1 if channels_last else 1] not in (1, 3):
        layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
        _validation.fail(
            "images",
            f"a batch of images {layout} with C = 1 or 3 ({data_format})",
            images,
            received=f"an array of shape {x.shape}",
        )
    x = _resized(x.transpose(0, 3, 1, 2) if channels_last else x, size, channels)
    return x.transpose(0, 2, 3, 1) if channels_last else x


def _resized(x, size, channels):
    """``(N, C, H, W)`` images at ``size`` x ``size`` with ``channels`` (None: unchanged)."""
    if x.shape[2:] != (size, size):
        planes = resize_bilinear(x.reshape(-1, *x.shape[2:]), size)
        x = np.clip(planes.reshape(len(x), -1, size, size), 0.0, 1.0)
    if channels == 1 and x.shape[1] == 3:
        x = np.einsum("nchw,c->nhw", x, _LUMA)[:, None]
    elif channels == 3 and x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    return x.astype(np.float32)
