"""The Fire module (SqueezeNet).

Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer. "SqueezeNet: AlexNet-level
accuracy with 50x fewer parameters and <0.5MB model size". 2016.
https://arxiv.org/abs/1602.07360

Official code: forresti/SqueezeNet (Caffe prototxt); layout as torchvision
``models/squeezenet.py`` (``Fire``).
"""

import keras
from keras import ops

from kcv import _validation
from kcv.layers import conv_bn
from kcv.layers import layout


@keras.saving.register_keras_serializable(package="kcv")
class FireModule(keras.layers.Layer):
    """SqueezeNet's Fire module: a 1x1 squeeze, then 1x1 and 3x3 expands, concatenated.

    ``s = relu(conv1x1(x))`` squeezes the input to ``squeeze`` channels
    (paper, Sec. 3.2, strategy 2: fewer input channels to the 3x3 filters);
    the output is ``concat[relu(conv1x1(s)), relu(conv3x3(s))]`` on the
    channel axis, the 1x1 expand first (``expand_1x1 + expand_3x3``
    channels), as the official prototxt's ``concat`` and torchvision's
    ``torch.cat([expand1x1, expand3x3], 1)``. The 3x3 is "same"-padded
    (padding 1), so the spatial size is kept. Every convolution has a bias
    and there is no batch normalization (the paper's and torchvision's
    module). Parameters on ``C`` input channels:
    ``C·s + s + s·e1 + e1 + 9·s·e3 + e3``; fire2 of SqueezeNet 1.0
    (96 -> 16, 64, 64): ``1,552 + 1,088 + 9,280 = 11,920``.

    Args:
        squeeze: int. Channels of the 1x1 squeeze layer (``s_1x1``).
        expand_1x1: int. Channels of the 1x1 expand layer (``e_1x1``).
        expand_3x3: int. Channels of the 3x3 expand layer (``e_3x3``).
        data_format: str or None. None reads ``keras.config.image_data_format()``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        A tensor with ``expand_1x1 + expand_3x3`` channels and the input's
        spatial size.

    Example:

    >>> import numpy as np, kcv
    >>> fire2 = kcv.layers.FireModule(16, 64, 64)
    >>> fire2(np.ones((1, 55, 55, 96), "float32")).shape
    (1, 55, 55, 128)
    >>> fire2.count_params()
    11920

    Reference:
        Iandola et al., SqueezeNet, 2016, Sec. 3.2 and Fig. 1;
        torchvision ``models/squeezenet.py``.
    """

    def __init__(self, squeeze, expand_1x1, expand_3x3, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.squeeze = _validation.positive_int("squeeze", squeeze)
        self.expand_1x1 = _validation.positive_int("expand_1x1", expand_1x1)
        self.expand_3x3 = _validation.positive_int("expand_3x3", expand_3x3)
        self.data_format = _validation.data_format(data_format)

    def _conv(self, filters, kernel_size, name):
        return conv_bn.conv_bn_act(self, filters, kernel_size, name, batch_norm=False)

    def build(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        self.squeeze_layers = self._conv(self.squeeze, 1, "squeeze")
        self.expand_1x1_layers = self._conv(self.expand_1x1, 1, "expand_1x1")
        self.expand_3x3_layers = self._conv(self.expand_3x3, 3, "expand_3x3")
        squeezed = conv_bn.build_chain(self.squeeze_layers, input_shape)
        conv_bn.build_chain(self.expand_1x1_layers, squeezed)
        conv_bn.build_chain(self.expand_3x3_layers, squeezed)

    def call(self, inputs):
        squeezed = conv_bn.call_chain(self.squeeze_layers, inputs)
        return ops.concatenate(
            [
                conv_bn.call_chain(self.expand_1x1_layers, squeezed),
                conv_bn.call_chain(self.expand_3x3_layers, squeezed),
            ],
            axis=layout.channel_axis(self.data_format),
        )

    def compute_output_shape(self, input_shape):
        _validation.image_shape(self, input_shape, self.data_format)
        channels = self.expand_1x1 + self.expand_3x3
        return layout.same_conv_output_shape(input_shape, channels, (1, 1), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "squeeze": self.squeeze,
                "expand_1x1": self.expand_1x1,
                "expand_3x3": self.expand_3x3,
                "data_format": self.data_format,
            }
        )
        return config
