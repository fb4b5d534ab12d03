"""One real data set that needs no network: the UCI handwritten digits.

1,797 grey images of the digits 0-9, 8x8 pixels of values 0-16: the test
set of the UCI "Optical Recognition of Handwritten Digits" data (Alpaydin &
Kaynak, 1998), 32x32 bitmaps written by 13 people, every 4x4 block counted
into one pixel. kcv ships the file (``optdigits_test.csv.gz``: UCI's
``optdigits.tes``, the copy scikit-learn ships as ``digits.csv.gz``, the
same images in the same order as ``sklearn.datasets.load_digits``), so it
loads offline, with no scikit-learn. Here it is resized to a network's input
size and split deterministically, stratified by class.

The data are licensed under Creative Commons Attribution 4.0 (CC BY 4.0) by
the UCI Machine Learning Repository; the reference below is its attribution.
"""

import gzip
import hashlib
import io
import os

import numpy as np

from kcv import _validation
from kcv.data.dataset import Dataset
from kcv.data.dataset import to_data_format

# UCI's optdigits.tes, gzipped: one image per line, its 64 pixel counts (rows
# of 8) then its class, comma-separated. The SHA-256 is that of the
# uncompressed text, which a damaged or edited copy fails.
DIGITS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optdigits_test.csv.gz")
DIGITS_SHA256 = "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8"
DIGIT_CLASSES = tuple(str(k) for k in range(10))


def digits(size=32, channels=1, split="train", test_fraction=0.2, seed=0, data_format=None):
    """The 1,797 UCI handwritten digits, resized and split.

    The split is stratified: from every class, a ``test_fraction`` of its
    images (rounded) goes to the test split, chosen at random by ``seed``;
    "train" holds the rest, "all" every image. Within a split images keep
    the file's order.

    Args:
        size: int >= 8. Height and width after bilinear resizing
            (half-pixel centres, as ``keras.ops.image.resize``; numpy, so
            identical on every backend).
        channels: int. 1 (grey) or 3 (the grey copied to RGB, for networks
            that expect colour).
        split: str. ``"train"``, ``"test"`` or ``"all"``.
        test_fraction: float in [0, 1]. Share of every class in the test split.
        seed: int >= 0. Which images form the test split.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.

    Returns:
        Dataset: ``x`` float32 ``(N, size, size, channels)`` in ``[0, 1]``
        (pixel value / 16), ``y`` int32 ``(N,)`` digits 0-9, ``class_names``
        ``("0", ..., "9")``, and ``extras["index"]``: each image's line in the
        file (its index in ``sklearn.datasets.load_digits()`` too).

    Raises:
        RuntimeError: the shipped file is damaged (its SHA-256 differs).

    Example:

    >>> import kcv
    >>> train = kcv.data.digits(size=32, split="train")
    >>> test = kcv.data.digits(size=32, split="test")
    >>> len(train), len(test), train.x.shape[1:]
    (1438, 359, (32, 32, 1))

    Reference:
        E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten
        Digits", UCI Machine Learning Repository, 1998, CC BY 4.0.
        https://archive.ics.uci.edu/ml/datasets/Optical+Recognition+of+Handwritten+Digits
    """
    size = _validation.positive_int("size", size, 8)
    channels = _validation.one_of("channels", channels, (1, 3))
    split = _validation.one_of("split", split, ("train", "test", "all"))
    test_fraction = _validation.number("test_fraction", test_fraction, 0.0, 1.0)
    seed = _validation.positive_int("seed", seed, 0)
    data_format = _validation.data_format(data_format)
    pixels, labels = read_digits()
    index = _split_index(labels, split, test_fraction, seed)
    images = resize_bilinear(pixels[index] / 16.0, size)
    images = np.repeat(images[:, None], channels, axis=1).astype(np.float32)
    x = to_data_format(np.clip(images, 0.0, 1.0), data_format)
    return Dataset(x, labels[index], DIGIT_CLASSES, {"index": index})


def read_digits(path=DIGITS_FILE):
    """The file's images and labels, after checking its SHA-256.

    Args:
        path: str. A gzipped copy of UCI's ``optdigits.tes``.

    Returns:
        ``(pixels, labels)``: int32 arrays ``(1797, 8, 8)`` of counts 0-16
        and ``(1797,)`` of digits 0-9, in the file's order.

    Raises:
        RuntimeError: the uncompressed text's SHA-256 is not ``DIGITS_SHA256``.

    Example:

    >>> pixels, labels = read_digits()
    >>> pixels.shape, int(pixels.max()), labels[:5].tolist()
    ((1797, 8, 8), 16, [0, 1, 2, 3, 4])
    """
    with gzip.open(path, "rb") as f:
        text = f.read()
    digest = hashlib.sha256(text).hexdigest()
    if digest != DIGITS_SHA256:
        raise RuntimeError(
            f"{path} is damaged: its SHA-256 is {digest}, expected {DIGITS_SHA256} "
            "(UCI's optdigits.tes); reinstall kcv"
        )
    table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int32)
    return table[:, :64].reshape(-1, 8, 8), table[:, 64]


def _split_index(labels, split, test_fraction, seed):
    """Sorted indices of ``split``: per class, a random ``test_fraction`` is the test split."""
    if split == "all":
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.append(members[: round(test_fraction * len(members))])
    is_test = np.zeros(len(labels), bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(is_test if split == "test" else ~is_test)


def resize_bilinear(images, size):
    """Bilinear resizing of ``(N, h, w)`` images to ``(N, size, size)``.

    Output pixel ``o`` samples the input at ``(o + 0.5) · in / out - 0.5``
    (half-pixel centres), clamped to the border, between its two nearest
    input pixels. Rows and columns are resized by one matrix each.
    """
    rows = _interpolation_matrix(images.shape[1], size)
    cols = _interpolation_matrix(images.shape[2], size)
    return np.einsum("oi,nij,pj->nop", rows, images, cols)


def _interpolation_matrix(in_size, out_size):
    """``(out_size, in_size)`` weights of linear interpolation with half-pixel centres."""
    source = np.clip((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0, in_size - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, in_size - 1)
    weights = np.zeros((out_size, in_size))
    np.add.at(weights, (np.arange(out_size), low), 1.0 - (source - low))
    np.add.at(weights, (np.arange(out_size), high), source - low)
    return weights
