"""kcv's convolutions: every implementation against a NumPy float64 reference.

``kcv.layers.Conv2D`` (``native``, ``matmul``) and
``kcv.layers.DepthwiseConv2D`` (``native``, ``shifted``) are each forced in
turn, on whichever backend runs, and compared with a direct convolution
written here in NumPy (a sum over kernel taps, TensorFlow's "same" padding):
outputs, and the gradients of ``sum(G * layer(x))`` with respect to the
input, the kernel and the bias. The settings that pick an implementation
(the ``implementation`` argument, ``kcv.config``, ``KCV_DEPTHWISE`` /
``KCV_POINTWISE``) are checked through what a built layer reports
(``implementation_in_use``), and a saved model through its outputs when
loaded with another implementation.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import config
from kcv.layers import conv

IMPLEMENTATIONS = {
    "conv": ("native", "matmul"),
    "depthwise": ("native", "shifted"),
}


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _skip_unsupported(data_format):
    supported, reason = backend.channels_first_support()
    if data_format == "channels_first" and not supported:
        pytest.skip(reason)


# --- The reference: a direct convolution in float64 -------------------------


def _same_padding(size, kernel, stride, dilation):
    """TensorFlow's "same": ``ceil(size / stride)`` outputs, the odd pad after."""
    outputs = -(-size // stride)
    total = max((outputs - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class _Reference:
    """A 2D convolution of an NHWC array in float64, and its adjoint.

    ``kernel`` is ``(kh, kw, C, O)`` for a convolution, ``(kh, kw, C, M)``
    for a depthwise one (output channel ``c*M + m``).
    """

    def __init__(self, x, kernel, strides, padding, dilation, depthwise):
        self.kernel = kernel.astype(np.float64)
        self.depthwise = depthwise
        self.strides, self.dilation = _pair(strides), _pair(dilation)
        kh, kw = kernel.shape[:2]
        self.pads = [(0, 0)] * 4
        if padding == "same":
            for axis, k, s, d in zip((1, 2), (kh, kw), self.strides, self.dilation):
                self.pads[axis] = _same_padding(x.shape[axis], k, s, d)
        self.size = x.shape[1:3]
        self.padded = np.pad(x.astype(np.float64), self.pads)
        self.out = [
            (self.padded.shape[axis] - (k - 1) * d - 1) // s + 1
            for axis, k, s, d in zip((1, 2), (kh, kw), self.strides, self.dilation)
        ]

    def _tap(self, i, j):
        """The part of the padded input that tap ``(i, j)`` reads, per output pixel."""
        (oh, ow), (sh, sw), (dh, dw) = self.out, self.strides, self.dilation
        rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
        cols = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
        return (slice(None), rows, cols, slice(None))

    def _taps(self):
        kh, kw = self.kernel.shape[:2]
        return [(i, j) for i in range(kh) for j in range(kw)]

    def forward(self):
        total = 0.0
        for i, j in self._taps():
            window, weights = self.padded[self._tap(i, j)], self.kernel[i, j]
            if self.depthwise:
                product = window[..., :, None] * weights
                total = total + product.reshape(*window.shape[:3], -1)
            else:
                total = total + window @ weights
        return total

    def adjoint(self, grad_out):
        """``(d input, d kernel)`` for the output gradient ``grad_out``."""
        grad_padded = np.zeros_like(self.padded)
        grad_kernel = np.zeros_like(self.kernel)
        if self.depthwise:
            grad_out = grad_out.reshape(*grad_out.shape[:3], *self.kernel.shape[2:])
        for i, j in self._taps():
            tap, weights = self._tap(i, j), self.kernel[i, j]
            if self.depthwise:
                grad_padded[tap] += (grad_out * weights).sum(-1)
                grad_kernel[i, j] = np.einsum("bhwc,bhwcm->cm", self.padded[tap], grad_out)
            else:
                grad_padded[tap] += grad_out @ weights.T
                grad_kernel[i, j] = np.einsum("bhwc,bhwo->co", self.padded[tap], grad_out)
        (top, _), (left, _) = self.pads[1], self.pads[2]
        height, width = self.size
        return grad_padded[:, top : top + height, left : left + width], grad_kernel


def _reference_layer(x, kernel, bias, grad_y, data_format, **geometry):
    """``tanh(conv(x) + bias)`` and the gradients of ``sum(grad_y * it)``."""
    last = data_format == "channels_last"
    to_nhwc = (lambda a: a) if last else (lambda a: np.transpose(a, (0, 2, 3, 1)))
    from_nhwc = (lambda a: a) if last else (lambda a: np.transpose(a, (0, 3, 1, 2)))
    reference = _Reference(to_nhwc(x), kernel, **geometry)
    y = np.tanh(reference.forward() + bias)
    grad_z = to_nhwc(grad_y) * (1 - y**2)
    grad_x, grad_kernel = reference.adjoint(grad_z)
    return from_nhwc(y), from_nhwc(grad_x), grad_kernel, grad_z.sum((0, 1, 2))


def _layer_gradients(layer, x, grad_y):
    """Gradients of ``sum(grad_y * layer(x))``: input, kernel, bias."""
    weights = keras.ops.convert_to_tensor(grad_y)

    def loss_fn(_, y):
        return keras.ops.sum(y * weights)

    _, (grad_kernel, grad_bias) = backend.value_and_gradients(layer, x, None, loss_fn, jit=True)
    _, grad_x = backend.value_and_input_gradient(lambda v: loss_fn(None, layer(v)), x, jit=True)
    return grad_x, grad_kernel, grad_bias


def _check_against_reference(layer, x, data_format, geometry, depthwise):
    rng = np.random.default_rng(11)
    layer.build(x.shape)
    kernel_shape, bias_shape = (tuple(w.shape) for w in layer.get_weights())
    fan_in = np.prod(kernel_shape[:2]) * (1 if depthwise else kernel_shape[2])
    kernel = (rng.standard_normal(kernel_shape) / np.sqrt(fan_in)).astype("float32")
    bias = (0.1 * rng.standard_normal(bias_shape)).astype("float32")
    layer.set_weights([kernel, bias])
    y = _np(layer(x))
    grad_y = rng.standard_normal(y.shape).astype("float32")
    expected = _reference_layer(
        x, kernel, bias, grad_y, data_format, depthwise=depthwise, **geometry
    )
    np.testing.assert_allclose(y, expected[0], rtol=1e-4, atol=1e-5)
    for got, want in zip(_layer_gradients(layer, x, grad_y), expected[1:]):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _input(size, channels, data_format, seed=3):
    shape = (2, *size, channels) if data_format == "channels_last" else (2, channels, *size)
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def test_the_reference_is_a_convolution():
    """The reference against convolutions small enough to write out by hand."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    ones = np.ones((3, 3, 1, 1))
    # "same", 3x3 of ones: each output sums its 3x3 neighbourhood.
    same = _Reference(x, ones, 1, "same", 1, depthwise=False).forward()[0, :, :, 0]
    np.testing.assert_array_equal(same, [[12, 21, 16], [27, 45, 33], [24, 39, 28]])
    # "valid", stride 2, dilation 1, a single tap at (1, 2): picks x[1, 2].
    tap = np.zeros((3, 3, 1, 1))
    tap[1, 2] = 1
    np.testing.assert_array_equal(_Reference(x, tap, 2, "valid", 1, False).forward(), [[[[6]]]])
    # Dilation 2 on 5x5: the corners of the 5x5 window.
    big = np.arange(25.0).reshape(1, 5, 5, 1)
    corners = _Reference(big, ones, 1, "valid", 2, False).forward()
    np.testing.assert_array_equal(corners, [[[[0 + 2 + 4 + 10 + 12 + 14 + 20 + 22 + 24]]]])
    # Depthwise, multiplier 2: channel c*2 + m uses kernel[..., c, m].
    two = np.stack([x[..., 0], -x[..., 0]], -1)
    kernel = np.zeros((1, 1, 2, 2))
    kernel[0, 0] = [[1, 2], [3, 4]]
    out = _Reference(two, kernel, 1, "valid", 1, depthwise=True).forward()
    np.testing.assert_array_equal(out[0, 0, 0], [1, 2, -3, -4])
    # The adjoint is the transpose: <conv(x), g> == <x, adjoint(g)>.
    rng = np.random.default_rng(0)
    ref = _Reference(rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4)),
                     (2, 1), "same", 1, False)  # fmt: skip
    g = rng.standard_normal(ref.forward().shape)
    grad_x, grad_k = ref.adjoint(g)
    inner = np.sum(ref.forward() * g)
    unpadded = ref.padded[
        :, ref.pads[1][0] : ref.pads[1][0] + 7, ref.pads[2][0] : ref.pads[2][0] + 6
    ]
    assert np.sum(unpadded * grad_x) == pytest.approx(inner)
    assert np.sum(ref.kernel * grad_k) == pytest.approx(inner)


# --- Every implementation, every geometry ------------------------------------

# (kernel_size, strides, dilation_rate, padding, spatial size)
CONV_CASES = [
    (1, 1, 1, "same", (7, 6)),
    (1, 2, 1, "valid", (7, 6)),
    (1, (2, 3), 1, "same", (7, 6)),
    (3, 1, 1, "same", (7, 6)),
    (3, 2, 1, "same", (7, 6)),
    (3, 1, 2, "valid", (7, 6)),
    ((2, 3), 1, 1, "same", (7, 6)),
    (3, 1, 6, "same", (2, 3)),  # live taps: a 1x1 kernel is left
    (3, 1, (1, 4), "same", (5, 3)),  # live taps: a 3x1 kernel is left
]
# (kernel_size, strides, dilation_rate, padding, depth_multiplier, spatial size)
DEPTHWISE_CASES = [
    (3, 1, 1, "same", 1, (7, 6)),
    (3, 2, 1, "same", 1, (7, 6)),
    (3, 2, 1, "valid", 3, (7, 6)),
    (3, 1, 2, "valid", 1, (7, 6)),
    (3, 1, 2, "same", 2, (7, 6)),
    ((2, 3), 1, 1, "same", 1, (7, 6)),
    (5, (1, 2), 1, "same", 1, (7, 6)),
    (1, 1, 1, "valid", 2, (7, 6)),
    (3, 1, 6, "same", 1, (2, 3)),  # live taps: a 1x1 kernel is left
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS["conv"])
@pytest.mark.parametrize("kernel_size, strides, dilation, padding, size", CONV_CASES)
def test_conv2d_equals_the_reference(
    implementation, data_format, kernel_size, strides, dilation, padding, size
):
    _skip_unsupported(data_format)
    geometry = dict(strides=strides, padding=padding, dilation=dilation)
    layer = kcv.layers.Conv2D(
        5,
        kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        data_format=data_format,
        activation="tanh",
        implementation=implementation,
    )
    x = _input(size, 4, data_format)
    _check_against_reference(layer, x, data_format, geometry, depthwise=False)
    assert layer.implementation_in_use == implementation


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS["depthwise"])
@pytest.mark.parametrize(
    "kernel_size, strides, dilation, padding, multiplier, size", DEPTHWISE_CASES
)
def test_depthwise_conv2d_equals_the_reference(
    implementation, data_format, kernel_size, strides, dilation, padding, multiplier, size
):
    if implementation != "shifted":  # slices and products: any layout on any backend
        _skip_unsupported(data_format)
    geometry = dict(strides=strides, padding=padding, dilation=dilation)
    layer = kcv.layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding=padding,
        depth_multiplier=multiplier,
        dilation_rate=dilation,
        data_format=data_format,
        activation="tanh",
        implementation=implementation,
    )
    x = _input(size, 3, data_format)
    _check_against_reference(layer, x, data_format, geometry, depthwise=True)
    assert layer.implementation_in_use == implementation


class _Probe(keras.layers.Layer):
    """Holds an input and a kernel as weights, to read gradients for both."""

    def __init__(self, x, kernel, convolve):
        super().__init__()
        self.x_init, self.kernel_init, self.convolve = x, kernel, convolve

    def build(self, _):
        self.x = self.add_weight(shape=self.x_init.shape)
        self.x.assign(self.x_init)
        self.k = self.add_weight(shape=self.kernel_init.shape)
        self.k.assign(self.kernel_init)

    def call(self, _):
        return self.convolve(self.x, self.k)


@pytest.mark.parametrize(
    "strides, dilation, multiplier, data_format",
    [
        ((1, 1), (1, 1), 1, "channels_last"),
        ((1, 1), (2, 2), 1, "channels_first"),
        ((2, 2), (1, 1), 2, "channels_last"),
    ],
)
def test_chunked_custom_gradients_equal_the_reference(strides, dilation, multiplier, data_format):
    """``custom_conv_gradients`` over one-example chunks (four of them)."""
    rng = np.random.default_rng(4)
    x = _input((9, 8), 3, data_format, seed=4)
    kernel = rng.standard_normal((3, 3, 3, multiplier)).astype("float32")
    geometry = dict(
        strides=strides, padding="valid", dilation_rate=dilation, data_format=data_format
    )

    def convolve(x_, k_):
        return conv.shifted_depthwise_conv(x_, k_, **geometry)

    input_gradient = None
    if multiplier == 1 and strides == (1, 1):

        def input_gradient(g, k_):
            return conv.shifted_depthwise_input_gradient(g, k_, **geometry)

    def kernel_gradient(x_, g):
        return conv.shifted_depthwise_kernel_gradient(x_, g, kernel.shape, **geometry)

    def custom(x_, k_):
        return backend.custom_conv_gradients(
            convolve, input_gradient, kernel_gradient, x_, k_, chunk_bytes=1
        )

    probe = _Probe(np.concatenate([x, x[::-1]]), kernel, custom)
    probe.build(None)
    y = _np(probe(x))
    grad_y = rng.standard_normal(y.shape).astype("float32")
    weights = keras.ops.convert_to_tensor(grad_y)
    _, (grad_x, grad_k) = backend.value_and_gradients(
        probe, x, None, lambda _, out: keras.ops.sum(out * weights)
    )
    last = data_format == "channels_last"
    nhwc = (lambda a: a) if last else (lambda a: np.transpose(a, (0, 2, 3, 1)))
    reference = _Reference(nhwc(probe.x_init), kernel, strides, "valid", dilation, depthwise=True)
    np.testing.assert_allclose(nhwc(y), reference.forward(), rtol=1e-4, atol=1e-4)
    want_x, want_k = reference.adjoint(nhwc(grad_y).astype(np.float64))
    np.testing.assert_allclose(nhwc(grad_x), want_x, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad_k, want_k, rtol=1e-4, atol=1e-3)


def test_the_shifted_form_needs_static_spatial_sizes():
    symbolic = keras.KerasTensor((2, None, None, 4))
    kernel = np.ones((3, 3, 4, 1), "float32")
    with pytest.raises(ValueError, match="`implementation` must be 'native' for inputs of unknown"):
        conv.shifted_depthwise_conv_with_gradients(
            symbolic, kernel, (1, 1), "same", (1, 1), "channels_last"
        )


# --- Choosing the implementation ---------------------------------------------


def _built(kind, implementation="auto"):
    if kind == "depthwise":
        layer = kcv.layers.DepthwiseConv2D(3, implementation=implementation)
    else:
        layer = kcv.layers.Conv2D(4, 1, implementation=implementation)
    layer.build((1, 5, 5, 3))
    return layer


KINDS = [("depthwise", "native", "shifted"), ("pointwise", "native", "matmul")]
FAST = {kind: fast for kind, _, fast in KINDS}


@pytest.mark.parametrize("kind, native, fast", KINDS)
def test_auto_takes_the_config_default_at_build(kind, native, fast):
    assert _built(kind).implementation_in_use in (native, fast)
    with config.conv_implementation_scope(**{kind: fast}):
        first = _built(kind)
        assert first.implementation_in_use == fast
        assert first.implementation == "auto"
    with config.conv_implementation_scope(**{kind: native}):
        second = _built(kind)
        assert config.conv_implementation(kind) == native
    assert (first.implementation_in_use, second.implementation_in_use) == (fast, native)


@pytest.mark.parametrize("kind, native, fast", KINDS)
def test_the_argument_beats_the_config_default(kind, native, fast):
    with config.conv_implementation_scope(**{kind: native}):
        assert _built(kind, fast).implementation_in_use == fast
    with config.conv_implementation_scope(**{kind: fast}):
        assert _built(kind, native).implementation_in_use == native


@pytest.mark.parametrize("kind, native, fast", KINDS)
def test_the_environment_variable_is_read_at_each_build(kind, native, fast, monkeypatch):
    """Nothing is set in code here (every test that sets something uses a scope)."""
    variable = config.ENVIRONMENT_VARIABLES[kind]
    monkeypatch.setenv(variable, fast)
    assert _built(kind).implementation_in_use == fast
    monkeypatch.setenv(variable, native)
    assert _built(kind).implementation_in_use == native
    with config.conv_implementation_scope(**{kind: fast}):  # code beats the variable
        assert _built(kind).implementation_in_use == fast
    monkeypatch.setenv(variable, "fastest")
    with pytest.raises(ValueError, match=f"`{variable}` must be one of 'auto', 'native'"):
        _built(kind)


def test_set_conv_implementation_persists_until_changed_and_scopes_restore():
    with config.conv_implementation_scope():
        config.set_conv_implementation(depthwise="native", pointwise="matmul")
        assert config.conv_implementation("depthwise") == "native"
        assert config.conv_implementation("pointwise") == "matmul"
        with config.conv_implementation_scope(depthwise="shifted"):
            assert config.conv_implementation("depthwise") == "shifted"
            assert config.conv_implementation("pointwise") == "matmul"
        assert config.conv_implementation("depthwise") == "native"
        with pytest.raises(RuntimeError), config.conv_implementation_scope(pointwise="native"):
            raise RuntimeError
        assert config.conv_implementation("pointwise") == "matmul"


def test_wrong_implementations_are_refused():
    with pytest.raises(ValueError, match="`implementation` must be one of 'auto', 'native', 'matmul', received 'shifted'"):  # fmt: skip
        kcv.layers.Conv2D(4, 1, implementation="shifted")
    with pytest.raises(ValueError, match="`implementation` must be one of 'auto', 'native', 'shifted', received 'matmul'"):  # fmt: skip
        kcv.layers.DepthwiseConv2D(3, implementation="matmul")
    with pytest.raises(ValueError, match="`depthwise` must be one of 'auto', 'native', 'shifted', received 'matmul'"):  # fmt: skip
        config.set_conv_implementation(depthwise="matmul")
    with pytest.raises(ValueError, match="`kind` must be one of 'depthwise', 'pointwise'"):
        config.conv_implementation("grouped")


@pytest.mark.parametrize("layer_class", ["Conv2D", "DepthwiseConv2D"])
def test_config_is_keras_config_plus_implementation(layer_class):
    args = (4, 3) if layer_class == "Conv2D" else (3,)
    kind = "pointwise" if layer_class == "Conv2D" else "depthwise"
    fast = FAST[kind]
    ours = getattr(kcv.layers, layer_class)(*args, padding="same", implementation=fast)
    theirs = getattr(keras.layers, layer_class)(*args, padding="same")
    config_ = ours.get_config()
    assert config_.pop("implementation") == fast
    assert {**config_, "name": ""} == {**theirs.get_config(), "name": ""}
    again = type(ours).from_config(ours.get_config())
    assert again.implementation == fast
    # Keras' weights load as they are: the same variables, in the same order.
    theirs.build((1, 6, 6, 3))
    again.build((1, 6, 6, 3))
    again.set_weights(theirs.get_weights())
    x = _input((6, 6), 3, "channels_last")
    np.testing.assert_allclose(_np(again(x)), _np(theirs(x)), rtol=1e-5, atol=1e-5)


# --- Saved models ------------------------------------------------------------


def _model(pointwise, depthwise):
    return keras.Sequential(
        [
            keras.Input((6, 5, 3)),
            kcv.layers.Conv2D(8, 1, activation="relu", implementation=pointwise, name="expand"),
            kcv.layers.DepthwiseConv2D(
                3, padding="same", depth_multiplier=2, implementation=depthwise, name="dw"
            ),
            kcv.layers.Conv2D(4, 1, strides=2, implementation=pointwise, name="project"),
        ]
    )


def _in_use(model):
    return [layer.implementation_in_use for layer in model.layers]


def test_a_saved_model_loads_with_another_implementation(tmp_path):
    x = _input((6, 5), 3, "channels_last", seed=9)
    model = _model("matmul", "shifted")
    path = str(tmp_path / "forced.keras")
    model.save(path)
    expected = _np(model(x))
    # The same file, as saved: the forced implementations come back.
    loaded = keras.saving.load_model(path)
    assert _in_use(loaded) == ["matmul", "shifted", "matmul"]
    np.testing.assert_array_equal(_np(loaded(x)), expected)
    # Its weights in a model that computes the other way: the same outputs.
    other = _model("native", "native")
    other.load_weights(path)
    assert _in_use(other) == ["native", "native", "native"]
    np.testing.assert_allclose(_np(other(x)), expected, rtol=1e-5, atol=1e-6)


def test_a_model_saved_with_auto_takes_the_loading_default(tmp_path):
    x = _input((6, 5), 3, "channels_last", seed=10)
    path = str(tmp_path / "auto.keras")
    with config.conv_implementation_scope(depthwise="shifted", pointwise="matmul"):
        model = _model("auto", "auto")
        assert _in_use(model) == ["matmul", "shifted", "matmul"]
        model.save(path)
        expected = _np(model(x))
    with config.conv_implementation_scope(depthwise="native", pointwise="native"):
        loaded = keras.saving.load_model(path)
    assert _in_use(loaded) == ["native", "native", "native"]
    assert [layer.implementation for layer in loaded.layers] == ["auto"] * 3
    np.testing.assert_allclose(_np(loaded(x)), expected, rtol=1e-5, atol=1e-6)


# --- Forward-mode autodiff ---------------------------------------------------


@pytest.mark.parametrize(
    "layer_class, implementation",
    [("Conv2D", "native"), ("Conv2D", "matmul"), ("DepthwiseConv2D", "native")],
)
def test_forward_mode_autodiff_on_jax(layer_class, implementation):
    """``jax.jvp`` of a layer without bias or activation: the convolution of the tangent."""
    if backend.name() != "jax":
        pytest.skip("forward-mode autodiff through a layer is tested on JAX (jax.jvp)")
    import jax

    depthwise = layer_class == "DepthwiseConv2D"
    args = (3,) if depthwise else (5, 1)
    layer = getattr(kcv.layers, layer_class)(
        *args, strides=2, padding="same", use_bias=False, implementation=implementation
    )
    x, tangent = _input((7, 6), 3, "channels_last", 1), _input((7, 6), 3, "channels_last", 2)
    layer.build(x.shape)
    y, y_dot = jax.jvp(layer, (x,), (tangent,))
    (kernel,) = layer.get_weights()
    expected = _Reference(tangent, kernel, 2, "same", 1, depthwise).forward()
    np.testing.assert_allclose(np.asarray(y_dot), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(y), _np(layer(x)), rtol=1e-6, atol=1e-6)


def test_forward_mode_autodiff_through_patches_on_jax():
    """A 3x3 kernel reaching beyond a 2x3 output (a product of patches on JAX's CPU)."""
    if backend.name() != "jax":
        pytest.skip("forward-mode autodiff through a layer is tested on JAX (jax.jvp)")
    import jax

    layer = kcv.layers.Conv2D(5, 3, padding="same", use_bias=False)
    x, tangent = _input((2, 3), 3, "channels_last", 1), _input((2, 3), 3, "channels_last", 2)
    layer.build(x.shape)
    _, y_dot = jax.jvp(layer, (x,), (tangent,))
    (kernel,) = layer.get_weights()
    expected = _Reference(tangent, kernel, 1, "same", 1, False).forward()
    np.testing.assert_allclose(np.asarray(y_dot), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer_class", ["DepthwiseConv2D", "Conv2D"])
def test_forward_mode_autodiff_is_refused_by_custom_gradients_on_jax(layer_class):
    """The shifted depthwise form, and a grouped convolution on JAX's CPU."""
    if backend.name() != "jax" or backend.has_accelerator():
        pytest.skip("only JAX's CPU forms have a reverse-mode-only custom gradient")
    import jax

    if layer_class == "DepthwiseConv2D":
        layer = kcv.layers.DepthwiseConv2D(3, padding="same", implementation="shifted")
    else:
        layer = kcv.layers.Conv2D(6, 3, padding="same", groups=3)
    x = _input((7, 6), 3, "channels_last")
    layer.build(x.shape)
    with pytest.raises(TypeError, match="forward-mode autodiff") as refused:
        jax.jvp(layer, (x,), (x,))
    assert 'implementation="native"' in str(refused.value)
    with pytest.raises(TypeError, match="forward-mode autodiff"):
        jax.jacfwd(lambda v: keras.ops.sum(layer(v)))(x)


# --- Live taps (atrous convolutions on small maps) ---------------------------


def test_live_taps_drop_the_taps_that_read_only_padding():
    from kcv.layers.conv import live_taps

    # DeepLab v3's ASPP at output stride 16 on a 2x2 map: a 1x1 filter is left.
    assert live_taps((3, 3), (1, 1), "same", (6, 6), (2, 2)) == (slice(1, 2), slice(1, 2))
    assert live_taps((3, 3), (1, 1), "same", (2, 2), (2, 2)) == (slice(1, 2), slice(1, 2))
    # A tall map keeps the vertical taps; a 5-tap kernel at rate 2 on 3 pixels keeps 3.
    assert live_taps((3, 3), (1, 1), "same", (6, 6), (8, 2)) == (slice(0, 3), slice(1, 2))
    assert live_taps((5, 5), (1, 1), "same", (2, 2), (3, 3)) == (slice(1, 4), slice(1, 4))
    # Every tap live, or a convolution the rule does not cover: nothing to drop.
    assert live_taps((3, 3), (1, 1), "same", (6, 6), (7, 7)) is None
    assert live_taps((3, 3), (2, 2), "same", (1, 1), (1, 1)) is None
    assert live_taps((3, 3), (1, 1), "valid", (6, 6), (2, 2)) is None
    assert live_taps((3, 3), (1, 1), "same", (6, 6), (None, 2)) is None
    assert live_taps((2, 2), (1, 1), "same", (6, 6), (2, 2)) is None


@pytest.mark.parametrize("implementation", [0, 1], ids=["native", "fast"])
@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("size, rate", [((2, 2), 6), ((5, 3), 4), ((3, 3), 1)])
def test_atrous_layers_with_dead_taps_equal_keras(
    depthwise, data_format, size, rate, implementation
):
    """Outputs and every gradient (dead taps: zero) match Keras' own layers."""
    _skip_unsupported(data_format)
    x = _input(size, 4, data_format, seed=7)
    kwargs = dict(padding="same", dilation_rate=rate, data_format=data_format)
    if depthwise:
        chosen = IMPLEMENTATIONS["depthwise"][implementation]
        ours = kcv.layers.DepthwiseConv2D(3, implementation=chosen, **kwargs)
        theirs = keras.layers.DepthwiseConv2D(3, **kwargs)
    else:
        chosen = IMPLEMENTATIONS["conv"][implementation]
        ours = kcv.layers.Conv2D(5, 3, implementation=chosen, **kwargs)
        theirs = keras.layers.Conv2D(5, 3, **kwargs)
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [
        np.random.default_rng(8).standard_normal(w.shape).astype("float32")
        for w in ours.get_weights()
    ]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    target = np.full(_np(theirs(x)).shape, 0.5, "float32")

    def loss_fn(t, y):
        return keras.ops.sum(keras.ops.square(y - keras.ops.convert_to_tensor(t)))

    (loss_a, grads_a), (loss_b, grads_b) = (
        backend.value_and_gradients(layer, x, target, loss_fn) for layer in (ours, theirs)
    )
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    for ga, gb in zip(grads_a, grads_b):
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-4)
    _, input_grad_a = backend.value_and_input_gradient(lambda v: keras.ops.sum(ours(v) ** 2), x)
    _, input_grad_b = backend.value_and_input_gradient(lambda v: keras.ops.sum(theirs(v) ** 2), x)
    np.testing.assert_allclose(_np(input_grad_a), _np(input_grad_b), rtol=1e-4, atol=1e-4)


@pytest.mark.xfail(
    backend.name() == "tensorflow",
    strict=True,
    reason="Keras 3 bug: on TensorFlow, keras.ops.add(x, bias of shape (1, C, 1, 1)) "
    "becomes tf.nn.bias_add(NHWC) when x's width equals C, and keras.layers.Conv2D "
    "adds its bias with it (kcv.layers.Conv2D keeps Keras' bias code)",
)
def test_conv2d_bias_on_a_channels_first_map_as_wide_as_its_channels():
    """Keras' bias, channels_first, width == filters (1x1 "matmul": runs on any CPU)."""
    layer = kcv.layers.Conv2D(
        6, 1, data_format="channels_first", activation="tanh", implementation="matmul"
    )
    x = _input((5, 6), 3, "channels_first", seed=12)
    geometry = dict(strides=1, padding="valid", dilation=1)
    _check_against_reference(layer, x, "channels_first", geometry, depthwise=False)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    "groups, strides, padding, dilation",
    [(2, 2, "same", 1), (4, 1, "valid", 1), (1, 2, "same", 1), (2, 1, "same", 2)],
)
def test_native_conv2d_equals_keras_conv2d(data_format, groups, strides, padding, dilation):
    """Grouped and strided: the same outputs and gradients as ``keras.layers.Conv2D``
    (on torch, kcv's "native" is PyTorch's conv2d without Keras' layout copies)."""
    _skip_unsupported(data_format)
    options = dict(
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        groups=groups,
        data_format=data_format,
    )
    ours = kcv.layers.Conv2D(8, 3, implementation="native", **options)
    theirs = keras.layers.Conv2D(8, 3, **options)
    _assert_same_as_keras(ours, theirs, _input((9, 8), 4, data_format))


@pytest.mark.parametrize(
    "size, strides, product",
    [((2, 3), 1, True), ((9, 8), 1, False), ((4, 5), 2, True), ((18, 16), 2, False)],
)
def test_pointwise_auto_conv2d_equals_keras_conv2d(size, strides, product, monkeypatch):
    """A 1x1 convolution, 16 -> 24 channels, "auto": the outputs and gradients of
    ``keras.layers.Conv2D`` on every backend; on torch's CPU, where it reads a 2x3 map
    (the kernel larger than the maps; at stride 2 from a 4x5 map) a matrix product that
    never calls conv2d, where it reads a 9x8 map conv2d, and with
    ``implementation="native"`` conv2d on all."""
    ours = kcv.layers.Conv2D(24, 1, strides=strides)
    theirs = keras.layers.Conv2D(24, 1, strides=strides)
    x = _input(size, 16, "channels_last")
    _assert_same_as_keras(ours, theirs, x)
    if backend.name() == "torch" and not backend.has_accelerator():
        import torch.nn.functional as F

        calls, conv2d = [], F.conv2d
        monkeypatch.setattr(F, "conv2d", lambda *a, **k: calls.append(a) or conv2d(*a, **k))
        ours(x)
        assert bool(calls) != product, f"conv2d called {len(calls)} time(s)"
        native = kcv.layers.Conv2D(24, 1, strides=strides, implementation="native")
        native(x)
        assert len(calls) == 1 + (not product), "implementation='native' is conv2d"


@pytest.mark.parametrize("size, copies", [((2, 3), True), ((9, 8), False)])
def test_auto_conv2d_on_small_maps_equals_keras_conv2d(size, copies, monkeypatch):
    """A 3x3 convolution, 16 -> 24 channels, "auto": the outputs and gradients of
    ``keras.layers.Conv2D`` on every backend; on torch's CPU, on a 2x3 map (the kernel
    over three times the maps) conv2d on contiguous NCHW copies, on a 9x8 map on
    channels_last views, and with ``implementation="native"`` on views for both."""
    ours = kcv.layers.Conv2D(24, 3, padding="same")
    theirs = keras.layers.Conv2D(24, 3, padding="same")
    x = _input(size, 16, "channels_last")
    _assert_same_as_keras(ours, theirs, x)
    if backend.name() == "torch" and not backend.has_accelerator():
        import torch.nn.functional as F

        inputs, conv2d = [], F.conv2d
        monkeypatch.setattr(F, "conv2d", lambda *a, **k: inputs.append(a[0]) or conv2d(*a, **k))
        ours(x)
        kcv.layers.Conv2D(24, 3, padding="same", implementation="native")(x)
        assert [t.is_contiguous() for t in inputs] == [copies, False]


def _assert_same_as_keras(ours, theirs, x):
    """Same weights: the same outputs and gradients (input, kernel, bias)."""
    rng = np.random.default_rng(12)
    for layer in (ours, theirs):
        layer.build(x.shape)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in theirs.get_weights()]
    for layer in (ours, theirs):
        layer.set_weights(weights)
    y = _np(ours(x))
    np.testing.assert_allclose(y, _np(theirs(x)), rtol=1e-5, atol=1e-5)
    grad_y = rng.standard_normal(y.shape).astype("float32")
    for got, want in zip(_layer_gradients(ours, x, grad_y), _layer_gradients(theirs, x, grad_y)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _xla_cpu():
    return backend.name() == "jax" and not backend.has_accelerator()


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    "kernel_size, strides, padding, dilation, size, patches",
    [
        (3, 1, "same", 1, (2, 3), True),  # 3 taps on a 2-row output
        (3, 2, "same", 1, (4, 5), True),  # 2x3 output: the input gradient's case
        (7, 2, "same", 1, (7, 7), True),
        (3, 1, "valid", 1, (4, 4), True),
        (3, 1, "valid", 2, (6, 7), True),  # dilated, a 2x3 output
        (3, 1, "same", 2, (4, 6), False),  # reach 5 > 4 rows, every tap live: XLA's kernel
        ((1, 3), 1, "same", 1, (9, 2), True),
        (3, 2, "same", 1, (6, 6), False),
        (3, 1, "same", 1, (9, 8), False),
    ],
)
def test_auto_conv2d_past_its_output_equals_keras_conv2d(
    data_format, kernel_size, strides, padding, dilation, size, patches, monkeypatch
):
    """A kernel reaching beyond its output: "auto" gives ``keras.layers.Conv2D``'s
    outputs and gradients on every backend; on JAX's CPU as a product of patches,
    without a convolution, where the output has fewer pixels than the kernel has taps."""
    _skip_unsupported(data_format)
    options = dict(
        strides=strides, padding=padding, dilation_rate=dilation, data_format=data_format
    )
    ours = kcv.layers.Conv2D(6, kernel_size, **options)
    theirs = keras.layers.Conv2D(6, kernel_size, **options)
    x = _input(size, 5, data_format)
    _assert_same_as_keras(ours, theirs, x)
    if _xla_cpu():
        calls, conv = [], keras.ops.conv
        monkeypatch.setattr(keras.ops, "conv", lambda *a, **k: calls.append(1) or conv(*a, **k))
        ours(x)
        assert bool(calls) != patches, f"ops.conv called {len(calls)} time(s)"
        kcv.layers.Conv2D(6, kernel_size, implementation="native", **options)(x)
        assert len(calls) == 1 + (not patches), "implementation='native' is ops.conv"


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    "groups, kernel_size, strides, padding, dilation, size",
    [
        (2, 3, 1, "same", 1, (9, 8)),
        (4, 3, 2, "same", 1, (9, 8)),
        (4, 3, 1, "valid", 2, (9, 8)),
        (2, 1, 1, "same", 1, (5, 4)),
        (4, 3, 1, "same", 1, (2, 2)),
    ],
)
def test_auto_grouped_conv2d_equals_keras_conv2d(
    data_format, groups, kernel_size, strides, padding, dilation, size, monkeypatch
):
    """Grouped, "auto": ``keras.layers.Conv2D``'s outputs and gradients on every backend;
    on JAX's CPU the forward pass is ``ops.conv`` and the kernel gradient kcv's product
    of patches (through ``kcv.backend.custom_conv_gradients``), chunked over the batch."""
    _skip_unsupported(data_format)
    options = dict(
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        groups=groups,
        data_format=data_format,
    )
    ours = kcv.layers.Conv2D(8, kernel_size, **options)
    theirs = keras.layers.Conv2D(8, kernel_size, **options)
    x = _input(size, 4, data_format)
    if _xla_cpu():
        chunked, custom = [], backend.custom_conv_gradients
        monkeypatch.setattr(
            backend,
            "custom_conv_gradients",
            lambda *a, **k: chunked.append(1) or custom(*a, chunk_bytes=4 * x[0].size, **k),
        )
    _assert_same_as_keras(ours, theirs, x)
    if _xla_cpu():
        assert chunked, "the grouped kernel gradient did not go through custom_conv_gradients"
