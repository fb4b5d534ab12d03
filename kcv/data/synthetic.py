"""Procedural image sets, one for each chapter's point, drawn with numpy alone.

* :func:`shapes` — classification by outline or by texture, colours random
  (GoogLeNet, SENet, MobileNet chapters).
* :func:`scenes` — segmentation where the scene type decides which objects may
  appear, and objects look alike across scenes: global context pays
  (EncNet's Context Encoding and SE-loss).
* :func:`thin_structures` — long thin bands against compact blobs (SPNet's
  strip pooling).
* :func:`multiscale_objects` — the same classes from tiny to nearly full
  frame (DeepLab's ASPP).

Every generator is deterministic given ``seed``, needs no network and no
framework, and returns a :class:`kcv.data.Dataset` of float32 images in
``[0, 1]`` with int32 labels or masks.

How they are drawn: each shape is a *signed distance function* (SDF), the
distance of every pixel centre to the shape's outline, negative inside, in
units of the image side. Coverage ``clip(0.5 - sdf · size, 0, 1)`` gives
anti-aliased edges; a pixel belongs to a shape's mask when its centre lies
inside (``sdf <= 0``). All images of a chunk are drawn at once by numpy
broadcasting: per-image parameters of shape ``(n, 1, 1)`` against a pixel
grid of shape ``(1, size, size)``, in a channels-first layout ``(n, 3, H, W)``
whose pixel loops run over contiguous memory.
"""

import numpy as np

from kcv import _validation
from kcv.data.dataset import Dataset
from kcv.data.dataset import to_data_format

SHAPE_CLASSES = (
    "circle",
    "square",
    "triangle",
    "ring",
    "cross",
    "stripes_horizontal",
    "stripes_vertical",
    "stripes_diagonal",
    "checkerboard",
    "dots",
)
# The objects each scene type may hold. The k-th object of every scene has
# the same shape family (0: wide box, 1: tall capsule, 2: disc) and all
# objects share one colour distribution, so a car, a table and a boat look
# alike up close: only the surroundings tell them apart.
SCENE_OBJECTS = {
    "street": ("car", "person", "sign"),
    "kitchen": ("table", "bottle", "plate"),
    "sea": ("boat", "lighthouse", "buoy"),
}
SCENE_TYPES = tuple(SCENE_OBJECTS)
SCENE_CLASSES = ("background",) + sum(SCENE_OBJECTS.values(), ())
# Per scene type, the ids of its object classes: ((1, 2, 3), (4, 5, 6), (7, 8, 9)).
_SCENE_CLASS_IDS = tuple(
    tuple(SCENE_CLASSES.index(name) for name in names) for names in SCENE_OBJECTS.values()
)
THIN_CLASSES = ("background", "line", "blob")
MULTISCALE_CLASSES = ("background", "circle", "square", "triangle")
IGNORE_INDEX = 255

# Images drawn at once. Small chunks keep the (n, H, W) temporaries small,
# which bounds the memory and keeps numpy fast (fewer fresh pages to map).
_CHUNK = 64
_OUTLINE_NAMES = SHAPE_CLASSES[:5]
# Texture classes: the angle of the stripes (the diagonal one also flips
# sign at random); shape classes get a uniform random rotation instead.
_TEXTURE_ANGLE = np.array([0, 0, 0, 0, 0, 0, np.pi / 2, np.pi / 4, 0, 0])
# Scene object families, in units of the object's scale: half width, half
# height and corner radius of a rounded box.
_HALF_U = np.array([1.6, 0.55, 1.0], np.float32)
_HALF_V = np.array([0.8, 1.4, 1.0], np.float32)
_CORNER = np.array([0.25, 0.55, 1.0], np.float32)
# Background colour of each scene type: street grey, kitchen beige, sea blue.
_SCENE_TINT = np.array([[0.5, 0.5, 0.5], [0.85, 0.75, 0.55], [0.15, 0.35, 0.7]])


def shapes(n, size=32, seed=0, noise=0.05, data_format=None):
    """Ten classes of shapes and textures in random colours, for classification.

    Classes 0-4 are solid outlines (circle, square, triangle, ring, cross)
    at a random rotation; classes 5-9 are textures (horizontal, vertical and
    diagonal stripes, checkerboard, dots) filling a disc or a square. Colour,
    position, size, texture period, a background gradient and pixel noise are
    random and carry no label information, so a network must learn outline
    and texture, not colour. The classes are balanced (``n // 10`` or one
    more each).

    Args:
        n: int >= 1. Number of images.
        size: int >= 16. Height and width in pixels.
        seed: int >= 0. Same seed, same images.
        noise: float in [0, 1]. Standard deviation of the Gaussian pixel noise.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.

    Returns:
        Dataset: ``x`` float32 ``(n, size, size, 3)``, ``y`` int32 ``(n,)``
        labels, ``class_names`` = :data:`SHAPE_CLASSES`.

    Example:

    >>> import kcv
    >>> ds = kcv.data.shapes(1000, size=32, seed=0)
    >>> ds.x.shape, ds.class_names[:3]
    ((1000, 32, 32, 3), ('circle', 'square', 'triangle'))
    """
    n, size, seed, noise, data_format = _check_common(n, size, 16, seed, noise, data_format)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES))
    is_texture = labels >= len(_OUTLINE_NAMES)
    background = rng.uniform(0.0, 1.0, (n, 3))
    texture_angle = _TEXTURE_ANGLE[labels] * rng.choice((-1.0, 1.0), n)
    texture_angle += np.radians(rng.uniform(-10.0, 10.0, n))
    params = {
        "label": labels,
        "cx": rng.uniform(0.3, 0.7, n),
        "cy": rng.uniform(0.3, 0.7, n),
        "angle": np.where(is_texture, texture_angle, rng.uniform(0.0, 2 * np.pi, n)),
        "radius": rng.uniform(0.15, 0.3, n) * np.where(is_texture, 1.2, 1.0),
        # Textures fill a disc (outline 0) or a square (outline 1).
        "outline": np.where(is_texture, rng.integers(0, 2, n), labels),
        "period": rng.uniform(0.12, 0.2, n),
        "background": background,
        "gradient": rng.uniform(-0.15, 0.15, (n, 2)),
        "colour": _contrasting(rng, background),
    }
    images = np.empty((n, 3, size, size), np.float32)
    for chunk in _chunks(n):
        images[chunk] = _draw_shapes(size, _take(params, chunk))
    x = _finish(images, rng, noise, data_format)
    return Dataset(x, labels.astype(np.int32), SHAPE_CLASSES)


def scenes(
    n, size=64, seed=0, max_objects=4, ignore_boundaries=False, noise=0.05, data_format=None
):
    """Segmentation scenes whose type decides which object classes appear.

    Three scene types (:data:`SCENE_TYPES`: street, kitchen, sea) each allow
    three of the nine object classes (:data:`SCENE_OBJECTS`). An image holds
    1 to ``max_objects`` objects, drawn from its scene's classes only, over
    the scene's background texture (dashed lane markings, tiles, waves).
    Objects of the same shape family look alike in every scene — a car, a
    table and a boat are the same kind of wide box in the same random
    colours — so a pixel's class is ambiguous from the object alone and the
    scene (global context) resolves it: the situation EncNet's Context
    Encoding and its SE-loss (``kcv.losses.presence_targets``) are built for.
    Scene types are balanced.

    Args:
        n: int >= 1. Number of images.
        size: int >= 32. Height and width in pixels.
        seed: int >= 0. Same seed, same images.
        max_objects: int >= 1. Most objects in one image.
        ignore_boundaries: bool. Label a one-pixel band along every visible
            object outline :data:`IGNORE_INDEX` (255), to be skipped by the
            loss (``keras.losses.SparseCategoricalCrossentropy(ignore_class=255)``).
        noise: float in [0, 1]. Standard deviation of the Gaussian pixel noise.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.

    Returns:
        Dataset: ``x`` float32 ``(n, size, size, 3)``, ``y`` int32 masks
        ``(n, size, size)`` in ``[0, 10)`` (0 = background) or 255,
        ``class_names`` = :data:`SCENE_CLASSES`, and ``extras``:
        ``"scene"`` int32 ``(n,)`` scene type per image, ``"scene_names"``,
        ``"scene_classes"`` (per scene type, the class ids it may hold) and
        ``"ignore_index"``.

    Example:

    >>> import kcv
    >>> ds = kcv.data.scenes(8, seed=0)
    >>> ds.y.shape, ds.extras["scene_names"]
    ((8, 64, 64), ('street', 'kitchen', 'sea'))
    >>> ds.extras["scene_classes"][0], ds.class_names[1:4]
    ((1, 2, 3), ('car', 'person', 'sign'))

    Reference:
        Zhang et al., "Context Encoding for Semantic Segmentation", CVPR 2018
        (the context prior, Sec. 3, and the SE-loss, Sec. 3.3).
    """
    n, size, seed, noise, data_format = _check_common(n, size, 32, seed, noise, data_format)
    max_objects = _validation.positive_int("max_objects", max_objects, 1)
    rng = np.random.default_rng(seed)
    scene = rng.permutation(np.arange(n) % len(SCENE_TYPES))
    shape = (n, max_objects)
    present = np.arange(max_objects) < rng.integers(1, max_objects + 1, n)[:, None]
    family = rng.integers(0, 3, shape)
    params = {
        "scene": scene,
        "tint": _SCENE_TINT[scene] + rng.uniform(-0.1, 0.1, (n, 3)),
        "period": rng.uniform(0.15, 0.25, n),
        "phase": rng.uniform(0.0, 2 * np.pi, n),
        "label": np.where(present, np.array(_SCENE_CLASS_IDS)[scene[:, None], family], 0),
        "family": family,
        "cx": rng.uniform(0.12, 0.88, shape),
        "cy": rng.uniform(0.12, 0.88, shape),
        "angle": rng.uniform(-0.3, 0.3, shape),
        "scale": rng.uniform(0.07, 0.14, shape),
        "colour": rng.uniform(0.0, 1.0, (*shape, 3)),
    }
    images = np.empty((n, 3, size, size), np.float32)
    masks = np.empty((n, size, size), np.int32)
    for chunk in _chunks(n):
        images[chunk], masks[chunk] = _draw_scenes(size, _take(params, chunk), ignore_boundaries)
    x = _finish(images, rng, noise, data_format)
    extras = {
        "scene": scene.astype(np.int32),
        "scene_names": SCENE_TYPES,
        "scene_classes": _SCENE_CLASS_IDS,
        "ignore_index": IGNORE_INDEX,
    }
    return Dataset(x, masks, SCENE_CLASSES, extras)


def thin_structures(n, size=64, seed=0, noise=0.05, data_format=None):
    """Segmentation of long thin lines against compact blobs.

    Every image holds 1-3 lines (40% horizontal, 40% vertical, 20% diagonal
    at 25-65 degrees), 1.3-3.6 pixels thick at size 64, most crossing the
    whole frame; some are dashed, and blobs drawn over them occlude parts.
    It also holds 2-5 blobs: ellipses 3-8 pixels wide at size 64, up to
    twice as long as wide. Lines and blobs share one colour
    distribution, so a short piece of line looks like a blob up close: what
    tells them apart is the extent along a row, a column or a diagonal —
    the long-range, banded context that SPNet's strip pooling gathers.

    Args:
        n: int >= 1. Number of images.
        size: int >= 32. Height and width in pixels.
        seed: int >= 0. Same seed, same images.
        noise: float in [0, 1]. Standard deviation of the Gaussian pixel noise.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.

    Returns:
        Dataset: ``x`` float32 ``(n, size, size, 3)``, ``y`` int32 masks
        ``(n, size, size)`` with 0 = background, 1 = line, 2 = blob,
        ``class_names`` = :data:`THIN_CLASSES`.

    Example:

    >>> import kcv
    >>> ds = kcv.data.thin_structures(4, seed=0)
    >>> ds.y.shape, ds.class_names
    ((4, 64, 64), ('background', 'line', 'blob'))

    Reference:
        Hou et al., "Strip Pooling: Rethinking Spatial Pooling for Scene
        Parsing", CVPR 2020 (long-range banded context, Sec. 3).
    """
    n, size, seed, noise, data_format = _check_common(n, size, 32, seed, noise, data_format)
    rng = np.random.default_rng(seed)
    lines, blobs = (n, 3), (n, 5)
    direction = rng.choice(3, lines, p=(0.4, 0.4, 0.2))  # horizontal, vertical, diagonal
    diagonal = np.radians(rng.uniform(25.0, 65.0, lines)) * rng.choice((-1.0, 1.0), lines)
    straight = direction * np.pi / 2 + np.radians(rng.uniform(-3.0, 3.0, lines))
    background = rng.uniform(0.0, 1.0, (n, 3))
    params = {
        "background": background,
        "gradient": rng.uniform(-0.15, 0.15, (n, 2)),
        "line_label": np.where(np.arange(3) < rng.integers(1, 4, n)[:, None], 1, 0),
        "line_angle": np.where(direction == 2, diagonal, straight),
        "line_cx": rng.uniform(0.1, 0.9, lines),
        "line_cy": rng.uniform(0.1, 0.9, lines),
        "half_width": rng.uniform(0.01, 0.028, lines),
        # 60% of the lines cross the whole frame, the others cover 60-100% of it.
        "half_length": np.where(rng.random(lines) < 0.6, 2.0, rng.uniform(0.3, 0.5, lines)),
        "dashed": rng.random(lines) < 0.3,
        "dash_period": rng.uniform(0.2, 0.35, lines),
        "dash_gap": rng.uniform(0.15, 0.3, lines),
        "dash_phase": rng.uniform(0.0, 1.0, lines),
        "line_colour": _contrasting(rng, background, 3),
        "blob_label": np.where(np.arange(5) < rng.integers(2, 6, n)[:, None], 2, 0),
        "blob_cx": rng.uniform(0.08, 0.92, blobs),
        "blob_cy": rng.uniform(0.08, 0.92, blobs),
        "blob_angle": rng.uniform(0.0, np.pi, blobs),
        "blob_width": rng.uniform(0.025, 0.06, blobs),
        "blob_aspect": rng.uniform(1.0, 2.0, blobs),
        "blob_colour": _contrasting(rng, background, 5),
    }
    images = np.empty((n, 3, size, size), np.float32)
    masks = np.empty((n, size, size), np.int32)
    for chunk in _chunks(n):
        images[chunk], masks[chunk] = _draw_thin_structures(size, _take(params, chunk))
    x = _finish(images, rng, noise, data_format)
    return Dataset(x, masks, THIN_CLASSES)


def multiscale_objects(
    n, size=64, seed=0, max_objects=3, scales=(0.03, 0.45), noise=0.05, data_format=None
):
    """Segmentation of circles, squares and triangles from tiny to nearly full frame.

    Every image holds 1 to ``max_objects`` objects whose radii are drawn
    log-uniformly from ``scales`` (fractions of the image side: by default
    2 to 29 pixels at size 64, areas 200 times apart), larger objects first
    so that small ones lie on top. Interiors are flat colour: classifying
    the centre of a large object needs a receptive field as large as the
    object, classifying a small one needs fine resolution — the trade-off
    DeepLab's atrous spatial pyramid pooling (ASPP) answers with parallel
    rates.

    Args:
        n: int >= 1. Number of images.
        size: int >= 32. Height and width in pixels.
        seed: int >= 0. Same seed, same images.
        max_objects: int >= 1. Most objects in one image.
        scales: pair of floats ``0 < low < high <= 0.5``. Range of object radii
            as fractions of the image side.
        noise: float in [0, 1]. Standard deviation of the Gaussian pixel noise.
        data_format: str or None. ``"channels_last"`` or ``"channels_first"``;
            None reads ``keras.config.image_data_format()``.

    Returns:
        Dataset: ``x`` float32 ``(n, size, size, 3)``, ``y`` int32 masks
        ``(n, size, size)`` with 0 = background and 1-3 the classes of
        :data:`MULTISCALE_CLASSES`, and ``extras``: ``"object_class"`` int32
        and ``"object_radius"`` float32 (pixels), both ``(n, max_objects)``,
        largest object first, 0 where an image has fewer objects.

    Example:

    >>> import kcv
    >>> ds = kcv.data.multiscale_objects(4, seed=0)
    >>> ds.y.shape, ds.extras["object_radius"].shape
    ((4, 64, 64), (4, 3))

    Reference:
        Chen et al., "Rethinking Atrous Convolution for Semantic Image
        Segmentation", arXiv:1706.05587, 2017 (objects at multiple scales,
        Sec. 3.3).
    """
    n, size, seed, noise, data_format = _check_common(n, size, 32, seed, noise, data_format)
    max_objects = _validation.positive_int("max_objects", max_objects, 1)
    low, high = _check_scales(scales)
    rng = np.random.default_rng(seed)
    shape = (n, max_objects)
    present = np.arange(max_objects) < rng.integers(1, max_objects + 1, n)[:, None]
    labels = np.where(present, rng.integers(1, len(MULTISCALE_CLASSES), shape), 0)
    radius = np.where(present, np.exp(rng.uniform(np.log(low), np.log(high), shape)), 0.0)
    radius = -np.sort(-radius, axis=1)  # largest first; absent objects (0) last
    background = rng.uniform(0.0, 1.0, (n, 3))
    params = {
        "background": background,
        "gradient": rng.uniform(-0.15, 0.15, (n, 2)),
        "label": labels,
        "radius": radius,
        # Centres keep the objects (nearly) inside the frame.
        "cx": radius + (1 - 2 * radius) * rng.uniform(0.0, 1.0, shape),
        "cy": radius + (1 - 2 * radius) * rng.uniform(0.0, 1.0, shape),
        "angle": rng.uniform(0.0, 2 * np.pi, shape),
        "colour": _contrasting(rng, background, max_objects),
    }
    images = np.empty((n, 3, size, size), np.float32)
    masks = np.empty((n, size, size), np.int32)
    for chunk in _chunks(n):
        images[chunk], masks[chunk] = _draw_multiscale(size, _take(params, chunk))
    x = _finish(images, rng, noise, data_format)
    extras = {
        "object_class": labels.astype(np.int32),
        "object_radius": (radius * size).astype(np.float32),
    }
    return Dataset(x, masks, MULTISCALE_CLASSES, extras)


# --- Drawing one chunk of each set --------------------------------------------


def _draw_shapes(size, p):
    grid = _grid(size)
    images = _background(grid, p["background"], p["gradient"])
    u, v = _local(grid, p["cx"], p["cy"], p["angle"])
    alpha = _coverage(_outlines(p["outline"], _OUTLINE_NAMES, u, v, _col(p["radius"])), size)
    for k in range(len(_OUTLINE_NAMES), len(SHAPE_CLASSES)):
        pick = p["label"] == k
        alpha[pick] *= _TEXTURES[SHAPE_CLASSES[k]](u[pick], v[pick], _col(p["period"][pick]))
    _paint(images, p["colour"], alpha)
    return images


def _draw_scenes(size, p, ignore_boundaries):
    grid = _grid(size)
    y, x = grid
    shade = np.empty((len(p["scene"]), size, size), np.float32)
    for k, texture in enumerate((_lane_markings, _tiles, _waves)):
        pick = p["scene"] == k
        shade[pick] = texture(y, x, _col(p["period"][pick]), _col(p["phase"][pick]))
    images = _per_channel(p["tint"]) + shade[:, None]
    masks = np.zeros(shade.shape, np.int32)
    for j in range(p["label"].shape[1]):
        u, v = _local(grid, p["cx"][:, j], p["cy"][:, j], p["angle"][:, j])
        family, scale = p["family"][:, j], _col(p["scale"][:, j])
        sdf = _rounded_box(
            u,
            v,
            _col(_HALF_U[family]) * scale,
            _col(_HALF_V[family]) * scale,
            _col(_CORNER[family]) * scale,
        )
        _add_object(
            images, masks, sdf, size, p["label"][:, j], p["colour"][:, j], ignore_boundaries
        )
    return images, masks


def _draw_thin_structures(size, p):
    grid = _grid(size)
    images = _background(grid, p["background"], p["gradient"])
    masks = np.zeros((len(images), size, size), np.int32)
    for j in range(p["line_label"].shape[1]):
        u, v = _local(grid, p["line_cx"][:, j], p["line_cy"][:, j], p["line_angle"][:, j])
        half_length, half_width = _col(p["half_length"][:, j]), _col(p["half_width"][:, j])
        sdf = np.maximum(np.abs(u) - half_length, np.abs(v) - half_width)
        # Dashed lines: the last `dash_gap` of every period along the line is a gap.
        along = u / _col(p["dash_period"][:, j]) + _col(p["dash_phase"][:, j])
        gap = _col(p["dashed"][:, j]) & (along - np.floor(along) > 1.0 - _col(p["dash_gap"][:, j]))
        sdf = np.maximum(sdf, gap)  # gaps lie outside (sdf >= 1)
        _add_object(images, masks, sdf, size, p["line_label"][:, j], p["line_colour"][:, j])
    for j in range(p["blob_label"].shape[1]):
        u, v = _local(grid, p["blob_cx"][:, j], p["blob_cy"][:, j], p["blob_angle"][:, j])
        width = _col(p["blob_width"][:, j])
        sdf = _ellipse(u, v, width * _col(p["blob_aspect"][:, j]), width)
        _add_object(images, masks, sdf, size, p["blob_label"][:, j], p["blob_colour"][:, j])
    return images, masks


def _draw_multiscale(size, p):
    grid = _grid(size)
    images = _background(grid, p["background"], p["gradient"])
    masks = np.zeros((len(images), size, size), np.int32)
    for j in range(p["label"].shape[1]):
        u, v = _local(grid, p["cx"][:, j], p["cy"][:, j], p["angle"][:, j])
        sdf = _outlines(p["label"][:, j] - 1, MULTISCALE_CLASSES[1:], u, v, _col(p["radius"][:, j]))
        _add_object(images, masks, sdf, size, p["label"][:, j], p["colour"][:, j])
    return images, masks


# --- Signed distance functions (u, v: a pixel's coordinates in the shape's frame)


def _circle(u, v, r):
    return _length(u, v) - r


def _square(u, v, r):
    return np.maximum(np.abs(u), np.abs(v)) - 0.8 * r


def _triangle(u, v, r):
    """Equilateral: inside all three edges; the inradius 0.6 r gives about a square's area."""
    edges = [u * np.cos(a) + v * np.sin(a) for a in (np.pi / 2, 7 * np.pi / 6, 11 * np.pi / 6)]
    return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - 0.6 * r


def _ring(u, v, r):
    return np.abs(_length(u, v) - 0.75 * r) - 0.25 * r


def _cross(u, v, r):
    a, b, arm = np.abs(u), np.abs(v), 0.3 * r
    return np.minimum(np.maximum(a - r, b - arm), np.maximum(a - arm, b - r))


def _rounded_box(u, v, half_u, half_v, corner):
    qu = np.abs(u) - half_u + corner
    qv = np.abs(v) - half_v + corner
    outside = _length(np.maximum(qu, 0.0), np.maximum(qv, 0.0))
    return outside + np.minimum(np.maximum(qu, qv), 0.0) - corner


def _ellipse(u, v, half_u, half_v):
    """An approximate distance: exact on the outline, scaled by the short half-axis."""
    return (_length(u / half_u, v / half_v) - 1.0) * np.minimum(half_u, half_v)


def _length(u, v):
    """``sqrt(u² + v²)``; several times faster than ``np.hypot``, exact enough here."""
    return np.sqrt(u * u + v * v)


_OUTLINES = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "ring": _ring,
    "cross": _cross,
}


def _outlines(kinds, names, u, v, r):
    """Per image, the SDF of outline ``names[kinds[i]]``; outside everywhere if ``kinds[i] < 0``."""
    sdf = np.ones(u.shape, np.float32)
    for k, name in enumerate(names):
        pick = kinds == k
        sdf[pick] = _OUTLINES[name](u[pick], v[pick], r[pick])
    return sdf


# --- Textures: a pattern in [0, 1] (1 = foreground colour) ---------------------


def _soft(wave):
    """A square wave with anti-aliased edges from a smooth wave around 0."""
    return np.clip(0.5 + 2.0 * wave, 0.0, 1.0)


def _stripes(u, v, period):
    return _soft(np.sin(2 * np.pi * v / period))


def _checkerboard(u, v, period):
    return _soft(np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v / period))


def _dots(u, v, period):
    return _soft(np.cos(2 * np.pi * u / period) + np.cos(2 * np.pi * v / period) - 1.0)


_TEXTURES = {
    "stripes_horizontal": _stripes,
    "stripes_vertical": _stripes,
    "stripes_diagonal": _stripes,
    "checkerboard": _checkerboard,
    "dots": _dots,
}


def _lane_markings(y, x, period, phase):
    lanes = _soft(np.sin(2 * np.pi * y / period + phase) - 0.9)
    return 0.3 * lanes * (np.sin(2 * np.pi * x / period) > 0)


def _tiles(y, x, period, phase):
    checks = np.sin(2 * np.pi * x / period + phase) * np.sin(2 * np.pi * y / period + phase)
    return 0.15 * _soft(checks)


def _waves(y, x, period, phase):
    return 0.12 * np.sin(2 * np.pi * (y / period + 0.3 * np.sin(np.pi * x / period + phase)))


# --- Shared pieces -----------------------------------------------------------


def _check_common(n, size, min_size, seed, noise, data_format):
    return (
        _validation.positive_int("n", n, 1),
        _validation.positive_int("size", size, min_size),
        _validation.positive_int("seed", seed, 0),
        _validation.number("noise", noise, 0.0, 1.0),
        _validation.data_format(data_format),
    )


def _check_scales(scales):
    if (
        not isinstance(scales, (tuple, list))
        or len(scales) != 2
        or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scales)
        or not 0 < scales[0] < scales[1] <= 0.5
    ):
        _validation.fail("scales", "a pair of numbers 0 < low < high <= 0.5", scales)
    return float(scales[0]), float(scales[1])


def _chunks(n):
    return [slice(start, min(start + _CHUNK, n)) for start in range(0, n, _CHUNK)]


def _take(params, chunk):
    return {key: value[chunk] for key, value in params.items()}


def _col(values):
    """Per-image values ``(n,)`` as ``(n, 1, 1)``, to broadcast over the pixels."""
    values = np.asarray(values)[:, None, None]
    return values.astype(np.float32) if values.dtype.kind == "f" else values


def _grid(size):
    """Pixel-centre coordinates in units of the image side: y ``(1, S, 1)``, x ``(1, 1, S)``."""
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    return centres[None, :, None], centres[None, None, :]


def _local(grid, cx, cy, angle):
    """Every pixel in the frame of a shape centred at ``(cx, cy)`` and rotated by ``angle``."""
    y, x = grid
    dy, dx = y - _col(cy), x - _col(cx)
    cos, sin = _col(np.cos(angle)), _col(np.sin(angle))
    return dx * cos + dy * sin, dy * cos - dx * sin


def _coverage(sdf, size):
    """Anti-aliased coverage: 1 inside, 0 outside, a one-pixel linear ramp across the outline."""
    return np.clip(0.5 - sdf * size, 0.0, 1.0)


def _contrasting(rng, background, count=None):
    """Random colours that differ from the background by 0.3-0.7 in every channel.

    One colour per image ``(n, 3)``, or ``count`` per image ``(n, count, 3)``.
    """
    if count is not None:
        background = np.repeat(background[:, None, :], count, axis=1)
    return (background + rng.uniform(0.3, 0.7, background.shape)) % 1.0


def _background(grid, colour, gradient):
    """Flat colours ``(n, 3)`` plus a linear brightness ramp of slopes ``(n, 2)`` (y, x)."""
    y, x = grid
    ramp = (y - 0.5) * _col(gradient[:, 0]) + (x - 0.5) * _col(gradient[:, 1])
    return _per_channel(colour) + ramp[:, None]


def _per_channel(colours):
    """Colours ``(n, 3)`` as float32 ``(n, 3, 1, 1)``, to broadcast over the pixels."""
    return colours.astype(np.float32)[:, :, None, None]


def _paint(images, colours, alpha):
    """Blends colours ``(n, 3)`` over images ``(n, 3, H, W)`` with alpha ``(n, H, W)``, in place."""
    images += alpha[:, None] * (_per_channel(colours) - images)


def _add_object(images, masks, sdf, size, labels, colours, ignore_boundaries=False):
    """Draws one object per image, where ``labels > 0``, and writes its label into the masks.

    A pixel takes the label when its centre is inside (``sdf <= 0``); with
    ``ignore_boundaries`` the pixels within half a pixel of the outline take
    :data:`IGNORE_INDEX` instead. Later objects cover earlier ones.
    """
    present = (labels > 0)[:, None, None]
    _paint(images, colours, _coverage(sdf, size) * present)
    distance = sdf * size  # in pixels
    if ignore_boundaries:
        np.copyto(masks, labels[:, None, None], where=(distance <= -0.5) & present)
        np.copyto(masks, IGNORE_INDEX, where=(np.abs(distance) < 0.5) & present)
    else:
        np.copyto(masks, labels[:, None, None], where=(distance <= 0) & present)


def _finish(images, rng, noise, data_format):
    """Adds the pixel noise, clips to [0, 1] and lays out the channels."""
    for chunk in _chunks(len(images)):
        images[chunk] += noise * rng.standard_normal(images[chunk].shape, dtype=np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return to_data_format(images, data_format)
