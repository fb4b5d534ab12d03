"""Losses from the papers: EncNet's SE-loss and the loss of early-exit networks.

Zhang et al. "Context Encoding for Semantic Segmentation". CVPR 2018,
Sec. 3.3. https://arxiv.org/abs/1803.08904
Huang et al. "Multi-Scale Dense Networks for Resource Efficient Image
Classification". ICLR 2018, Sec. 4 ("loss functions").
https://arxiv.org/abs/1703.09844
"""

import keras
from keras import ops

from kcv import _validation


def presence_targets(masks, classes, ignore_index=255):
    """Which classes appear in each image: the SE-loss targets.

    Args:
        masks: integer tensor ``(B, H, W)`` (or any ``(B, ...)``) of class
            indices in ``[0, classes)``, or ``ignore_index``.
        classes: int. Number of classes.
        ignore_index: int. Label of pixels that count for no class.

    Returns:
        float32 ``(B, classes)``: 1.0 where the class labels at least one
        pixel of the image, else 0.0. Labels outside ``[0, classes)`` other
        than ``ignore_index`` count for no class either.

    Example:

    >>> import numpy as np
    >>> masks = np.array([[[0, 2], [2, 255]]])
    >>> np.asarray(presence_targets(masks, classes=4)).tolist()
    [[1.0, 0.0, 1.0, 0.0]]
    """
    masks = ops.convert_to_tensor(masks)
    flat = ops.reshape(masks, (ops.shape(masks)[0], -1))
    valid = ops.logical_and(flat >= 0, flat < classes)
    valid = ops.logical_and(valid, flat != ignore_index)
    # One extra column collects ignored and out-of-range pixels, then is dropped.
    index = ops.where(valid, flat, classes)
    counts = ops.max(ops.one_hot(index, classes + 1, dtype="float32"), axis=1)
    return counts[:, :classes]


@keras.saving.register_keras_serializable(package="kcv")
class SELoss(keras.losses.Loss):
    """Semantic Encoding loss: binary cross-entropy on class-presence logits.

    ``L_se = weight · mean_{b,c} BCE(sigmoid(logit_bc), present_bc)``, with the
    targets from :func:`presence_targets`. EncNet trains with
    ``L = L_seg + α L_se``, ``α = 0.2`` (Sec. 4.1); ``weight`` is that α, so
    the loss can be added to a segmentation loss as it is (e.g. as the loss
    of a model's SE output in ``compile``).

    Args:
        weight: float >= 0. The factor α (paper: 0.2).
        **kwargs: base ``keras.losses.Loss`` arguments (``name``, ``reduction``).

    Example:

    >>> import numpy as np
    >>> loss = SELoss()
    >>> round(float(loss(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]))), 4)
    0.1386

    Reference:
        Zhang et al., Context Encoding for Semantic Segmentation, CVPR 2018,
        Sec. 3.3 (SE-loss) and 4.1 (α = 0.2).
    """

    def __init__(self, weight=0.2, name="se_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        _validation.number("weight", weight, 0)
        self.weight = weight

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        bce = keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True)
        return self.weight * bce

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


def multi_exit_losses(n_exits, weights=None, from_logits=True):
    """``compile`` arguments for a network with one classifier per exit.

    MSDNet trains all its classifiers jointly with the weighted sum of their
    cross-entropy losses, ``(1/|D|) Σ_x Σ_k w_k L(f_k(x))``, with ``w_k = 1``
    in the paper. Keras sums per-output losses with ``loss_weights``, so this
    returns the two lists to pass to ``model.compile``.

    Args:
        n_exits: int. Number of exits (model outputs).
        weights: sequence of ``n_exits`` non-negative floats, or None for
            the paper's uniform weights.
        from_logits: bool. Whether the exits output logits (kcv's MSDNet does).

    Returns:
        A dict with ``loss`` (one sparse categorical cross-entropy per exit)
        and ``loss_weights``.

    Example:

    >>> import kcv
    >>> model = kcv.models.MSDNet(preset="cifar_anytime", classes=10)
    >>> model.compile("sgd", **multi_exit_losses(len(model.outputs)))
    """
    _validation.positive_int("n_exits", n_exits)
    weights = [1.0] * n_exits if weights is None else [float(w) for w in weights]
    if len(weights) != n_exits or any(w < 0 for w in weights):
        _validation.fail("weights", f"{n_exits} non-negative numbers (one per exit)", weights)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    return {"loss": [loss] * n_exits, "loss_weights": weights}
