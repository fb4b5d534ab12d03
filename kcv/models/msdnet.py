"""MSDNet: a multi-scale dense network with an early exit after every block.

Reference:
    Huang, Chen, Li, Wu, van der Maaten, Weinberger. "Multi-Scale Dense
    Networks for Resource Efficient Image Classification". ICLR 2018.
    https://arxiv.org/abs/1703.09844 — official PyTorch code:
    https://github.com/kalviny/MSDNet-PyTorch (``models/msdnet.py``; the
    presets below are the command lines of its README).
"""

import dataclasses
import math

import keras

from kcv import _validation
from kcv import layers
from kcv._validation import one_of
from kcv._validation import positive_int
from kcv.models.common import image_input

# The official README's three configurations (its argument names in comments).
PRESETS = {
    # --nBlocks 7 --stepmode even --step 2 --base 4 --nChannels 16 (CIFAR-100, anytime)
    "cifar_anytime": dict(
        blocks=7,
        step=2,
        base=4,
        step_mode="even",
        channels=16,
        growth_rate=6,
        growth_factor=(1, 2, 4),
        bottleneck_factor=(1, 2, 4),
        stem="cifar",
        classifier_filters=128,
        classes=100,
        input_shape=(32, 32, 3),
    ),
    # --nBlocks 5 --stepmode lin_grow --step 1 --base 1 --nChannels 16 (CIFAR-100, budgeted batch)
    "cifar_budgeted": dict(
        blocks=5,
        step=1,
        base=1,
        step_mode="lin_grow",
        channels=16,
        growth_rate=6,
        growth_factor=(1, 2, 4),
        bottleneck_factor=(1, 2, 4),
        stem="cifar",
        classifier_filters=128,
        classes=100,
        input_shape=(32, 32, 3),
    ),
    # --nBlocks 5 --stepmode even --step 4 --base 4 --nChannels 32 --growthRate 16
    # --grFactor 1-2-4-4 --bnFactor 1-2-4-4 (ImageNet)
    "imagenet": dict(
        blocks=5,
        step=4,
        base=4,
        step_mode="even",
        channels=32,
        growth_rate=16,
        growth_factor=(1, 2, 4, 4),
        bottleneck_factor=(1, 2, 4, 4),
        stem="imagenet",
        classifier_filters="input",
        classes=1000,
        input_shape=(224, 224, 3),
    ),
}

_DEFAULTS = dict(
    blocks=None,
    step=2,
    base=4,
    step_mode="even",
    channels=16,
    growth_rate=6,
    growth_factor=(1, 2, 4),
    bottleneck_factor=None,
    bottleneck=True,
    prune="max",
    reduction=0.5,
    stem="cifar",
    classifier_filters=128,
    classes=None,
    input_shape=None,
)


@dataclasses.dataclass(frozen=True)
class _LayerPlan:
    """One dense layer of the network: its input and output scale counts."""

    in_scales: int
    out_scales: int
    transition: bool


def block_steps(blocks, step, base, step_mode):
    """Number of dense layers in each block (official ``MSDNet.steps``).

    ``"even"``: ``base`` layers in the first block, ``step`` in every other;
    ``"lin_grow"``: ``base``, then ``step * i + 1`` in block ``i``.

    Example:

    >>> block_steps(5, 1, 1, "lin_grow")
    [1, 2, 3, 4, 5]
    """
    one_of("step_mode", step_mode, ("even", "lin_grow"))
    return [base] + [step if step_mode == "even" else step * i + 1 for i in range(1, blocks)]


def _layer_plan(steps, scales, prune, reduction):
    """Input/output scales of every dense layer, and where transitions go.

    ``prune="max"`` drops the finest scale every ``ceil(L / S)`` layers
    (L layers, S scales) and compresses after each drop; ``"min"`` keeps
    every scale a later exit still needs and compresses at L/3 and 2L/3
    (official ``MSDNet._build_block``).
    """
    total = sum(steps)
    plan = []
    for current in range(1, total + 1):
        if prune == "max":
            interval = math.ceil(total / scales)
            in_scales = scales - math.floor(max(0, current - 2) / interval)
            out_scales = scales - math.floor((current - 1) / interval)
            transition = in_scales > out_scales
        else:
            in_scales = min(scales, total - current + 2)
            out_scales = min(scales, total - current + 1)
            transition = current in (math.floor(total / 3), math.floor(2 * total / 3))
        plan.append(_LayerPlan(in_scales, out_scales, transition and reduction > 0))
    return plan


def MSDNet(
    input_shape=None,
    classes=None,
    blocks=None,
    step=None,
    base=None,
    step_mode=None,
    channels=None,
    growth_rate=None,
    growth_factor=None,
    bottleneck_factor=None,
    prune=None,
    reduction=None,
    bottleneck=None,
    stem=None,
    classifier_filters=None,
    preset=None,
    name="msdnet",
):
    """Multi-scale dense network with one classifier (exit) per block.

    The image is turned into S scales (S = ``len(growth_factor)``) by
    :class:`kcv.layers.MSDFirstLayer`; each block adds ``steps[b]`` layers of
    :class:`kcv.layers.MSDDenseLayer` (each growing every scale by
    ``growth_rate * growth_factor[s]`` channels); as the network deepens the
    finest scales are dropped (``prune``) and the channels compressed by
    :class:`kcv.layers.MSDTransition` (×``reduction``); after every block an
    :class:`kcv.layers.MSDClassifier` reads the coarsest scale. Arguments
    left as None take the ``preset``'s value, then the official defaults
    (growth rate 6, factors (1, 2, 4), bottlenecks, ``prune="max"``,
    reduction 0.5, CIFAR stem, 128-channel exits).

    Trainable parameters, as counted with the official code for the same
    arguments: ``cifar_anytime`` 3,067,960; ``cifar_budgeted`` 2,078,924;
    ``imagenet`` 23,958,440 (its 7x7 stem convolution keeps PyTorch's default
    bias, 32 parameters; every other convolution has none).

    Args:
        input_shape: tuple. ``(H, W, 3)`` (or ``(3, H, W)`` in
            ``channels_first``); None takes the preset's. Each side must
            leave the last stride-2 step (in the exits) at least 2 pixels:
            ``H, W >= 2**(n - 1) + 1`` for ``n`` halvings, e.g. 9 for the
            CIFAR stem with 3 scales, 65 for the ImageNet stem with 4.
        classes: int. Logits per exit.
        blocks: int. Number of blocks, hence of exits (``nBlocks``).
        step: int. Layers per block after the first (``step``).
        base: int. Layers of the first block (``base``).
        step_mode: str. ``"even"`` or ``"lin_grow"`` (see :func:`block_steps`).
        channels: int. Channels of the first layer at scale 0 (``nChannels``).
        growth_rate: int. Channels each layer adds at scale 0 (``growthRate``).
        growth_factor: tuple of int. Channel multiplier per scale (``grFactor``).
        bottleneck_factor: tuple of int or None. Bottleneck width factor per
            scale (``bnFactor``); None: ``growth_factor``.
        prune: str. ``"max"`` (the paper's) or ``"min"``.
        reduction: float. Transition compression θ in [0, 1); 0: no transition.
        bottleneck: bool. 1x1 bottlenecks in the dense layers.
        stem: str. ``"cifar"`` (3x3 conv) or ``"imagenet"`` (7x7/2 + pool).
        classifier_filters: int or "input". Channels of the exits'
            convolutions: 128 on CIFAR; "input" keeps the channels of the
            coarsest scale, as on ImageNet.
        preset: str or None. ``"cifar_anytime"``, ``"cifar_budgeted"`` or
            ``"imagenet"`` (:data:`PRESETS`).
        name: str. Model name.

    Returns:
        A ``keras.Model`` whose outputs are the logits of every exit, first
        (cheapest) to last, named ``exit_1`` ... ``exit_<blocks>``.

    Example:

    >>> import kcv
    >>> model = kcv.models.MSDNet(preset="cifar_anytime", classes=10)
    >>> len(model.outputs)
    7

    Reference:
        Huang et al., MSDNet, ICLR 2018, Sec. 4, Appendix A; official
        ``models/msdnet.py`` and README. Differences: "same" padding in the
        stride-2 convolutions and global average pooling in the exits (see
        the layers' docstrings).
    """
    if preset is not None:
        one_of("preset", preset, tuple(PRESETS))
    given = dict(
        input_shape=input_shape,
        classes=classes,
        blocks=blocks,
        step=step,
        base=base,
        step_mode=step_mode,
        channels=channels,
        growth_rate=growth_rate,
        growth_factor=growth_factor,
        bottleneck_factor=bottleneck_factor,
        prune=prune,
        reduction=reduction,
        bottleneck=bottleneck,
        stem=stem,
    )
    settings = {**_DEFAULTS, **(PRESETS[preset] if preset else {})}
    given["classifier_filters"] = classifier_filters
    settings.update({k: v for k, v in given.items() if v is not None})
    for argument in ("classes", "blocks"):
        if settings[argument] is None:
            _validation.fail(argument, "given (or a `preset`)", None)
    positive_int("classes", settings["classes"])
    for argument in ("blocks", "step", "base", "channels", "growth_rate"):
        positive_int(argument, settings[argument])
    one_of("prune", settings["prune"], ("max", "min"))
    reduction = settings["reduction"]
    _validation.number("reduction", reduction, 0, 1, high_open=True)

    factors = tuple(settings["growth_factor"])
    steps = block_steps(
        settings["blocks"], settings["step"], settings["base"], settings["step_mode"]
    )
    plan = _layer_plan(steps, len(factors), settings["prune"], reduction)
    # Every stride-2 step (the ImageNet stem's convolution and pooling, one per
    # coarser scale, two in each exit) halves the side, rounding up; the last
    # must still see at least 2 pixels, or the coarse scales and the exits
    # degenerate into 1x1 maps of 1x1 maps.
    halvings = (2 if settings["stem"] == "imagenet" else 0) + len(factors) - 1 + 2
    inputs, _ = image_input(
        settings["input_shape"], default_size=32, min_size=2 ** (halvings - 1) + 1
    )

    dense = dict(
        growth_factor=factors,
        bottleneck_factor=settings["bottleneck_factor"],
        bottleneck=bool(settings["bottleneck"]),
    )
    width = settings["channels"]
    x = layers.MSDFirstLayer(width, factors, stem=settings["stem"], name="first_layer")(inputs)
    exit_filters = settings["classifier_filters"]
    if exit_filters != "input":
        positive_int("classifier_filters", exit_filters)
    outputs, layer_index = [], 0
    for b, count in enumerate(steps, start=1):
        for _ in range(count):
            layer = plan[layer_index]
            layer_index += 1
            x = layers.MSDDenseLayer(
                settings["growth_rate"],
                out_scales=layer.out_scales if layer.out_scales < len(x) else None,
                name=f"block{b}_layer{layer_index}",
                **dense,
            )(x)
            width += settings["growth_rate"]
            if layer.transition:
                width = math.floor(reduction * width)
                x = layers.MSDTransition(width, factors, name=f"block{b}_transition{layer_index}")(
                    x
                )
        outputs.append(
            layers.MSDClassifier(
                settings["classes"],
                filters=None if exit_filters == "input" else exit_filters,
                name=f"exit_{b}",
            )(x)
        )
    return keras.Model(inputs, outputs, name=name)
