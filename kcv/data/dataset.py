"""The one return type of every ``kcv.data`` loader, and its argument checks.

Every loader returns a :class:`Dataset`: numpy arrays that ``model.fit``
takes as they are on TensorFlow, JAX and PyTorch, plus the names of the
classes. No ``tf.data``, no framework tensors.
"""

import dataclasses

import keras
import numpy as np

from kcv import _validation


@dataclasses.dataclass(repr=False)
class Dataset:
    """Images, their targets and the class names, as numpy arrays.

    Attributes:
        x: float32 images in ``[0, 1]``, ``(N, H, W, C)`` (channels_last) or
            ``(N, C, H, W)`` (channels_first).
        y: int32 targets: class labels ``(N,)`` for classification, or
            segmentation masks ``(N, H, W)`` of class indices (0 is the
            background; a mask may hold an ignore index, see ``extras``).
        class_names: tuple of str. ``class_names[k]`` names class ``k``.
        extras: dict. Numpy arrays in it are per image (first axis ``N``) and
            are indexed with the dataset; any other value (tuple, int, str)
            describes the whole set and is kept as it is.

    Example:

    >>> import kcv
    >>> ds = kcv.data.shapes(100, size=32)
    >>> ds
    Dataset(x=float32(100, 32, 32, 3), y=int32(100,), 10 classes, extras=[])
    >>> ds[:8].x.shape, len(ds), ds.num_classes
    ((8, 32, 32, 3), 100, 10)
    >>> xb, yb = ds.batches(16, seed=0)[0]
    >>> xb.shape
    (16, 32, 32, 3)

    ``model.fit(ds.x, ds.y, batch_size=32)`` trains on the arrays directly,
    ``model.fit(ds.batches(32))`` on batches made here.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple
    extras: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.x)

    @property
    def num_classes(self):
        """int. The number of classes, ``len(class_names)``."""
        return len(self.class_names)

    def __getitem__(self, index):
        """The images at ``index`` (a slice, an index array or a boolean mask)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        extras = {
            key: value[index] if isinstance(value, np.ndarray) else value
            for key, value in self.extras.items()
        }
        return Dataset(self.x[index], self.y[index], self.class_names, extras)

    def batches(self, batch_size=32, shuffle=True, seed=0, drop_remainder=False):
        """The set in ``(x, y)`` numpy batches, for ``model.fit`` or a loop.

        Args:
            batch_size: int >= 1. Images per batch.
            shuffle: bool. Visit the images in a random order, a new one
                every epoch, drawn from ``seed``.
            seed: int >= 0. Seed of the orders (ignored without ``shuffle``).
            drop_remainder: bool. Leave out a last, smaller batch.

        Returns:
            :class:`Batches`, a ``keras.utils.PyDataset``: ``model.fit`` takes
            it on every backend, and ``for xb, yb in batches`` is one epoch.

        Example:

        >>> import kcv
        >>> ds = kcv.data.shapes(10)
        >>> [len(yb) for _, yb in ds.batches(4)]
        [4, 4, 2]
        """
        return Batches(self, batch_size, shuffle, seed, drop_remainder)

    def __repr__(self):
        extras = ", ".join(self.extras)
        return (
            f"Dataset(x={self.x.dtype}{self.x.shape}, y={self.y.dtype}{self.y.shape}, "
            f"{self.num_classes} classes, extras=[{extras}])"
        )


class Batches(keras.utils.PyDataset):
    """A :class:`Dataset` in ``(x, y)`` numpy batches, in a new order every epoch.

    Made by :meth:`Dataset.batches`. As a ``keras.utils.PyDataset`` it needs no
    ``tf.data``: ``model.fit(batches, epochs=5)`` works on every backend and
    calls :meth:`on_epoch_end` after each epoch, which draws the next order.
    """

    def __init__(self, dataset, batch_size, shuffle, seed, drop_remainder):
        super().__init__()
        self.dataset = dataset
        self.batch_size = _validation.positive_int("batch_size", batch_size, minimum=1)
        self.shuffle = shuffle
        self.drop_remainder = drop_remainder
        self._rng = np.random.default_rng(_validation.positive_int("seed", seed, minimum=0))
        self._order = self._draw_order()

    def _draw_order(self):
        count = len(self.dataset)
        return self._rng.permutation(count) if self.shuffle else np.arange(count)

    def __len__(self):
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + int(rest > 0 and not self.drop_remainder)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} is out of range: there are {len(self)}.")
        chosen = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.dataset.x[chosen], self.dataset.y[chosen]

    def on_epoch_end(self):
        self._order = self._draw_order()


def to_data_format(images, data_format):
    """Lays out ``(N, C, H, W)`` images for ``data_format``: channels move last if channels_last."""
    if data_format == "channels_last":
        return np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    return images
