"""kcv.interpret: Grad-CAM and CAM against maps worked out by hand, on every backend.

Two networks whose answer is known in closed form:

* the "two corners" network: channel 0 of the input lights the top-left
  corner and drives class 0, channel 1 lights the bottom-right corner and
  drives class 1 (identity 1x1 convolution with stride 2, global average
  pooling, identity classifier);
* a linear network ``f = x·V + b`` (1x1 convolution, no activation), global
  average pooling and a dense classifier ``W``: the class activation map is
  ``M_c = f·W[:, c]`` (Zhou et al., Eq. 1-2) and, since
  ``∂y^c/∂f_k(i, j) = W[k, c] / (H·W)``, Grad-CAM is ``ReLU(M_c)`` up to its
  scale (Selvaraju et al., Sec. 3.1). Both are computed here with NumPy from
  the weights, independently of the code under test.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import backend
from kcv import interpret


def _skip_unsupported(data_format):
    supported, reason = backend.channels_first_support()
    if data_format == "channels_first" and not supported:
        pytest.skip(reason)


def _two_corner_model(data_format="channels_last", activation=None):
    shape = (16, 16, 2) if data_format == "channels_last" else (2, 16, 16)
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(
        2, 1, strides=2, activation="relu", data_format=data_format, name="conv"
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format, name="gap")(x)
    outputs = keras.layers.Dense(2, activation=activation, name="classifier")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights(
        [np.eye(2, dtype="float32")[None, None], np.zeros(2, "float32")]
    )
    model.get_layer("classifier").set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    return model


def _two_corner_image(data_format="channels_last"):
    image = np.zeros((16, 16, 2), "float32")
    image[:6, :6, 0] = 1.0  # drives class 0
    image[10:, 10:, 1] = 0.5  # drives class 1
    return image if data_format == "channels_last" else np.moveaxis(image, -1, 0)


CORNERS = {0: (slice(0, 8), slice(0, 8)), 1: (slice(8, 16), slice(8, 16))}


# --- A linear network: the maps in closed form --------------------------------------

RNG = np.random.default_rng(7)
V = RNG.standard_normal((3, 4)).astype("float32")  # 1x1 convolution, 3 -> 4 channels
B = RNG.standard_normal(4).astype("float32")
W = RNG.standard_normal((4, 5)).astype("float32")  # classifier, 4 features -> 5 classes
C = RNG.standard_normal(5).astype("float32")
IMAGE = RNG.standard_normal((6, 7, 3)).astype("float32")


def _linear_model(activation=None):
    """Input 6x7x3 -> 1x1 conv (V, B; linear) -> GAP -> dense (W, C)."""
    inputs = keras.Input((6, 7, 3))
    x = keras.layers.Conv2D(4, 1, name="features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, activation=activation, name="fc")(x))
    model.get_layer("features").set_weights([V[None, None], B])
    model.get_layer("fc").set_weights([W, C])
    return model


def _reference_maps(image, class_index):
    """CAM ``M_c`` and Grad-CAM ``ReLU(M_c)``, each scaled as kcv documents, by NumPy."""
    features = image @ V + B  # (H, W, 4)
    cam = features @ W[:, class_index]  # Zhou et al., M_c(x, y) = Σ_k w_k^c f_k(x, y)
    shifted = cam - cam.min()
    cam_unit = shifted / shifted.max()
    grad = np.maximum(cam, 0.0)  # α_k = W[k, c] / (H·W) > 0 scaling: ReLU(Σ α_k f_k) ∝ ReLU(M_c)
    return cam_unit, grad / grad.max()


@pytest.mark.parametrize("class_index", [0, 3])
def test_cam_and_grad_cam_equal_the_closed_form_of_a_linear_network(class_index):
    """The feature map has the input's size, so the bilinear resize is the identity."""
    model = _linear_model()
    cam, grad = _reference_maps(IMAGE, class_index)
    assert 0 < (cam > 0).sum() < cam.size and (grad == 0).any()  # the ReLU matters
    np.testing.assert_allclose(
        interpret.class_activation_map(model, IMAGE, class_index), cam, atol=1e-5
    )
    np.testing.assert_allclose(interpret.grad_cam(model, IMAGE, class_index), grad, atol=1e-5)


def test_grad_cam_takes_the_score_before_the_softmax_and_leaves_the_model_alone():
    """With a softmax on the classifier, the map is still the logits' (the closed form)."""
    model = _linear_model(activation="softmax")
    probabilities = model.predict(IMAGE[None], verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    _, grad = _reference_maps(IMAGE, 2)
    np.testing.assert_allclose(interpret.grad_cam(model, IMAGE, 2), grad, atol=1e-5)
    classifier = model.get_layer("fc")
    assert classifier.activation is keras.activations.softmax
    assert [layer.name for layer in model.layers][-1] == "fc"
    np.testing.assert_allclose(model.predict(IMAGE[None], verbose=0), probabilities, rtol=1e-6)
    for w, w0 in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize(
    "softmax",
    [
        lambda x: keras.layers.Dense(5, activation="softmax", name="fc")(x),
        lambda x: keras.layers.Softmax()(keras.layers.Dense(5, name="fc")(x)),
        lambda x: keras.layers.Activation("softmax")(keras.layers.Dense(5, name="fc")(x)),
    ],
)
def test_class_scores_are_the_logits_under_every_kind_of_final_softmax(softmax):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, softmax(inputs))
    model.get_layer("fc").set_weights([W, C])
    x = RNG.standard_normal((3, 4)).astype("float32")
    scores = keras.ops.convert_to_numpy(interpret.class_scores(model)(x))
    np.testing.assert_allclose(scores, x @ W + C, rtol=1e-5, atol=1e-5)
    plain = keras.Model(inputs, keras.layers.Dense(5)(inputs))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(interpret.class_scores(plain)(x)),
        keras.ops.convert_to_numpy(plain(x)),
    )


def test_heat_map_returns_the_class_it_explains():
    model = _linear_model()
    logits = IMAGE.mean(axis=(0, 1)) @ V + B
    top = int(np.argmax(logits @ W + C))
    heat, chosen = interpret.heat_map(model, IMAGE, method="cam")
    assert chosen == top
    np.testing.assert_allclose(heat, _reference_maps(IMAGE, top)[0], atol=1e-5)
    heat, chosen = interpret.heat_map(model, np.stack([IMAGE, IMAGE]), class_index=[1, 4])
    assert heat.shape == (2, 6, 7) and chosen.tolist() == [1, 4]
    with pytest.raises(ValueError, match="`method`"):
        interpret.heat_map(model, IMAGE, method="saliency")


# --- The two-corner network -----------------------------------------------------------


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("method", [interpret.grad_cam, interpret.class_activation_map])
def test_heat_map_lights_the_region_that_drives_the_class(method, data_format):
    _skip_unsupported(data_format)
    model = _two_corner_model(data_format)
    image = _two_corner_image(data_format)
    for class_index, corner in CORNERS.items():
        heat = method(model, image, class_index=class_index, data_format=data_format)
        assert heat.shape == (16, 16)
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
        assert heat[corner].sum() / heat.sum() > 0.99
        assert heat[corner].max() == heat.max()


def test_grad_cam_equals_cam_for_a_gap_and_dense_network():
    model, image = _two_corner_model(), _two_corner_image()
    for class_index in CORNERS:
        np.testing.assert_allclose(
            interpret.grad_cam(model, image, class_index),
            interpret.class_activation_map(model, image, class_index),
            atol=1e-6,
        )


def test_grad_cam_is_the_same_with_a_final_softmax():
    image = _two_corner_image()
    with_softmax = _two_corner_model(activation="softmax")
    np.testing.assert_allclose(
        interpret.grad_cam(with_softmax, image, 1),
        interpret.grad_cam(_two_corner_model(), image, 1),
        atol=1e-6,
    )
    assert with_softmax.get_layer("classifier").activation is keras.activations.softmax


def test_heat_maps_of_a_batch_with_one_class_per_image():
    model = _two_corner_model()
    batch = np.stack([_two_corner_image(), _two_corner_image()])
    heat = interpret.grad_cam(model, batch, class_index=[0, 1], layer_name="conv")
    assert heat.shape == (2, 16, 16)
    assert heat[0][CORNERS[0]].max() == 1.0 and heat[1][CORNERS[1]].max() == 1.0
    # Without class_index: the top class, class 0 (mean 9/64 against 4.5/64).
    np.testing.assert_allclose(interpret.class_activation_map(model, batch)[1], heat[0], atol=1e-6)


def test_grad_cam_rejects_a_layer_that_a_connection_bypasses():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="first")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", name="second")(a)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    image = np.ones((8, 8, 3), "float32")
    with pytest.raises(ValueError, match="`layer_name`.*bypass"):
        interpret.grad_cam(model, image, layer_name="second")
    assert interpret.grad_cam(model, image).shape == (8, 8)  # default: the Add, after the skip


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: interpret.grad_cam(m, np.zeros((16, 16))), "`image` must be one image"),
        (lambda m: interpret.grad_cam(m, _two_corner_image(), class_index=2), "`class_index`"),
        (
            lambda m: interpret.grad_cam(m, _two_corner_image(), layer_name="nope"),
            "`layer_name` 'nope'",
        ),
        (
            lambda m: interpret.grad_cam(m, _two_corner_image(), layer_name="gap"),
            "`layer_name` must name",
        ),
        (
            lambda m: interpret.class_activation_map(m, _two_corner_image(), layer_name="gap"),
            "4D feature",
        ),
    ],
)
def test_heat_map_arguments_are_checked(call, match):
    with pytest.raises(ValueError, match=match):
        call(_two_corner_model())


def test_heat_maps_need_one_output_and_cam_a_classifier():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    two_exits = keras.Model(inputs, [keras.layers.Flatten()(x), keras.layers.Flatten()(x)])
    with pytest.raises(ValueError, match="`model` must be .* single output"):
        interpret.grad_cam(two_exits, np.ones((8, 8, 3)))
    with pytest.raises(ValueError, match="`model` must be .* single output"):
        interpret.class_scores(two_exits)
    with pytest.raises(ValueError, match="global average pooling and a dense"):
        interpret.class_activation_map(keras.Model(inputs, x), np.ones((8, 8, 3)))


# --- kcv.backend.value_and_input_gradient, which Grad-CAM differentiates with ------------


def test_input_gradient_of_a_function():
    value, grad = backend.value_and_input_gradient(
        lambda x: keras.ops.sum(x**2), np.array([[1.0, -2.0], [0.5, 3.0]], "float32")
    )
    assert value == pytest.approx(14.25)
    np.testing.assert_allclose(grad, [[2.0, -4.0], [1.0, 6.0]])


def test_input_gradient_through_a_model_and_of_a_constant():
    dense = keras.layers.Dense(3)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")
    _, grad = backend.value_and_input_gradient(lambda a: keras.ops.sum(dense(a)), x)
    kernel = keras.ops.convert_to_numpy(dense.kernel.value)
    np.testing.assert_allclose(grad, np.broadcast_to(kernel.sum(axis=1), x.shape), rtol=1e-5)
    value, grad = backend.value_and_input_gradient(lambda a: keras.ops.sum(keras.ops.ones((2,))), x)
    assert value == 2.0 and grad.shape == x.shape and not grad.any()


# --- SENet's excitations and activations -------------------------------------------------


def _se_model():
    """Two SE layers; "se1" gates are sigmoid(4 z - 2) for squeezed channels z."""
    inputs = keras.Input((6, 6, 2))
    x = kcv.layers.SqueezeExcite(1, name="se1")(inputs)
    x = kcv.layers.SqueezeExcite(1, name="se2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    eye = np.eye(2, dtype="float32")
    zeros = np.zeros(2, "float32")
    model.get_layer("se1").set_weights([eye, zeros, 4 * eye, zeros - 2])
    images = np.zeros((5, 6, 6, 2), "float32")
    images[:2, ..., 0] = 1.0
    images[2:, ..., 1] = 1.0
    return model, images, np.array([0, 0, 2, 2, 2])


def test_mean_excitations_per_class_are_the_gates():
    model, images, labels = _se_model()
    means = interpret.mean_excitations(model, images, labels, layer_names=["se1"], batch_size=2)
    high, low = 1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))
    assert list(means) == ["se1"] and list(means["se1"]) == [0, 2, "all"]
    np.testing.assert_allclose(means["se1"][0], [high, low], rtol=1e-5)
    np.testing.assert_allclose(means["se1"][2], [low, high], rtol=1e-5)
    overall = (2 * means["se1"][0] + 3 * means["se1"][2]) / 5
    np.testing.assert_allclose(means["se1"]["all"], overall, rtol=1e-5)


def test_mean_excitations_read_the_se_gate_inside_residual_blocks():
    """SE-ResNet's gates sit inside its blocks; with zero FC weights and a
    last bias of 1, the gate is sigmoid(1) on every channel, whatever the image."""
    inputs = keras.Input((6, 6, 8))
    x = kcv.layers.BasicBlock(8, attention=kcv.layers.SqueezeExcite(2), name="block")(inputs)
    x = kcv.layers.BasicBlock(8, name="plain")(x)
    model = keras.Model(inputs, x)
    se = model.get_layer("block").attention
    se.set_weights([np.zeros_like(w) for w in se.get_weights()[:3]] + [np.ones(8, "float32")])
    images = np.random.default_rng(0).standard_normal((4, 6, 6, 8)).astype("float32")
    means = interpret.mean_excitations(model, images, np.array([0, 1, 1, 0]))
    assert list(means) == ["block"], "only the block with an SE gate is reported"
    for key in (0, 1, "all"):
        np.testing.assert_allclose(
            means["block"][key], np.full(8, 1 / (1 + np.exp(-1.0))), rtol=1e-5
        )


def test_mean_excitations_arguments_are_checked():
    model, images, labels = _se_model()
    with pytest.raises(ValueError, match="`layer_names` must be names of SqueezeExcite"):
        interpret.mean_excitations(model, images, labels, layer_names=[model.layers[-1].name])
    with pytest.raises(ValueError, match="`labels` must be 5 integer"):
        interpret.mean_excitations(model, images, labels[:3])
    with pytest.raises(ValueError, match="must be a model with SqueezeExcite layers"):
        interpret.mean_excitations(_two_corner_model(), np.zeros((1, 16, 16, 2)), [0])


def test_activations_of_a_layer_are_its_outputs():
    model = _two_corner_model()
    maps = interpret.activations(model, _two_corner_image()[None], "conv")
    assert maps.shape == (1, 8, 8, 2)
    np.testing.assert_allclose(maps[0], np.maximum(_two_corner_image()[::2, ::2], 0.0))
    assert interpret.activations(model, _two_corner_image()[None]).shape == (1, 2)
    with pytest.raises(ValueError, match="`layer_name` 'nope'"):
        interpret.activations(model, _two_corner_image()[None], "nope")
