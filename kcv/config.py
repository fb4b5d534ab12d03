"""User settings that kcv layers read when they are built.

One setting so far: which computation ``kcv.layers.Conv2D`` and
``kcv.layers.DepthwiseConv2D`` use when built with ``implementation="auto"``
(the default). Each kind of convolution has its own default:

* ``depthwise`` (``kcv.layers.DepthwiseConv2D``): ``"auto"``, ``"native"``
  or ``"shifted"``; environment variable ``KCV_DEPTHWISE``.
* ``pointwise`` (``kcv.layers.Conv2D``): ``"auto"``, ``"native"`` or
  ``"matmul"``; environment variable ``KCV_POINTWISE``.

A layer resolves its implementation once, in ``build``, in this order: its
own ``implementation`` argument unless ``"auto"``; else the value set here
with :func:`set_conv_implementation` (or :func:`conv_implementation_scope`);
else the environment variable (read at that build, so it can be set from
outside the program, e.g. by ``benchmarks/``); else ``"auto"``: the fastest
computation kcv knows for the running backend (see ``kcv.layers.conv``). A
built layer keeps its choice (``layer.implementation_in_use``) whatever is
set later. Every implementation holds the same weights and computes the
same function (to float32 rounding), so the choice never changes what a
saved model computes: ``get_config`` stores the argument as given, a model
saved with ``"auto"`` resolves anew in the process that loads it, and one
saved with a forced implementation keeps it (its weights load into a model
built with any other).

Nothing here reads the environment or changes anything at import time.

Example:

>>> import kcv
>>> with kcv.config.conv_implementation_scope(depthwise="native"):
...     kcv.config.conv_implementation("depthwise")
'native'
"""

import contextlib
import os

from kcv import _validation

CONV_IMPLEMENTATIONS = {
    "depthwise": ("auto", "native", "shifted"),
    "pointwise": ("auto", "native", "matmul"),
}
ENVIRONMENT_VARIABLES = {"depthwise": "KCV_DEPTHWISE", "pointwise": "KCV_POINTWISE"}

# The values set in this process, by kind; a kind absent here falls back to
# its environment variable.
_settings = {}


def _kind(kind):
    return _validation.one_of("kind", kind, tuple(CONV_IMPLEMENTATIONS))


def conv_implementation(kind):
    """The default implementation of a ``kind`` of convolution, as set now.

    Args:
        kind: str. ``"depthwise"`` (``kcv.layers.DepthwiseConv2D``) or
            ``"pointwise"`` (``kcv.layers.Conv2D``).

    Returns:
        The value set with :func:`set_conv_implementation`, else the
        environment variable's (``KCV_DEPTHWISE`` / ``KCV_POINTWISE``; an
        empty one counts as unset), else ``"auto"``.

    Raises:
        ValueError: when the environment variable holds a value the kind
            does not accept.

    Example:

    >>> conv_implementation("pointwise") in CONV_IMPLEMENTATIONS["pointwise"]
    True
    """
    kind = _kind(kind)
    if kind in _settings:
        return _settings[kind]
    variable = ENVIRONMENT_VARIABLES[kind]
    value = os.environ.get(variable, "").strip()
    if not value:
        return "auto"
    return _validation.one_of(variable, value, CONV_IMPLEMENTATIONS[kind])


def set_conv_implementation(depthwise=None, pointwise=None):
    """Sets the implementation that convolutions built with ``"auto"`` use.

    Layers built afterwards read it; layers already built keep theirs. A
    value set here takes precedence over the environment variables.

    Args:
        depthwise: str or None. ``"auto"``, ``"native"`` (the backend's
            grouped convolution: Keras' ``ops.depthwise_conv``, on torch
            PyTorch's ``conv2d`` without layout copies) or ``"shifted"`` (a
            sum of shifted, scaled inputs); None leaves the setting as it is.
        pointwise: str or None. ``"auto"``, ``"native"`` (the backend's
            convolution: Keras' ``ops.conv``, on torch PyTorch's ``conv2d``
            without layout copies) or ``"matmul"`` (a 1x1 convolution as a
            matrix product); None leaves the setting as it is.

    Returns:
        None.

    Example:

    >>> set_conv_implementation(depthwise="native")
    >>> conv_implementation("depthwise")
    'native'
    >>> set_conv_implementation(depthwise="auto")
    """
    for kind, value in (("depthwise", depthwise), ("pointwise", pointwise)):
        if value is not None:
            _settings[kind] = _validation.one_of(kind, value, CONV_IMPLEMENTATIONS[kind])


@contextlib.contextmanager
def conv_implementation_scope(depthwise=None, pointwise=None):
    """:func:`set_conv_implementation` for the layers built inside a ``with``.

    The settings in force before the ``with`` come back when it ends, an
    exception included.

    Args:
        depthwise, pointwise: as in :func:`set_conv_implementation`.

    Returns:
        A context manager.

    Example:

    >>> import kcv
    >>> with conv_implementation_scope(pointwise="native"):
    ...     conv = kcv.layers.Conv2D(8, 1)
    ...     conv.build((1, 4, 4, 3))
    >>> conv.implementation_in_use
    'native'
    """
    saved = dict(_settings)
    try:
        set_conv_implementation(depthwise=depthwise, pointwise=pointwise)
        yield
    finally:
        _settings.clear()
        _settings.update(saved)
