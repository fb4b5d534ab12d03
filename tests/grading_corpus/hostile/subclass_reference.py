"""Hostile: hands in kcv's own implementation under the exercise's name.

exercise: squeeze_excite
loses: all
message: imports kcv.layers
"""

from kcv.layers import SqueezeExcite as _Reference


class SqueezeExcite(_Reference):
    pass
