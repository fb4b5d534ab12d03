"""Common mistakes, recognised from a wrong output: what ``numerics`` says when it fails.

A submission whose output differs from the reference's gets the difference
(``max abs error … at index …``) and, when one of its exercise's
:class:`Diagnosis` explains the output, a sentence naming the mistake ("the
gate has no sigmoid"). A diagnosis recomputes what the mistake produces,
from the configuration's input and the reference's weights (the ones the
grader copied into the submission, in creation order), and compares it with
the submission's output. The recomputations are float64 numpy versions of
the references, channels_last, inference mode (batch normalization with its
moving statistics); ``tests/test_grading.py`` checks each against its
``kcv.layers`` class with random weights, and checks that no diagnosis
mistakes the reference's own output for a mistake.

Nothing here imports Keras or the rest of kcv.grading: the checks call the
tests with numpy arrays.

Example:

>>> import numpy as np
>>> from kcv.grading import diagnoses
>>> x = np.arange(12.0).reshape(1, 1, 1, 12)  # one pixel, 12 channels
>>> expected = diagnoses.shuffled(x, 3)        # ShuffleNet's shuffle, 3 groups
>>> got = x                                    # a submission that forgot the transpose
>>> next(d.message for d in diagnoses.CHANNEL_SHUFFLE if d.test(x, [], expected, got, {}))
'the channels come out in their input order: the transpose of the (groups, n) axes is missing'
"""

import dataclasses
import itertools

import numpy as np

# Keras' BatchNormalization epsilon, which every reference with BN uses.
BN_EPSILON = 1e-3


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """A common mistake, recognised from a wrong output.

    Args:
        message: str. What the learner did, in their terms.
        test: callable ``test(x, weights, expected, got, kwargs) -> bool``:
            ``x`` the configuration's input, ``weights`` the reference's
            weights in creation order (the ones copied into the submission),
            ``expected`` the reference's output, ``got`` the submission's
            (same shape), ``kwargs`` the constructor arguments. True when
            ``got`` is what the mistake produces. Shown when ``numerics``
            fails, first match only.
    """

    message: str
    test: object


def close(candidate, got):
    """``got`` equals ``candidate`` (what a mistake computes) to float32 precision."""
    candidate = np.asarray(candidate, dtype="float64")
    return candidate.shape == got.shape and np.allclose(got, candidate, rtol=1e-3, atol=1e-4)


def made(candidate, expected, got):
    """``got`` is what the mistake computes (``candidate``), and here the mistake shows.

    False when the mistake would give the reference's output on this input
    (an atrous rate of 1, a single codeword): the submission may be right.
    """
    return close(candidate, got) and not close(candidate, expected)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def relu(v):
    return np.maximum(v, 0.0)


def _identity(v):
    return v


def softmax(v, axis):
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def conv_same(x, kernel, bias=0.0, dilation=1):
    """A stride-1 'same' convolution of channels_last ``x`` (odd kernel sizes), in float64.

    Args:
        x: array (batch, height, width, channels).
        kernel: array (kh, kw, channels, filters), Keras' layout.
        bias: array (filters,) or 0.
        dilation: int. The atrous rate: taps ``dilation`` pixels apart.

    Returns:
        array (batch, height, width, filters).
    """
    kernel = np.asarray(kernel, dtype="float64")
    kh, kw = kernel.shape[:2]
    _, height, width, _ = x.shape
    ph, pw = dilation * (kh // 2), dilation * (kw // 2)
    padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    out = sum(
        padded[:, i * dilation : i * dilation + height, j * dilation : j * dilation + width, :]
        @ kernel[i, j]
        for i in range(kh)
        for j in range(kw)
    )
    return out + np.asarray(bias, dtype="float64")


def batch_norm(x, gamma, beta, moving_mean, moving_variance):
    """Keras' ``BatchNormalization`` in inference mode (channels last)."""
    scale = np.asarray(gamma, "float64") / np.sqrt(
        np.asarray(moving_variance, "float64") + BN_EPSILON
    )
    return (x - moving_mean) * scale + beta


def pool_same(x, pool="max"):
    """3x3 stride-1 'same' pooling of channels_last ``x``.

    ``pool`` is ``"max"``, ``"average"`` (over the pixels inside the image, as
    Keras' ``AveragePooling2D`` on JAX and TensorFlow) or ``"average_padded"``
    (the zeros of the padding counted, PyTorch's ``count_include_pad``).
    """
    _, height, width, _ = x.shape
    fill = -np.inf if pool == "max" else 0.0
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=fill)
    windows = [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)]
    if pool == "max":
        return np.max(windows, axis=0)
    if pool == "average_padded":
        return np.mean(windows, axis=0)
    inside = np.pad(np.ones((1, height, width, 1)), ((0, 0), (1, 1), (1, 1), (0, 0)))
    counts = sum(inside[:, i : i + height, j : j + width] for i in range(3) for j in range(3))
    return np.sum(windows, axis=0) / counts


def _units(weights, size):
    return [weights[i : i + size] for i in range(0, len(weights), size)]


def _conv_unit(x, unit, dilation=1):
    """conv -> ReLU (unit = [kernel, bias]) or conv (no bias) -> BN -> ReLU (unit of five)."""
    if len(unit) == 2:
        return relu(conv_same(x, unit[0], unit[1], dilation))
    return relu(batch_norm(conv_same(x, unit[0], 0.0, dilation), *unit[1:]))


# ---------------------------------------------------------------------------
# The references, recomputed (float64, channels_last, inference mode).


def excitation(x, weights, pool=np.mean, act=relu, gate=sigmoid):
    """SE's gate ``s`` from the reference weights [W1, b1, W2, b2], shape (B, 1, 1, C)."""
    w1, b1, w2, b2 = (np.asarray(w, dtype="float64") for w in weights[:4])
    z = pool(np.asarray(x, dtype="float64"), axis=(1, 2))
    return gate(act(z @ w1 + b1) @ w2 + b2)[:, None, None, :]


def shuffled(x, groups):
    """Channels of channels_last ``x`` split as (groups, n), transposed, merged."""
    *lead, channels = x.shape
    split = x.reshape(*lead, groups, channels // groups)
    return np.swapaxes(split, -1, -2).reshape(x.shape)


def fire(x, weights, squeeze_act=relu, expand_act=relu):
    """The Fire module from the reference weights [squeeze, 1x1, 3x3 kernels and biases]."""
    squeezed = squeeze_act(conv_same(x, weights[0], weights[1]))
    return np.concatenate(
        [
            expand_act(conv_same(squeezed, weights[2], weights[3])),
            expand_act(conv_same(squeezed, weights[4], weights[5])),
        ],
        axis=-1,
    )


def inception_branches(x, weights, pool="max", project_first=False):
    """The four branch outputs of an Inception module: [1x1, 3x3, 5x5, pool projection].

    Args:
        x: the input, channels_last.
        weights: the reference's, six units of [kernel, bias] (or [kernel, BN's
            four] with ``batch_norm=True``) in the order 1x1, 3x3 reduce, 3x3,
            5x5 reduce, 5x5, pool projection.
        pool: ``"max"`` (the paper) or an average (see :func:`pool_same`).
        project_first: the mistake of projecting before pooling.
    """
    size = 5 if len(weights) == 30 else 2
    u = _units(weights, size)
    if project_first:
        pooled = pool_same(_conv_unit(x, u[5]), pool)
    else:
        pooled = _conv_unit(pool_same(x, pool), u[5])
    return [
        _conv_unit(x, u[0]),
        _conv_unit(_conv_unit(x, u[1]), u[2]),
        _conv_unit(_conv_unit(x, u[3]), u[4]),
        pooled,
    ]


def aspp_branches(x, weights, kwargs, dilate=True, image_pool=np.mean):
    """ASPP's branch outputs in the reference's order [1x1, one per rate, image pooling].

    Returns ``(branches, projection unit)``. The reference creates its
    weights as: one [kernel, BN's four] per rate, the 1x1's, the image
    pooling's (when ``image_pooling``), the projection's.
    """
    rates = list(kwargs.get("rates", (6, 12, 18)))
    u = _units(weights, 5)
    atrous, one = u[: len(rates)], u[len(rates)]
    branches = [_conv_unit(x, one)]
    branches += [_conv_unit(x, unit, r if dilate else 1) for unit, r in zip(atrous, rates)]
    if kwargs.get("image_pooling", True):
        pooled = _conv_unit(image_pool(x, axis=(1, 2), keepdims=True), u[len(rates) + 1])
        branches.append(np.broadcast_to(pooled, branches[0].shape))
    return branches, u[-1]


def aspp(x, weights, kwargs, dilate=True, image_pool=np.mean):
    """The ASPP output (dropout is the identity at inference)."""
    branches, projection = aspp_branches(x, weights, kwargs, dilate, image_pool)
    return _conv_unit(np.concatenate(branches, axis=-1), projection)


def encoding(x, weights, assign_axis=-1, sign=1.0, residuals=True, squared=True, aggregate=np.sum):
    """EncNet's Encoding layer from [codewords (K, C), scale (K,)], output (B, K, C).

    The keywords are the mistakes: the softmax over the positions
    (``assign_axis=1``) instead of the codewords, the scale's sign flipped,
    ``x_i`` instead of the residual ``x_i - c_k``, the distance not squared,
    the mean over the positions instead of the sum.
    """
    x = np.asarray(x, "float64").reshape(x.shape[0], -1, x.shape[-1])
    codes, scale = (np.asarray(w, "float64") for w in weights[:2])
    residual = x[:, :, None, :] - codes  # (B, N, K, C)
    distance = np.sum(residual**2, axis=-1)
    if not squared:
        distance = np.sqrt(distance)
    assignment = softmax(sign * scale * distance, axis=assign_axis)  # (B, N, K)
    vectors = residual if residuals else np.broadcast_to(x[:, :, None, :], residual.shape)
    return aggregate(assignment[..., None] * vectors, axis=1)


def strip_pooling(x, weights, pool=np.mean, gate=sigmoid, fuse=relu, swap=False, gated=True):
    """SPNet's strip pooling module from its 12 weights (two conv + BN units, the gate's conv).

    The keywords are the mistakes: max strips, no sigmoid, no ReLU on the
    sum, the 3x1 convolution on the row of column means (``swap``), the
    gate returned instead of ``x * gate``.
    """
    rows, columns = pool(x, axis=2, keepdims=True), pool(x, axis=1, keepdims=True)
    if swap:
        rows, columns = columns, rows
    rows = batch_norm(conv_same(rows, weights[0]), *weights[1:5])
    columns = batch_norm(conv_same(columns, weights[5]), *weights[6:10])
    g = gate(conv_same(fuse(rows + columns), weights[10], weights[11]))
    return x * g if gated else np.broadcast_to(g, x.shape)


def _negative_where_the_reference_is_not(x, w, expected, got, kw):
    return bool(got.min() < 0 <= expected.min())


def _reordered(blocks, expected, got):
    """``got`` is the concatenation of ``blocks`` (a list of arrays) in another order."""
    return any(
        made(np.concatenate([blocks[i] for i in order], -1), expected, got)
        for order in itertools.permutations(range(len(blocks)))
        if list(order) != sorted(order)
    )


# ---------------------------------------------------------------------------
# The diagnoses, per exercise.

SQUEEZE_EXCITE = (
    Diagnosis(
        "the output is the gate s itself: return x * s, the input rescaled per channel",
        lambda x, w, expected, got, kw: made(
            np.broadcast_to(excitation(x, w), x.shape), expected, got
        ),
    ),
    Diagnosis(
        "the gate has no sigmoid: s = sigmoid(W2·relu(W1·z + b1) + b2) must lie in (0, 1)",
        lambda x, w, expected, got, kw: made(x * excitation(x, w, gate=_identity), expected, got),
    ),
    Diagnosis(
        "there is no ReLU between the two fully connected layers",
        lambda x, w, expected, got, kw: made(x * excitation(x, w, act=_identity), expected, got),
    ),
    Diagnosis(
        "the squeeze takes the maximum over height and width; SENet's squeeze is the mean",
        lambda x, w, expected, got, kw: made(x * excitation(x, w, pool=np.max), expected, got),
    ),
)
INVERTED_RESIDUAL = (
    Diagnosis(
        "the shortcut is missing: add the input when strides is 1 and the channels match",
        lambda x, w, expected, got, kw: x.shape == got.shape and close(expected - x, got),
    ),
    Diagnosis(
        "no output is negative: the projection (last 1x1 and its BN) must stay linear, "
        "without ReLU6 after it",
        lambda x, w, expected, got, kw: bool(got.min() >= 0 > expected.min()),
    ),
)
CHANNEL_SHUFFLE = (
    Diagnosis(
        "the channels come out in their input order: the transpose of the (groups, n) axes "
        "is missing",
        lambda x, w, expected, got, kw: made(x, expected, got),
    ),
    Diagnosis(
        "this is the inverse permutation: the channels were split as (n, groups); split "
        "them as (groups, n), group first",
        lambda x, w, expected, got, kw: made(
            shuffled(x, x.shape[-1] // kw.get("groups", 1)), expected, got
        ),
    ),
)
FIRE_MODULE = (
    Diagnosis(
        "the expansions are concatenated in the wrong order: SqueezeNet's Fire module "
        "puts the 1x1 expansion first, then the 3x3 one",
        lambda x, w, expected, got, kw: made(
            np.concatenate(
                [expected[..., kw["expand_1x1"] :], expected[..., : kw["expand_1x1"]]], axis=-1
            ),
            expected,
            got,
        ),
    ),
    Diagnosis(
        "there is no ReLU after the squeeze layer: s = relu(squeeze 1x1 (x))",
        lambda x, w, expected, got, kw: made(fire(x, w, squeeze_act=_identity), expected, got),
    ),
    Diagnosis(
        "the expansions have no ReLU: each expansion is followed by its own ReLU",
        lambda x, w, expected, got, kw: made(fire(x, w, expand_act=_identity), expected, got),
    ),
)
# Any block whose output is relu(branch + shortcut).
FINAL_RELU = (
    Diagnosis(
        "the output has negative values where the block's has zeros, and equals it elsewhere: "
        "the ReLU after the addition is missing, y = relu(branch + shortcut)",
        lambda x, w, expected, got, kw: bool(got.min() < 0) and close(relu(got), expected),
    ),
)


def _inception_reordered(x, w, expected, got, kw):
    sizes = np.cumsum([kw["filters_1x1"], kw["filters_3x3"], kw["filters_5x5"]])
    return _reordered(np.split(expected, sizes, axis=-1), expected, got)


INCEPTION = (
    Diagnosis(
        "the branches are concatenated in another order: GoogLeNet's is 1x1, 3x3, 5x5, "
        "pool projection",
        _inception_reordered,
    ),
    Diagnosis(
        "some outputs are negative: every convolution of the module, the reductions "
        "included, is followed by a ReLU (after its BN with batch_norm=True)",
        _negative_where_the_reference_is_not,
    ),
    Diagnosis(
        "the pooling branch averages: GoogLeNet's is a 3x3 max pooling (stride 1, 'same') "
        "before its 1x1 projection",
        lambda x, w, expected, got, kw: any(
            made(np.concatenate(inception_branches(x, w, pool=pool), -1), expected, got)
            for pool in ("average", "average_padded")
        ),
    ),
    Diagnosis(
        "the pooling branch projects first and pools after: pool (3x3 max, stride 1), "
        "then the 1x1 projection",
        lambda x, w, expected, got, kw: made(
            np.concatenate(inception_branches(x, w, project_first=True), -1), expected, got
        ),
    ),
)


def _aspp_reordered(x, w, expected, got, kw):
    branches, projection = aspp_branches(x, w, kw)
    return any(
        made(
            _conv_unit(np.concatenate([branches[i] for i in order], -1), projection), expected, got
        )
        for order in itertools.permutations(range(len(branches)))
        if list(order) != sorted(order)
    )


ASPP = (
    Diagnosis(
        "the 3x3 branches are not atrous: each uses dilation_rate=rate (taps `rate` pixels "
        "apart, padding 'same')",
        lambda x, w, expected, got, kw: made(aspp(x, w, kw, dilate=False), expected, got),
    ),
    Diagnosis(
        "the branches are concatenated in another order: DeepLabv3's is the 1x1, the "
        "atrous rates in order, then image pooling",
        _aspp_reordered,
    ),
    Diagnosis(
        "image pooling takes the maximum: it is the mean over height and width (global "
        "average pooling), then 1x1 -> BN -> ReLU",
        lambda x, w, expected, got, kw: made(aspp(x, w, kw, image_pool=np.max), expected, got),
    ),
    Diagnosis(
        "some outputs are negative: the projection (1x1 -> BN) is followed by a ReLU, "
        "before the dropout",
        _negative_where_the_reference_is_not,
    ),
)
ENCODING = (
    Diagnosis(
        "the softmax runs over the positions: a_ik is normalised over the K codewords, "
        "softmax over k for each position i",
        lambda x, w, expected, got, kw: made(encoding(x, w, assign_axis=1), expected, got),
    ),
    Diagnosis(
        "the assignment logits have the wrong sign: `scale` already holds -s_k, so the "
        "logits are scale_k · ||x_i - c_k||², not -scale_k · ...",
        lambda x, w, expected, got, kw: made(encoding(x, w, sign=-1.0), expected, got),
    ),
    Diagnosis(
        "the codewords are not subtracted: e_k aggregates the residuals x_i - c_k, "
        "not the inputs x_i",
        lambda x, w, expected, got, kw: made(encoding(x, w, residuals=False), expected, got),
    ),
    Diagnosis(
        "the distance is not squared: a_ik uses ||x_i - c_k||², the squared distance",
        lambda x, w, expected, got, kw: made(encoding(x, w, squared=False), expected, got),
    ),
    Diagnosis(
        "e_k is a mean over the positions: it is the sum, e_k = Σ_i a_ik (x_i - c_k)",
        lambda x, w, expected, got, kw: made(encoding(x, w, aggregate=np.mean), expected, got),
    ),
)
STRIP_POOLING = (
    Diagnosis(
        "the output is the gate itself: return x * gate, the input rescaled at every pixel",
        lambda x, w, expected, got, kw: made(strip_pooling(x, w, gated=False), expected, got),
    ),
    Diagnosis(
        "the gate has no sigmoid: gate = sigmoid(1x1 conv(relu(rows + columns)))",
        lambda x, w, expected, got, kw: made(strip_pooling(x, w, gate=_identity), expected, got),
    ),
    Diagnosis(
        "the strips take the maximum: strip pooling averages each row and each column",
        lambda x, w, expected, got, kw: made(strip_pooling(x, w, pool=np.max), expected, got),
    ),
    Diagnosis(
        "the strips are swapped: the 3x1 convolution runs on the column of row means "
        "(mean over the width, H x 1), the 1x3 on the row of column means",
        lambda x, w, expected, got, kw: made(strip_pooling(x, w, swap=True), expected, got),
    ),
    Diagnosis(
        "there is no ReLU on the sum of the two strips: relu(rows + columns) feeds the 1x1",
        lambda x, w, expected, got, kw: made(strip_pooling(x, w, fuse=_identity), expected, got),
    ),
)
