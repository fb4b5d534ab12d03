"""Matplotlib figures the chapters share.

One function per picture a chapter draws: training curves, feature maps,
SENet's excitation statistics, Grad-CAM and CAM heat maps, segmentation
overlays, atrous receptive fields, MSDNet's budget curves, benchmark bar
charts and block diagrams (a block's steps as boxes and arrows). Every
figure function returns its ``matplotlib.figure.Figure`` and never calls
``plt.show()``: a script saves it (``fig.savefig(...)``); a notebook shows
it (end the line with ``;`` so that Jupyter does not show it a second time
as the cell's value). Everything works headless (Agg).

Inputs are numpy arrays (or backend tensors, Keras ``History`` objects, rows
of a CSV file). Image tensors follow ``data_format`` (None reads
``keras.config.image_data_format()``): ``(H, W, C)`` or ``(C, H, W)`` for
one image, with a leading batch axis for several.

The look is shared through :func:`subplots`: panels of one size, a light
grid, the colour-blind-safe Okabe–Ito colours for lines and bars
(:data:`COLORS`) and Paul Tol's colour-blind-safe "muted" scheme for
segmentation classes (:data:`SEGMENTATION_COLORS`).

This module only draws. What a figure shows of a model (a layer's
activations, SENet's mean excitations, Grad-CAM and CAM heat maps) is
computed by :mod:`kcv.interpret`, which returns numpy arrays; MACs and
receptive fields come from :mod:`kcv.analysis`, budget curves from
:mod:`kcv.adaptive`.

References:
    Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, Sec. 7.2.
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017. https://arxiv.org/abs/1610.02391
    Zhou et al., "Learning Deep Features for Discriminative Localization",
    CVPR 2016. https://arxiv.org/abs/1512.04150
    Chen et al., DeepLab v2 (TPAMI 2018) and v3 (2017), atrous convolution.
    Huang et al., "Multi-Scale Dense Networks", ICLR 2018, Fig. 5 and 7.
    Okabe and Ito, "Color Universal Design", 2008; Tol, "Colour Schemes",
    SRON/EPS/TN/09-002, 2021.
"""

import math

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors
from matplotlib import patches
from matplotlib import path as mpath
from matplotlib import ticker

from kcv import _validation
from kcv import interpret
from kcv.adaptive import DynamicResult

# Okabe–Ito, without black: lines, bars, markers.
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
# Paul Tol's "muted" qualitative scheme: one colour per segmentation class.
SEGMENTATION_COLORS = (
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
)
PANEL_SIZE = (4.0, 3.0)
HEAT_MAP = "inferno"


def subplots(nrows=1, ncols=1, ax=None, grid=True, panel_size=PANEL_SIZE):
    """The house style: a figure of ``nrows x ncols`` panels, or the given axes.

    Every panel gets the :data:`COLORS` cycle and, with ``grid``, a light grid.
    The figure uses the constrained layout and is ``panel_size`` per panel.

    Args:
        nrows, ncols: int. Panel grid of a new figure.
        ax: matplotlib Axes or None. Draw there instead of in a new figure.
        grid: bool. Light grid lines (off for images).
        panel_size: ``(width, height)`` in inches of one panel.

    Returns:
        ``(figure, axes)``: the Figure and a flat list of its Axes
        (``[ax]`` when ``ax`` is given).

    Example:

    >>> fig, (left, right) = subplots(1, 2)
    >>> lines = left.plot([0, 1], [1, 0])
    """
    if ax is not None:
        if not isinstance(ax, plt.Axes):
            raise ValueError(
                f"`ax` must be a matplotlib Axes or None, received {type(ax).__name__}."
            )
        fig, axes = ax.figure, [ax]
    else:
        nrows = _validation.positive_int("nrows", nrows)
        ncols = _validation.positive_int("ncols", ncols)
        fig, grid_of_axes = plt.subplots(
            nrows,
            ncols,
            squeeze=False,
            layout="constrained",
            figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        )
        axes = list(grid_of_axes.ravel())
    for panel in axes:
        panel.set_prop_cycle(color=COLORS)
        if grid:
            panel.grid(True, alpha=0.3)
    return fig, axes


# --- Inputs ---------------------------------------------------------------


def _numpy(value):
    """A numpy array from an array-like or a backend tensor."""
    if isinstance(value, np.ndarray):
        return value
    if keras.ops.is_tensor(value):
        return keras.ops.convert_to_numpy(value)
    return np.asarray(value)


def _displayable(argument, image, data_format):
    """One image as ``(H, W)`` (grey) or ``(H, W, 3)`` in [0, 1] for ``imshow``.

    Integer images are read as 0..255; float images already in [0, 1] are
    kept; any other range is stretched to [0, 1] (normalised network inputs).
    Images with neither 1 nor 3 channels are shown as their channel mean.
    """
    array = _numpy(image)
    if array.ndim == 2:
        array = array[..., None] if data_format == "channels_last" else array[None]
    if array.ndim != 3:
        raise ValueError(
            f"`{argument}` must be one image (H, W), or 3D ({data_format}), received shape "
            f"{array.shape}."
        )
    if data_format == "channels_first":
        array = np.moveaxis(array, 0, -1)
    if np.issubdtype(array.dtype, np.integer):
        array = array / 255.0
    array = array.astype("float64")
    low, high = array.min(), array.max()
    if low < 0 or high > 1:
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array if array.shape[-1] == 3 else array.mean(axis=-1)


def _show_image(ax, picture):
    """Draws what :func:`_displayable` returns, grey images on a fixed [0, 1] scale."""
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0.0, vmax=1.0)


# --- Training curves --------------------------------------------------------


def _history_dict(argument, history):
    record = getattr(history, "history", history)
    if (
        not isinstance(record, dict)
        or not record
        or not all(np.ndim(values) == 1 for values in record.values())
    ):
        raise ValueError(
            f"`{argument}` must be a keras History or its `.history` dict "
            "(metric name -> values per epoch), or a dict of them by label; "
            f"received {type(history).__name__}."
        )
    return record


def training_curves(history, metrics=None):
    """Loss and metrics per epoch, training (solid) against validation (dashed).

    One panel per metric. Several runs (e.g. a ResNet with and without SE)
    share the panels, one colour per run.

    Args:
        history: a Keras ``History`` (what ``model.fit`` returns), its
            ``.history`` dict, or a dict ``{label: history}`` of several runs.
        metrics: list of metric names, or None for every training metric
            recorded (names without the ``val_`` prefix), loss first.

    Returns:
        The Figure, one Axes per metric.

    Example:

    >>> fig = training_curves({"loss": [1.0, 0.6], "val_loss": [1.1, 0.8],
    ...                        "accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6]})
    >>> len(fig.axes)
    2

    Reference:
        Keras ``Model.fit`` history: metric names, ``val_`` for validation.
    """
    several = (
        isinstance(history, dict)
        and bool(history)
        and all(isinstance(getattr(value, "history", value), dict) for value in history.values())
    )
    runs = (
        {label: _history_dict(f"history[{label!r}]", h) for label, h in history.items()}
        if several
        else {None: _history_dict("history", history)}
    )
    recorded = [m for record in runs.values() for m in record if not m.startswith("val_")]
    if metrics is None:
        metrics = sorted(dict.fromkeys(recorded), key=lambda m: m != "loss")
    metrics = list(metrics)
    missing = [m for m in metrics if m not in recorded]
    if not metrics or missing:
        raise ValueError(
            f"`metrics` must name recorded metrics {sorted(set(recorded))}, received {metrics}."
        )
    fig, axes = subplots(1, len(metrics))
    for ax, metric in zip(axes, metrics):
        for i, (label, record) in enumerate(runs.items()):
            color = COLORS[i % len(COLORS)]
            prefix = "" if label is None else f"{label}, "
            for key, style, split in (
                (metric, "-", "train"),
                (f"val_{metric}", "--", "validation"),
            ):
                if key in record:
                    epochs = np.arange(1, len(record[key]) + 1)
                    ax.plot(epochs, record[key], style, color=color, label=f"{prefix}{split}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axes[0].legend(fontsize="small")
    return fig


# --- Feature maps -----------------------------------------------------------


def feature_maps(source, image=None, layer_name=None, max_maps=16, data_format=None):
    """A grid of the channels of one feature map, each on its own colour scale.

    Args:
        source: a ``keras.Model`` (then ``image`` is its input and
            ``layer_name`` picks the layer), or activations of one image:
            ``(H, W, C)`` / ``(C, H, W)``, or with a batch axis of 1.
        image: one model input (without batch axis) when ``source`` is a model.
        layer_name: str or None. Layer to show; None for the model's output.
        max_maps: int. Show the first ``max_maps`` channels.
        data_format: str or None. Layout of the activations.

    Returns:
        The Figure, one Axes per channel shown.

    Example:

    >>> import numpy as np
    >>> fig = feature_maps(np.random.rand(8, 8, 32), max_maps=9)
    >>> len(fig.axes)
    9

    Reference:
        Zeiler and Fergus, "Visualizing and Understanding Convolutional
        Networks", ECCV 2014.
    """
    data_format = _validation.data_format(data_format)
    max_maps = _validation.positive_int("max_maps", max_maps)
    if isinstance(source, keras.Model):
        if image is None:
            raise ValueError("`image` is required when `source` is a model.")
        maps = interpret.activations(source, _numpy(image)[None], layer_name)
        title = layer_name or source.name
    else:
        maps, title = _numpy(source), "activations"
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(
            f"`source` must give the activations of one image, 3D ({data_format}), "
            f"received shape {maps.shape}."
        )
    if data_format == "channels_first":
        maps = np.moveaxis(maps, 0, -1)
    shown = min(max_maps, maps.shape[-1])
    ncols = math.ceil(math.sqrt(shown))
    nrows = math.ceil(shown / ncols)
    fig, axes = subplots(nrows, ncols, grid=False, panel_size=(1.6, 1.6))
    for channel, ax in enumerate(axes):
        if channel >= shown:
            ax.remove()
            continue
        ax.imshow(maps[..., channel], cmap="viridis")
        ax.set_title(f"channel {channel}", fontsize="small")
        ax.set_axis_off()
    fig.suptitle(f"{title}: {shown} of {maps.shape[-1]} channels")
    return fig


# --- SENet excitations ------------------------------------------------------


def se_excitations(model, images, labels, layer_names=None, class_names=None, batch_size=32):
    """SENet's Fig. 6: mean excitation per channel, one line per class, per SE layer.

    Early SE layers excite channels alike whatever the class; deep ones
    become class-specific, and the last ones saturate (most gates near 1).

    Args:
        model, images, labels, layer_names, batch_size: as for
            :func:`kcv.interpret.mean_excitations`, which computes the
            means drawn here.
        class_names: list of str indexed by class id, or None for the ids.

    Every class keeps one colour in all panels, from matplotlib's "tab10"
    (up to 10 classes) or "tab20" (up to 20; evenly spaced hues beyond), so
    that no two classes share one; the legend sits outside the panels, to
    the right, where it hides no line.

    Returns:
        The Figure, one Axes per SE layer, and one figure legend with an
        entry per class present and one for all images.

    Example:

    >>> import numpy as np, keras, kcv
    >>> inputs = keras.Input((4, 4, 8))
    >>> x = kcv.layers.SqueezeExcite(reduction=2, name="se")(inputs)
    >>> fig = se_excitations(keras.Model(inputs, x), np.ones((2, 4, 4, 8)), [0, 1])
    >>> len(fig.axes)
    1

    Reference:
        Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, Sec. 7.2
        and Fig. 6.
    """
    means = interpret.mean_excitations(model, images, labels, layer_names, batch_size)
    ncols = min(3, len(means))
    fig, axes = subplots(math.ceil(len(means) / ncols), ncols)
    for ax in axes[len(means) :]:
        ax.remove()
    classes = [key for key in next(iter(means.values())) if key != "all"]
    if len(classes) <= 10:
        palette = plt.get_cmap("tab10").colors
    elif len(classes) <= 20:
        palette = plt.get_cmap("tab20").colors
    else:
        palette = [plt.get_cmap("hsv")(i / len(classes)) for i in range(len(classes))]
    colors = dict(zip(classes, palette))
    for ax, (name, per_class) in zip(axes, means.items()):
        for key, mean in per_class.items():
            if key == "all":
                ax.plot(mean, color="black", linestyle="--", linewidth=1, label="all")
            else:
                label = class_names[key] if class_names else f"class {key}"
                ax.plot(mean, color=colors[key], linewidth=1, label=label)
        ax.set_title(name)
        ax.set_xlabel("channel index")
        ax.set_ylabel("mean excitation")
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="x-small")
    return fig


# --- Grad-CAM and CAM -------------------------------------------------------


def grad_cam_figure(
    model,
    image,
    class_index=None,
    layer_name=None,
    method="grad_cam",
    class_names=None,
    alpha=0.6,
    data_format=None,
    ax=None,
):
    """One image with its Grad-CAM (or CAM) heat map laid over it.

    The heat map is drawn with the ``inferno`` colour map and an opacity of
    ``alpha`` times the heat, so that cold regions keep the image visible.

    Args:
        model, image, class_index, layer_name, data_format: as for
            :func:`kcv.interpret.grad_cam` (``image``: one image, no batch
            axis), which computes the map drawn here
            (:func:`kcv.interpret.heat_map`).
        method: str. ``"grad_cam"`` or ``"cam"``
            (:func:`kcv.interpret.class_activation_map`).
        class_names: list of str indexed by class id, for the title.
        alpha: float in [0, 1]. Opacity of the hottest pixels.
        ax: matplotlib Axes or None.

    Returns:
        The Figure: the overlay's Axes and a colour bar.

    Example:

    >>> import numpy as np, keras
    >>> inputs = keras.Input((16, 16, 3))
    >>> x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    >>> x = keras.layers.GlobalAveragePooling2D()(x)
    >>> model = keras.Model(inputs, keras.layers.Dense(5)(x))
    >>> fig = grad_cam_figure(model, np.random.rand(16, 16, 3))

    Reference:
        Selvaraju et al., Grad-CAM, ICCV 2017, Fig. 1; Zhou et al., CAM,
        CVPR 2016, Fig. 3.
    """
    method = _validation.one_of("method", method, interpret.HEAT_MAP_METHODS)
    data_format = _validation.data_format(data_format)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must be in [0, 1], received {alpha!r}.")
    picture = _displayable("image", image, data_format)
    heat, chosen = interpret.heat_map(model, image, method, class_index, layer_name, data_format)
    fig, (ax,) = subplots(ax=ax, grid=False)
    _show_image(ax, picture)
    overlay = matplotlib.colormaps[HEAT_MAP](heat)
    overlay[..., 3] = alpha * heat
    ax.imshow(overlay)
    scale = matplotlib.cm.ScalarMappable(mcolors.Normalize(0.0, 1.0), HEAT_MAP)
    fig.colorbar(scale, ax=ax, label="relevance (max = 1)")
    name = class_names[chosen] if class_names else f"class {chosen}"
    ax.set_title(f"{'Grad-CAM' if method == 'grad_cam' else 'CAM'}: {name}")
    ax.set_axis_off()
    return fig


# --- Segmentation -----------------------------------------------------------


def _label_map(argument, labels, shape, classes, ignore_index):
    array = _numpy(labels)
    if array.shape != shape or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"`{argument}` must be an integer label map of the image's size {shape}, received "
            f"shape {array.shape} and dtype {array.dtype}."
        )
    wrong = np.setdiff1d(array, [*range(classes), ignore_index])
    if wrong.size:
        raise ValueError(
            f"`{argument}` holds labels {wrong.tolist()[:10]} outside 0..{classes - 1} "
            f"(and ignore_index={ignore_index})."
        )
    return array


def _class_colors(colors, class_names, present):
    """Colour per class present: fixed per class id where the palette suffices."""
    if colors is not None:
        if len(colors) < len(class_names):
            raise ValueError(
                f"`colors` must give one colour per class ({len(class_names)}), "
                f"received {len(colors)}."
            )
        return {k: colors[k] for k in present}
    if len(class_names) <= len(SEGMENTATION_COLORS):
        return {k: SEGMENTATION_COLORS[k] for k in present}
    # More classes than colours: those in this figure get distinct colours first.
    return {k: SEGMENTATION_COLORS[i % len(SEGMENTATION_COLORS)] for i, k in enumerate(present)}


def segmentation_overlay(
    image,
    mask,
    class_names,
    ignore_index=255,
    alpha=0.5,
    pred=None,
    colors=None,
    data_format=None,
    ax=None,
):
    """Label map(s) coloured over the image, with a legend of the classes present.

    Pixels labelled ``ignore_index`` (object boundaries in Pascal VOC) stay
    uncoloured. With ``pred`` the ground truth and the prediction are shown
    side by side, the prediction titled with its pixel accuracy. Class ``k``
    has colour ``SEGMENTATION_COLORS[k]`` when the data set has at most nine
    classes; with more, the classes in the figure get distinct colours in
    order of their ids (or pass ``colors``).

    Args:
        image: one grey or RGB image ``(H, W[, C])`` / ``(C, H, W)``.
        mask: int array ``(H, W)``, the ground truth labels.
        class_names: list of str, indexed by class id.
        ignore_index: int. Label of pixels to leave uncoloured.
        alpha: float in [0, 1]. Opacity of the class colours.
        pred: int array ``(H, W)`` or None. A predicted label map.
        colors: list of matplotlib colours indexed by class id, or None.
        data_format: str or None. Layout of ``image``.
        ax: matplotlib Axes or None (only without ``pred``).

    Returns:
        The Figure: one Axes, or two with ``pred``; the legend (on the last
        Axes) lists each class present in ``mask`` or ``pred`` once.

    Example:

    >>> import numpy as np
    >>> mask = np.zeros((8, 8), "int64"); mask[2:5, 2:5] = 1
    >>> fig = segmentation_overlay(np.random.rand(8, 8, 3), mask, ["background", "cat"])
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['background', 'cat']

    Reference:
        Chen et al., DeepLab (v2), TPAMI 2018, Fig. 1 and 11 (the
        qualitative results); Everingham et al., Pascal VOC, IJCV 2010
        (label 255 for boundaries).
    """
    data_format = _validation.data_format(data_format)
    class_names = list(class_names)
    if not class_names:
        raise ValueError("`class_names` must name at least one class.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must be in [0, 1], received {alpha!r}.")
    if ax is not None and pred is not None:
        raise ValueError("`ax` must be None with `pred`: the figure has two panels.")
    picture = _displayable("image", image, data_format)
    maps = {
        "ground truth": _label_map("mask", mask, picture.shape[:2], len(class_names), ignore_index)
    }
    if pred is not None:
        truth = maps["ground truth"]
        predicted = _label_map("pred", pred, picture.shape[:2], len(class_names), ignore_index)
        valid = truth != ignore_index
        accuracy = np.mean(predicted[valid] == truth[valid]) if valid.any() else float("nan")
        maps[f"prediction (pixel accuracy {accuracy:.1%})"] = predicted
    labels = np.concatenate([m.ravel() for m in maps.values()])
    present = [int(k) for k in np.unique(labels) if k != ignore_index]
    palette = _class_colors(colors, class_names, present)
    fig, axes = subplots(1, len(maps), ax=ax, grid=False)
    for panel, (title, label_map) in zip(axes, maps.items()):
        _show_image(panel, picture)
        overlay = np.zeros(label_map.shape + (4,))
        for k in present:
            overlay[label_map == k] = (*mcolors.to_rgb(palette[k]), alpha)
        panel.imshow(overlay)
        panel.set_title(title, fontsize="small")
        panel.set_axis_off()
    handles = [patches.Patch(color=palette[k], label=class_names[k]) for k in present]
    axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    return fig


# --- DeepLab: atrous receptive fields ---------------------------------------


def receptive_field_figure(kernel_size=3, rates=(1, 6, 12, 18), feature_size=None, position=None):
    """The input pixels one output pixel of an atrous convolution reads, per rate.

    An atrous ``k x k`` convolution at rate ``r`` reads the pixels at
    offsets ``r·{-(k-1)/2, ..., (k-1)/2}`` in each direction: ``k²`` taps
    spread over a field of view of ``(k - 1)·r + 1`` pixels (dashed square),
    for the cost of a plain ``k x k`` convolution. ASPP runs such
    convolutions at several rates in parallel.

    With ``feature_size`` the grid is a feature map of that size and taps
    that fall outside it (into the zero padding) are not drawn: at large
    rates only the centre tap still reads the image, DeepLabv3's argument
    for adding image-level pooling to ASPP.

    Args:
        kernel_size: odd int. Kernel size ``k``.
        rates: tuple of ints >= 1. Atrous rates, one panel each.
        feature_size: int or None. Side of the feature map; None for a grid
            just large enough for the largest field of view.
        position: ``(row, col)`` of the output pixel, or None for the centre.
            Only with ``feature_size``.

    Returns:
        The Figure, one Axes per rate.

    Example:

    >>> fig = receptive_field_figure(3, rates=(1, 6, 12, 18))
    >>> len(fig.axes)
    4

    Reference:
        Chen et al., DeepLab (v2), TPAMI 2018, Sec. 3.1 and Fig. 2-4;
        Chen et al., Rethinking Atrous Convolution (v3), 2017, Sec. 3.3 and
        Fig. 4 (valid weights against the rate on a 65x65 feature map).
    """
    kernel_size = _validation.positive_int("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(f"`kernel_size` must be odd (a centred kernel), received {kernel_size}.")
    if not isinstance(rates, (tuple, list)) or not rates:
        raise ValueError(f"`rates` must be a non-empty tuple of integers >= 1, received {rates!r}.")
    rates = [_validation.positive_int("rates", rate) for rate in rates]
    half = kernel_size // 2
    fields = [(kernel_size - 1) * rate + 1 for rate in rates]
    if feature_size is None:
        if position is not None:
            raise ValueError("`position` needs `feature_size` (the grid it lies on).")
        size = max(fields) + 2
    else:
        size = _validation.positive_int("feature_size", feature_size)
    row, col = (
        (size // 2, size // 2)
        if position is None
        else _validation.int_pair("position", position, 0)
    )
    if not (row < size and col < size):
        raise ValueError(
            f"`position` must lie on the {size}x{size} feature map, received {position!r}."
        )
    offsets = np.arange(-half, half + 1)
    fig, axes = subplots(1, len(rates), grid=False, panel_size=(3.2, 3.4))
    for ax, rate, field in zip(axes, rates, fields):
        rows, cols = np.meshgrid(row + rate * offsets, col + rate * offsets, indexing="ij")
        inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
        canvas = np.zeros((size, size))
        canvas[rows[inside], cols[inside]] = 1.0
        ax.imshow(canvas, cmap=mcolors.ListedColormap(["white", COLORS[0]]), vmin=0, vmax=1)
        corner = (col - half * rate - 0.5, row - half * rate - 0.5)
        ax.add_patch(
            patches.Rectangle(corner, field, field, fill=False, linestyle="--", edgecolor=COLORS[1])
        )
        ax.plot(col, row, marker="x", color="black", markersize=5)
        title = f"rate {rate}: field of view {field}x{field}"
        if feature_size is not None:
            title += f"\n{inside.sum()} of {kernel_size**2} taps on the map"
        ax.set_title(title, fontsize="small")
        ax.set_xlim(-0.5, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5)
        ax.set_xticks(np.arange(-0.5, size, 1.0), minor=True)
        ax.set_yticks(np.arange(-0.5, size, 1.0), minor=True)
        ax.grid(True, which="minor", color="0.85", linewidth=0.3)
        ax.tick_params(which="minor", length=0)
        ax.set_xlabel("column (pixels)")
    axes[0].set_ylabel("row (pixels)")
    fig.suptitle(
        f"Input pixels one output pixel reads: {kernel_size}x{kernel_size} atrous convolution"
    )
    return fig


# --- MSDNet: accuracy against cost -------------------------------------------


def _cost_accuracy(argument, curve):
    """``(costs, accuracies)`` from a budgeted-batch curve or (cost, accuracy) pairs."""
    items = list(curve)
    if items and all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], DynamicResult)
        for item in items
    ):
        pairs = np.array([(result.mean_cost, result.accuracy) for _, result in items])
    else:
        try:
            pairs = np.asarray(items, dtype="float64")
        except (TypeError, ValueError):
            pairs = np.zeros((0,))
    if (
        pairs.ndim != 2
        or pairs.shape[1] != 2
        or not len(pairs)
        or np.any((pairs[:, 1] < 0) | (pairs[:, 1] > 1))
    ):
        raise ValueError(
            f"`{argument}` must be what kcv.adaptive.budgeted_batch_curve returns or a list of "
            "(cost, accuracy) pairs with accuracy in [0, 1]."
        )
    return pairs[:, 0], pairs[:, 1]


def _exit_points(argument, entry):
    """``(exit_costs, accuracies)`` of one model's anytime curve, checked."""
    try:
        costs, accuracies = (np.asarray(part, dtype="float64") for part in entry)
    except (TypeError, ValueError):
        costs = accuracies = np.zeros((0, 0))
    if (
        costs.ndim != 1
        or costs.shape != accuracies.shape
        or np.any((accuracies < 0) | (accuracies > 1))
    ):
        raise ValueError(
            f"`{argument}` must be (exit_costs, accuracies): two sequences of one length, "
            "accuracies in [0, 1]."
        )
    return costs, accuracies


def _cost_axes(ax, xlabel, title):
    ax.xaxis.set_major_formatter(ticker.EngFormatter())
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(title)


def budget_curves(curves, labels, anytime=None, cost_label="MACs", ax=None):
    """MSDNet's accuracy-against-cost plots, several models on the same axes.

    The first panel is budgeted batch classification (Fig. 7): accuracy
    against the average cost per image, one curve per model as the budget
    varies; a network with one exit is a single point (a star). With
    ``anytime``, a second panel is anytime prediction (Fig. 5): the
    accuracy of each exit against the cost of evaluating up to that exit.

    Args:
        curves: list, one per model, of what
            :func:`kcv.adaptive.budgeted_batch_curve` returns, or of
            ``(cost, accuracy)`` pairs (accuracy in [0, 1]).
        labels: list of str, one per model.
        anytime: None, or a list (one entry per model, None to skip one) of
            ``(exit_costs, accuracies)``, e.g. cumulative MACs per exit and
            :func:`kcv.adaptive.anytime_accuracy`.
        cost_label: str. The cost unit (e.g. ``"MACs"``, ``"FLOPs"``).
        ax: matplotlib Axes or None (only without ``anytime``).

    Returns:
        The Figure: one Axes, two with ``anytime``.

    Example:

    >>> fig = budget_curves([[(1e6, 0.6), (2e6, 0.7)], [(3e6, 0.72)]],
    ...                     ["MSDNet", "ResNet"], anytime=[([1e6, 2e6], [0.55, 0.7]), None])
    >>> len(fig.axes)
    2

    Reference:
        Huang et al., "Multi-Scale Dense Networks for Resource Efficient
        Image Classification", ICLR 2018, Sec. 5, Fig. 5 (anytime) and
        Fig. 7 (budgeted batch).
    """
    curves, labels = list(curves), list(labels)
    if not curves or len(labels) != len(curves):
        raise ValueError(
            f"`labels` must give one label per curve ({len(curves)}), received {len(labels)}."
        )
    points = [_cost_accuracy(f"curves[{i}]", curve) for i, curve in enumerate(curves)]
    if anytime is not None:
        anytime = list(anytime)
        if len(anytime) != len(curves):
            raise ValueError(
                f"`anytime` must have one entry per curve ({len(curves)}), received {len(anytime)}."
            )
        if ax is not None:
            raise ValueError("`ax` must be None with `anytime`: the figure has two panels.")
    fig, axes = subplots(1, 1 if anytime is None else 2, ax=ax)
    palette = [COLORS[i % len(COLORS)] for i in range(len(curves))]
    for color, label, (costs, accuracies) in zip(palette, labels, points):
        order = np.argsort(costs)
        single = len(costs) == 1
        axes[0].plot(
            costs[order],
            accuracies[order],
            marker="*" if single else "o",
            markersize=10 if single else 3,
            color=color,
            label=label,
        )
    _cost_axes(axes[0], f"average {cost_label} per image", "Budgeted batch classification")
    axes[0].legend(fontsize="small")
    if anytime is not None:
        for i, (color, label, entry) in enumerate(zip(palette, labels, anytime)):
            if entry is None:
                continue
            costs, accuracies = _exit_points(f"anytime[{i}]", entry)
            axes[1].plot(costs, accuracies, marker="o", markersize=3, color=color, label=label)
        _cost_axes(axes[1], f"{cost_label} per image up to the exit", "Anytime prediction")
    return fig


# --- Benchmarks -------------------------------------------------------------


def _column_label(column):
    """``"median_ms"`` -> ``"median (ms)"``."""
    for suffix in ("ms", "s"):
        if column.endswith(f"_{suffix}"):
            return f"{column[: -len(suffix) - 1].replace('_', ' ')} ({suffix})"
    return column.replace("_", " ")


def _number(row, column, argument):
    try:
        return float(row[column])
    except (TypeError, ValueError):
        raise ValueError(
            f"`{argument}`: column {column!r} must hold numbers, received {row[column]!r}."
        ) from None


def timing_bars(
    table, value="median_ms", group="name", series="backend", error=None, reference=None, ax=None
):
    """Grouped bar chart of timings, each bar labelled with its ratio to a reference.

    One group of bars per value of the ``group`` column (e.g. a model), one
    bar per value of the ``series`` column (e.g. a backend) in the order
    first met; each bar is labelled ``value / value of the reference
    series`` in its group (e.g. ``1.43×`` native PyTorch; lower is faster).

    Args:
        table: list of dicts, e.g. the rows of a benchmark CSV
            (``csv.DictReader``); numbers may be strings.
        value: str. Column of the bar heights.
        group: str. Column naming the groups on the x axis.
        series: str. Column naming the bars within a group.
        error: None, a column of symmetric errors (``±``), or a pair of
            columns ``(low, high)`` drawn as an interval (e.g.
            ``("p25_ms", "p75_ms")``: the interquartile range).
        reference: the ``series`` value ratios are taken against; None for
            the first series met.
        ax: matplotlib Axes or None.

    Returns:
        The Figure, one Axes with one bar per row.

    Example:

    >>> rows = [{"name": "SE", "backend": "jax", "median_ms": 2.0},
    ...         {"name": "SE", "backend": "torch", "median_ms": 3.0}]
    >>> len(timing_bars(rows).axes[0].patches)
    2

    Reference:
        ``benchmarks/`` (median and interquartile range of timed steps).
    """
    try:
        rows = [dict(row) for row in table]
    except (TypeError, ValueError):
        raise ValueError("`table` must be a list of dicts (rows).") from None
    if not rows:
        raise ValueError("`table` must hold at least one row.")
    if error is None or isinstance(error, str):
        error_columns = [] if error is None else [error]
    elif isinstance(error, (tuple, list)) and len(error) == 2:
        error_columns = list(error)
    else:
        raise ValueError(
            f"`error` must be None, a column or a pair of columns, received {error!r}."
        )
    for argument, column in [("value", value), ("group", group), ("series", series)] + [
        ("error", column) for column in error_columns
    ]:
        if any(column not in row for row in rows):
            raise ValueError(
                f"`{argument}`: column {column!r} is missing from rows of `table` ({list(rows[0])})."
            )
    cells = {}
    for row in rows:
        key = (str(row[group]), str(row[series]))
        if key in cells:
            raise ValueError(f"`table` has two rows for {group}={key[0]!r}, {series}={key[1]!r}.")
        cells[key] = row
    groups = list(dict.fromkeys(g for g, _ in cells))
    names = list(dict.fromkeys(s for _, s in cells))
    reference = names[0] if reference is None else str(reference)
    if reference not in names:
        raise ValueError(f"`reference` must be one of {names}, received {reference!r}.")
    width = 0.8 / len(names)
    fig, (ax,) = subplots(ax=ax, panel_size=(max(4.0, 1.0 + 0.5 * len(rows)), 3.0))
    for j, name in enumerate(names):
        placed = [(i, cells[(g, name)]) for i, g in enumerate(groups) if (g, name) in cells]
        xs = [i + (j - (len(names) - 1) / 2) * width for i, _ in placed]
        heights = np.array([_number(row, value, "value") for _, row in placed])
        spread = [np.array([_number(row, c, "error") for _, row in placed]) for c in error_columns]
        yerr = None
        if len(spread) == 1:
            yerr = spread[0]
        elif spread:
            yerr = [heights - spread[0], spread[1] - heights]
        color = COLORS[j % len(COLORS)]
        bars = ax.bar(xs, heights, width, yerr=yerr, capsize=2, label=name, color=color)
        ratios = []
        for (i, _), height in zip(placed, heights):
            base = cells.get((groups[i], reference))
            base = None if base is None else _number(base, value, "value")
            ratios.append(f"{height / base:.2f}×" if base else "")
        ax.bar_label(bars, labels=ratios, fontsize="x-small", padding=2)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_xlabel(group)
    ax.set_ylabel(_column_label(value))
    ax.set_title(f"{_column_label(value)}; labels: ratio to {reference}", fontsize="small")
    ax.margins(y=0.15)
    ax.legend(title=series, fontsize="small")
    return fig


# --- Block diagrams -----------------------------------------------------------

# Box colours by kind of step (Okabe–Ito hues, lightened so black text stays legible).
BLOCK_KINDS = {
    "tensor": ("#EEEEEE", "feature map"),
    "conv": ("#56B4E9", "convolution"),
    "norm": ("#CC79A7", "normalization"),
    "act": ("#F0E442", "activation"),
    "pool": ("#009E73", "pooling"),
    "dense": ("#E69F00", "fully connected"),
    "resize": ("#D55E00", "resize / expand"),
    "op": ("#BBBBBB", "other operation"),
}
# Merge nodes: drawn as circles around their symbol.
MERGE_KINDS = {"concat": "C", "sum": "+", "multiply": "×"}

_MERGE_RADIUS = 0.2
_COLUMN_GAP = 0.42
_LINE_HEIGHT = 0.15
_ROW_GAP = 0.26
_SKIP_RISE = 0.3


class _Box:
    """One node of a block diagram, and where it ends up."""

    def __init__(self, label, kind, shape):
        self.label, self.kind, self.shape = label, kind, shape
        self.column = self.x = self.y = self.width = None

    @property
    def merge(self):
        return self.kind in MERGE_KINDS

    @property
    def height(self):
        if self.merge:
            return 2 * _MERGE_RADIUS
        lines = self.label.count("\n") + 1 + (self.shape is not None)
        return max(0.55, _LINE_HEIGHT * lines + 0.22)


def _parse_box(argument, item):
    entry = (item,) if isinstance(item, str) else item
    kinds = [*BLOCK_KINDS, *MERGE_KINDS]
    if (
        not isinstance(entry, tuple)
        or not 1 <= len(entry) <= 3
        or not isinstance(entry[0], str)
        or (len(entry) == 3 and entry[2] is not None and not isinstance(entry[2], str))
    ):
        _validation.fail(
            argument,
            "a box (a label, or a tuple (label, kind) or (label, kind, shape) of strings) "
            "or a list of parallel branches",
            item,
        )
    kind = entry[1] if len(entry) > 1 else "op"
    _validation.one_of(f"{argument} kind", kind, kinds)
    return _Box(entry[0], kind, entry[2] if len(entry) == 3 else None)


def _parse_sequence(argument, stages):
    """A list of stages: each a ``_Box`` or a list of branches (each a list of stages)."""
    if not isinstance(stages, list) or not stages:
        _validation.fail(argument, "a non-empty list of stages", stages)
    parsed = []
    for i, stage in enumerate(stages):
        where = f"{argument}[{i}]"
        if isinstance(stage, list):
            if len(stage) < 2:
                _validation.fail(where, "a list of at least two parallel branches", stage)
            if i + 1 == len(stages) or isinstance(stages[i + 1], list):
                _validation.fail(
                    where,
                    "followed by a box that its branches merge into (e.g. a 'concat', 'sum' "
                    "or 'multiply' node)",
                    stage,
                    received="a list of branches with no box after it",
                )
            parsed.append(
                [
                    _parse_sequence(
                        f"{where}[{j}]", branch if isinstance(branch, list) else [branch]
                    )
                    for j, branch in enumerate(stage)
                ]
            )
        else:
            parsed.append(_parse_box(where, stage))
    return parsed


def _extent(stage):
    """``(columns, rows)`` a stage occupies."""
    if isinstance(stage, _Box):
        return 1, 1
    columns = max(sum(_extent(s)[0] for s in branch) for branch in stage)
    return columns, sum(_branch_rows(branch) for branch in stage)


def _branch_rows(sequence):
    return max(_extent(stage)[1] for stage in sequence)


def _place(sequence, column, top, rows, boxes, edges):
    """Gives every box of ``sequence`` its column and row; returns the entry boxes."""
    entries, previous = None, None
    for stage in sequence:
        if isinstance(stage, _Box):
            stage.column, stage.y = column, top + rows / 2
            boxes.append(stage)
            heads = tails = [stage]
        else:
            heads, tails = [], []
            band = top + (rows - _extent(stage)[1]) / 2
            for branch in stage:
                branch_rows = _branch_rows(branch)
                heads += _place(branch, column, band, branch_rows, boxes, edges)
                tails.append(branch[-1])  # a box: a list of branches is always followed by one
                band += branch_rows
        if previous is not None:
            edges += [(tail, head) for tail in previous for head in heads]
        entries = heads if entries is None else entries
        previous = tails
        column += _extent(stage)[0]
    return entries


def _arrow(ax, points):
    path = mpath.Path(points, [mpath.Path.MOVETO] + [mpath.Path.LINETO] * (len(points) - 1))
    ax.add_patch(
        patches.FancyArrowPatch(
            path=path, arrowstyle="-|>", mutation_scale=9, color="black", linewidth=0.9
        )
    )


def block_diagram(stages, skips=(), title=None, legend=True, box_width=1.3, ax=None):
    """A block of a network drawn as boxes and arrows, left to right.

    ``stages`` lists the steps from input to output. A step is a box, or a
    list of parallel *branches* that all start from the box before the list
    and all end in the box after it (the merge: a ``"concat"``, ``"sum"`` or
    ``"multiply"`` node, drawn as a circle with C, + or ×). A branch is a
    box or a list of steps, and may hold parallel branches itself. Boxes are
    coloured by their kind (:data:`BLOCK_KINDS`); a box may carry the shape
    of the tensor it produces, printed under its label. ``skips`` adds
    arrows that run above the diagram from one top-level box to a later
    one: the input carried to a gate's multiplication or a residual sum.

    Args:
        stages: list. Each item a box or a list of parallel branches. A box
            is a label (kind ``"op"``) or a tuple ``(label, kind)`` or
            ``(label, kind, shape)`` of strings (``shape`` may be None);
            kinds are the keys of :data:`BLOCK_KINDS` and ``"concat"``,
            ``"sum"``, ``"multiply"``. Labels may hold ``\\n`` and matplotlib
            mathtext (``"$\\mathbf{U}$"``).
        skips: sequence of ``(i, j)`` or ``(i, j, label)``: an arrow from
            ``stages[i]`` to ``stages[j]``, both boxes, ``i < j``.
        title: str or None.
        legend: bool. A legend of the box kinds drawn, under the diagram.
        box_width: float > 0. Width of a box in inches (the drawing is laid
            out at one data unit per inch); narrower boxes fit long blocks
            on a page.
        ax: matplotlib Axes or None. Without one, the figure is sized so
            that one data unit is one inch.

    Returns:
        The Figure, with one Axes (axis off) holding one patch per box
        (``FancyBboxPatch``, or ``Circle`` for merges) and one
        ``FancyArrowPatch`` per arrow.

    Example:

    >>> fig = block_diagram(
    ...     [("x", "tensor", "H×W×C"),
    ...      [("1×1 conv", "conv"), [("3×3 conv", "conv"), ("ReLU", "act")]],
    ...      ("concat", "concat"),
    ...      ("1×1 conv", "conv", "H×W×C"),
    ...      ("sum", "sum")],
    ...     skips=[(0, 4, "identity")])
    >>> from matplotlib import patches
    >>> sum(isinstance(p, patches.FancyArrowPatch) for p in fig.axes[0].patches)
    8

    Reference:
        The figures of the blocks' papers: Hu et al., SENet, CVPR 2018,
        Fig. 1; Chen et al., DeepLab v3, 2017, Fig. 5; Hou et al., Strip
        Pooling, CVPR 2020, Fig. 2 and 3.
    """
    sequence = _parse_sequence("stages", stages)
    box_width = _validation.number("box_width", box_width, low=0, low_open=True)
    skips = list(skips)
    for skip in skips:
        if (
            not isinstance(skip, (tuple, list))
            or len(skip) not in (2, 3)
            or not all(
                isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in skip[:2]
            )
            or not 0 <= skip[0] < skip[1] < len(sequence)
            or not all(isinstance(sequence[i], _Box) for i in skip[:2])
        ):
            _validation.fail(
                "skips",
                f"pairs (i, j) or triples (i, j, label) of indices 0 <= i < j < {len(sequence)} "
                "of boxes in `stages`",
                skip,
            )
    boxes, edges = [], []
    rows = _branch_rows(sequence)
    _place(sequence, 0, 0, rows, boxes, edges)
    for box in boxes:
        box.width = 2 * _MERGE_RADIUS if box.merge else box_width
    # Columns as wide as their widest box; rows as tall as the tallest box, counted downwards.
    columns = max(box.column for box in boxes) + 1
    widths = [max((b.width for b in boxes if b.column == c), default=0.0) for c in range(columns)]
    lefts = np.concatenate([[0.0], np.cumsum(np.add(widths, _COLUMN_GAP))])
    pitch = max(box.height for box in boxes) + _ROW_GAP
    for box in boxes:
        box.x = lefts[box.column] + widths[box.column] / 2
        box.y = -box.y * pitch
    top, bottom = -_ROW_GAP / 2, -rows * pitch + _ROW_GAP / 2
    sky = top + _SKIP_RISE * len(skips) + (0.15 if any(len(s) == 3 for s in skips) else 0.0)
    xlim = (-0.15, lefts[-1] - _COLUMN_GAP + 0.15)
    ylim = (bottom - 0.2, sky + 0.1)
    size = (
        xlim[1] - xlim[0],
        ylim[1] - ylim[0] + (0.3 if title is not None else 0.0) + (0.3 if legend else 0.0),
    )
    fig, (ax,) = subplots(ax=ax, grid=False, panel_size=size)
    used = []
    for box in boxes:
        left, bottom = box.x - box.width / 2, box.y - box.height / 2
        if box.merge:
            ax.add_patch(
                patches.Circle(
                    (box.x, box.y), _MERGE_RADIUS, facecolor="white", edgecolor="black", lw=1
                )
            )
            ax.text(box.x, box.y, MERGE_KINDS[box.kind], ha="center", va="center", fontsize=11)
            if box.label:
                ax.text(
                    box.x, bottom - 0.05, box.label, ha="center", va="top", fontsize=7, color="0.25"
                )
            continue
        color, _ = BLOCK_KINDS[box.kind]
        used += [box.kind] if box.kind not in used else []
        face = mcolors.to_rgb(color)
        face = tuple(0.6 * c + 0.4 for c in face)  # lightened: 60 % colour, 40 % white
        ax.add_patch(
            patches.FancyBboxPatch(
                (left, bottom),
                box.width,
                box.height,
                boxstyle="round,pad=0,rounding_size=0.06",
                facecolor=face,
                edgecolor="black",
                linewidth=0.8,
            )
        )
        if box.shape is None:
            ax.text(box.x, box.y, box.label, ha="center", va="center", fontsize=8)
        else:
            ax.text(
                box.x, box.y + _LINE_HEIGHT / 2, box.label, ha="center", va="center", fontsize=8
            )
            label_bottom = box.y + _LINE_HEIGHT / 2 - _LINE_HEIGHT * (box.label.count("\n") + 1) / 2
            ax.text(
                box.x,
                label_bottom - 0.03,
                box.shape,
                ha="center",
                va="top",
                fontsize=7,
                color="0.3",
            )
    for tail, head in edges:
        start = (tail.x + tail.width / 2, tail.y)
        end = (head.x - head.width / 2, head.y)
        if math.isclose(tail.y, head.y):
            _arrow(ax, [start, end])
        else:  # elbow: along the tail's row, down or up in the gap before the head's column
            turn = lefts[head.column] - _COLUMN_GAP / 2
            _arrow(ax, [start, (turn, tail.y), (turn, head.y), end])
    for k, skip in enumerate(skips):
        tail, head = sequence[skip[0]], sequence[skip[1]]
        height = top + _SKIP_RISE * (k + 1)
        _arrow(
            ax,
            [
                (tail.x, tail.y + tail.height / 2),
                (tail.x, height),
                (head.x, height),
                (head.x, head.y + head.height / 2),
            ],
        )
        if len(skip) == 3:
            ax.text(
                (tail.x + head.x) / 2, height + 0.04, skip[2], ha="center", va="bottom", fontsize=7
            )
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title, fontsize="medium")
    if legend and used:
        handles = [
            patches.Patch(
                facecolor=tuple(0.6 * c + 0.4 for c in mcolors.to_rgb(BLOCK_KINDS[k][0])),
                edgecolor="black",
                linewidth=0.6,
                label=BLOCK_KINDS[k][1],
            )
            for k in used
        ]
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncols=len(handles),
            fontsize="x-small",
            frameon=False,
        )
    return fig


# --- Experiments over seeds -------------------------------------------------


def _comparison_arms(comparison, arms):
    if not hasattr(comparison, "values") or not hasattr(comparison, "arms"):
        raise ValueError(
            "`comparison` must be a kcv.experiments.Comparison, "
            f"received {type(comparison).__name__}."
        )
    if arms is None:
        return list(comparison.arms)
    missing = [arm for arm in arms if arm not in comparison.arms]
    if missing or not arms:
        raise ValueError(f"`arms` must be some of {comparison.arms}, received {list(arms)}.")
    return list(arms)


def comparison_figure(comparison, metrics, arms=None):
    """Each seed's result per arm, the seeds joined across arms, and each arm's mean ± sd.

    The lines join the runs of one seed, so a paired effect shows as lines
    that slope the same way, whatever the spread between seeds.

    Args:
        comparison: a :class:`kcv.experiments.Comparison`.
        metrics: str or list of str. Scalar metrics, one panel each.
        arms: list of str or None (all arms, in the comparison's order).

    Returns:
        The Figure, one Axes per metric.

    Example:

    >>> from kcv import experiments
    >>> c = experiments.compare({"a": lambda s: {"acc": 0.5 + s / 10}, "b": lambda s: {"acc": 0.7}},
    ...                         seeds=[0, 1, 2], name="demo", verbose=0)
    >>> len(comparison_figure(c, "acc").axes)
    1
    """
    arms = _comparison_arms(comparison, arms)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    fig, axes = subplots(1, len(metrics), panel_size=(max(3.0, 1.2 * len(arms) + 1), 3.0))
    positions = np.arange(len(arms))
    for ax, metric in zip(axes, metrics):
        table = np.stack([comparison.values(metric, arm) for arm in arms], axis=1)  # (seeds, arms)
        if table.ndim != 2:
            raise ValueError(f"`metrics` must be scalar metrics, received the curve {metric!r}.")
        for row in table:
            ax.plot(positions, row, "o-", color="0.6", ms=4, lw=1, zorder=1)
        spread = table.std(axis=0, ddof=1) if len(table) > 1 else np.zeros(len(arms))
        ax.errorbar(
            positions + 0.08,
            table.mean(axis=0),
            yerr=spread,
            fmt="s",
            color=COLORS[0],
            capsize=4,
            label="mean ± sd",
            zorder=2,
        )
        ax.set_xticks(positions, arms, rotation=20 if len(arms) > 3 else 0)
        ax.set_xlim(-0.5, len(arms) - 0.5)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} ({len(table)} seeds, one grey line each)", fontsize="medium")
    axes[0].legend(fontsize="small", loc="best")
    return fig


def comparison_curves(comparison, metric, arms=None, xlabel="epoch"):
    """A curve metric (e.g. the loss per epoch) per arm: the mean over seeds and its range.

    Args:
        comparison: a :class:`kcv.experiments.Comparison`.
        metric: str. A metric each run returned as a sequence of numbers.
        arms: list of str or None (all arms).
        xlabel: str. What the curve's positions are (counted from 1).

    Returns:
        The Figure, with one Axes.
    """
    arms = _comparison_arms(comparison, arms)
    fig, (ax,) = subplots(panel_size=(5.0, 3.2))
    for i, arm in enumerate(arms):
        curves = comparison.values(metric, arm)
        if curves.ndim != 2:
            raise ValueError(f"`metric` must be a curve metric, received {metric!r}.")
        steps = np.arange(1, curves.shape[1] + 1)
        color = COLORS[i % len(COLORS)]
        ax.plot(steps, curves.mean(axis=0), "-", color=color, label=arm)
        ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean and range over {len(comparison.seeds)} seeds", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


__all__ = [
    "BLOCK_KINDS",
    "COLORS",
    "MERGE_KINDS",
    "SEGMENTATION_COLORS",
    "block_diagram",
    "budget_curves",
    "comparison_curves",
    "comparison_figure",
    "feature_maps",
    "grad_cam_figure",
    "receptive_field_figure",
    "se_excitations",
    "segmentation_overlay",
    "subplots",
    "timing_bars",
    "training_curves",
]
