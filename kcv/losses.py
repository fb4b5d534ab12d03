"""Losses from the papers: EncNet's Semantic Encoding loss (SE-loss).

Zhang et al. "Context Encoding for Semantic Segmentation". CVPR 2018,
Sec. 3.3. https://arxiv.org/abs/1803.08904
"""

import keras
from keras import ops


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
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"`weight` must be a number >= 0, received {weight!r}.")
        self.weight = weight

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        bce = keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True)
        return self.weight * bce

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
