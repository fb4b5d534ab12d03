"""The networks of the papers, assembled from :mod:`kcv.layers`.

Functional ``keras.Model`` builders following ``keras.applications``
conventions (``include_top``, ``input_shape``, ``classes``, ``pooling``,
``classifier_activation``, ``name``). kcv ships no pretrained weights:
``weights`` accepts only ``None``. One module per paper.
"""

__all__ = []
