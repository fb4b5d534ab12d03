"""kcv.layers.MaxPooling2D: Keras' outputs and gradients, ties included, on every backend."""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend

CASES = [
    (3, 1, "same", (9, 8)),  # the inception branch
    (3, 2, "same", (9, 8)),
    (3, 2, "valid", (9, 9)),  # AlexNet's overlapping pooling
    (2, None, "valid", (9, 8)),  # VGG's, an odd side left over
    ((3, 2), (1, 2), "same", (7, 6)),
    (5, 1, "same", (4, 5)),  # the window larger than the map
    (2, 3, "valid", (8, 7)),  # a stride larger than the window: pixels no window reads
]


def _skip_unsupported(data_format):
    supported, reason = backend.channels_first_support()
    if data_format == "channels_first" and not supported:
        pytest.skip(reason)


def _relu_like(shape, seed=0):
    """Half the values zero, so that many windows hold tied maxima."""
    return np.maximum(np.random.default_rng(seed).standard_normal(shape), 0).astype("float32")


def _xla_cpu():
    return backend.name() == "jax" and not backend.has_accelerator()


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("pool_size, strides, padding, size", CASES)
def test_max_pooling2d_equals_keras(data_format, pool_size, strides, padding, size, monkeypatch):
    """Outputs and input gradients (eager and compiled) equal ``keras.layers.MaxPooling2D``'s;
    each tied window's gradient goes to one input, the first, as Keras' does."""
    _skip_unsupported(data_format)
    shape = (2, *size, 3) if data_format == "channels_last" else (2, 3, *size)
    x = _relu_like(shape)
    options = dict(pool_size=pool_size, strides=strides, padding=padding, data_format=data_format)
    ours, theirs = kcv.layers.MaxPooling2D(**options), keras.layers.MaxPooling2D(**options)
    y = keras.ops.convert_to_numpy(theirs(x))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours(x)), y)
    weights = keras.ops.convert_to_tensor(
        np.random.default_rng(1).standard_normal(y.shape).astype("float32")
    )
    grads = [
        backend.value_and_input_gradient(lambda v, f=f: keras.ops.sum(f(v) * weights), x, jit)[1]
        for f in (ours, theirs)
        for jit in (False, True)
    ]
    for grad in grads:
        np.testing.assert_allclose(grad, grads[-1], rtol=1e-5, atol=1e-6)
    if _xla_cpu():
        assert ours.implementation_in_use == "shifted"
        calls, max_pool = [], keras.ops.max_pool
        monkeypatch.setattr(
            keras.ops, "max_pool", lambda *a, **k: calls.append(1) or max_pool(*a, **k)
        )
        ours(x)
        assert not calls, "the shifted form called ops.max_pool"
    else:
        assert ours.implementation_in_use == "native"


def test_native_is_keras_and_the_choice_is_saved():
    pool = kcv.layers.MaxPooling2D(3, strides=1, padding="same", implementation="native")
    pool.build((2, 6, 6, 4))
    assert pool.implementation_in_use == "native"
    config = pool.get_config()
    assert config["implementation"] == "native"
    again = kcv.layers.MaxPooling2D.from_config(config)
    assert (again.pool_size, again.strides, again.padding) == ((3, 3), (1, 1), "same")


def test_bad_implementations_are_refused():
    with pytest.raises(ValueError, match="`implementation` must be one of"):
        kcv.layers.MaxPooling2D(implementation="fast")
    if backend.name() != "jax":
        with pytest.raises(ValueError, match="`implementation` must be 'auto' or 'native'"):
            kcv.layers.MaxPooling2D(implementation="shifted").build((2, 6, 6, 4))


@pytest.mark.skipif(backend.name() != "jax", reason="the shifted form is JAX's")
def test_any_image_size_and_forward_mode_on_jax():
    """A model built for any image size pools with the shifted form at each call's
    size; the form has a reverse-mode gradient only, and the error names the way out."""
    import jax

    inputs = keras.Input((None, None, 2))
    pool = kcv.layers.MaxPooling2D(3, strides=2, padding="same")
    model = keras.Model(inputs, pool(inputs))
    assert pool.implementation_in_use == ("shifted" if _xla_cpu() else "native")
    for size in ((7, 6), (4, 9)):
        x = _relu_like((1, *size, 2))
        expected = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
        np.testing.assert_array_equal(model(x), expected)
        np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    x = _relu_like((1, 6, 6, 2))
    shifted = kcv.layers.MaxPooling2D(3, strides=1, padding="same", implementation="shifted")
    with pytest.raises(TypeError, match='implementation="native"'):
        jax.jvp(shifted, (x,), (np.ones_like(x),))
    native = kcv.layers.MaxPooling2D(3, strides=1, padding="same", implementation="native")
    _, tangent = jax.jvp(native, (x,), (np.ones_like(x),))
    assert tangent.shape == (1, 6, 6, 2)
