"""MSDNet layers: information flow between scales, pruning, exits, bad input."""

import keras
import numpy as np
import pytest

from kcv import layers

RNG = np.random.default_rng(0)
SHAPES = [(2, 16, 16, 8), (2, 8, 8, 16), (2, 4, 4, 32)]


def _scales(shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype("float32") for s in shapes]


def _numpy(tensors):
    return [keras.ops.convert_to_numpy(t) for t in tensors]


def test_dense_layer_keeps_its_input_first():
    x = _scales()
    outputs = _numpy(layers.MSDDenseLayer(4)(x, training=False))
    for inp, out in zip(x, outputs):
        np.testing.assert_array_equal(out[..., : inp.shape[-1]], inp)


def test_dense_layer_information_flows_from_fine_to_coarse_only():
    layer = layers.MSDDenseLayer(4)
    x = _scales()
    base = _numpy(layer(x, training=False))
    for perturbed in range(3):
        y = [a.copy() for a in x]
        y[perturbed] += 1.0
        changed = [not np.allclose(a, b) for a, b in zip(_numpy(layer(y, training=False)), base)]
        # Scale s reads scales s and s - 1: a change at scale p reaches scales p and p + 1.
        assert changed == [s in (perturbed, perturbed + 1) for s in range(3)], perturbed


def test_pruned_layer_equals_the_full_layer_on_the_kept_scales():
    x = _scales()
    full = layers.MSDDenseLayer(4)
    pruned = layers.MSDDenseLayer(4, out_scales=2)
    expected = _numpy(full(x, training=False))[1:]
    pruned(x)
    by_path = {w.path.split("/", 1)[1]: w for w in full.weights}
    for w in pruned.weights:
        w.assign(by_path[w.path.split("/", 1)[1]])
    got = _numpy(pruned(x, training=False))
    assert len(got) == 2
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-5)


def test_bottleneck_width_follows_the_official_rule():
    # nInner = min(nIn, bnWidth * nOut): scale 2's regular path reads 32
    # channels with factor 4 and makes 8, so min(32, 32) = 32; with growth 2
    # it makes 4 and the bottleneck narrows to min(32, 16) = 16.
    for growth, inner in ((4, 32), (2, 16)):
        layer = layers.MSDDenseLayer(growth)
        layer(_scales())
        kernel = {w.path.split("/", 1)[1]: w for w in layer.weights}[
            "scale2_normal_bottleneck/kernel"
        ]
        assert tuple(kernel.shape) == (1, 1, 32, inner)


def test_first_layer_scales_and_stems():
    x = np.zeros((1, 64, 64, 3), "float32")
    cifar = layers.MSDFirstLayer(4, growth_factor=(1, 2, 4, 4))
    assert [tuple(t.shape) for t in cifar(x)] == [
        (1, 64, 64, 4),
        (1, 32, 32, 8),
        (1, 16, 16, 16),
        (1, 8, 8, 16),
    ]
    imagenet = layers.MSDFirstLayer(4, growth_factor=(1, 2, 4, 4), stem="imagenet")
    assert [tuple(t.shape[1:3]) for t in imagenet(x)] == [(16, 16), (8, 8), (4, 4), (2, 2)]


def test_classifier_reads_only_the_coarsest_scale():
    layer = layers.MSDClassifier(3, filters=8)
    x = _scales()
    base = keras.ops.convert_to_numpy(layer(x, training=False))
    y = [x[0] + 1.0, x[1] + 1.0, x[2]]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(y, training=False)), base)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x[2], training=False)), base)


def test_a_small_msdnet_block_chain_trains_end_to_end():
    # First layer -> 2 dense layers -> prune + transition -> exit, as the model will chain them.
    inputs = keras.Input((16, 16, 3))
    x = layers.MSDFirstLayer(8)(inputs)
    x = layers.MSDDenseLayer(4)(x)
    x = layers.MSDDenseLayer(4, out_scales=2)(x)
    x = layers.MSDTransition(8)(x)
    model = keras.Model(inputs, layers.MSDClassifier(4, filters=8)(x))
    model.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    history = model.fit(
        RNG.random((4, 16, 16, 3), dtype="float32"), np.arange(4) % 4, epochs=2, verbose=0
    )
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: layers.MSDFirstLayer(0), "`filters` must be an integer >= 1"),
        (
            lambda: layers.MSDFirstLayer(8, growth_factor=()),
            "`growth_factor` must be a non-empty sequence",
        ),
        (
            lambda: layers.MSDFirstLayer(8, growth_factor=(1, 0)),
            "`growth_factor` must be a non-empty sequence of integers >= 1",
        ),
        (lambda: layers.MSDFirstLayer(8, stem="tiny"), "`stem` must be one of"),
        (lambda: layers.MSDDenseLayer(-1), "`growth_rate` must be an integer >= 1"),
        (
            lambda: layers.MSDDenseLayer(4, bottleneck_factor=(1, 2)),
            "`bottleneck_factor` must be a sequence with one entry per scale",
        ),
        (lambda: layers.MSDDenseLayer(4, out_scales=0), "`out_scales` must be an integer >= 1"),
        (lambda: layers.MSDTransition(0), "`filters` must be an integer >= 1"),
        (lambda: layers.MSDClassifier(0), "`classes` must be an integer >= 1"),
        (lambda: layers.MSDClassifier(10, filters=0), "`filters` must be an integer >= 1"),
    ],
)
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "layer, shapes, message",
    [
        # More scales than growth factors: the layer cannot index their widths.
        (
            layers.MSDDenseLayer(4, growth_factor=(1, 2)),
            SHAPES,
            "`growth_factor` must be a sequence with one factor per input scale \\(3 inputs\\), received \\(1, 2\\)",
        ),
        (
            layers.MSDTransition(4, growth_factor=(1, 2)),
            SHAPES,
            "`growth_factor` must be a sequence with one factor per input scale \\(3 inputs\\)",
        ),
        # Dropping two scales at once is not an MSDNet layer.
        (
            layers.MSDDenseLayer(4, out_scales=1),
            SHAPES,
            "`out_scales` must be the number of input scales",
        ),
        (
            layers.MSDDenseLayer(4),
            [(2, 16, 16, 8), (2, 16, 16, 16)],
            "`MSDDenseLayer input` must be scales that each halve the previous height and width",
        ),
        (
            layers.MSDDenseLayer(4),
            (2, 16, 16, 8),
            "`MSDDenseLayer input` must be a list of per-scale tensors",
        ),
        (layers.MSDDenseLayer(4), [(2, 16, 16)], "rank|4D|dimensions"),
    ],
)
def test_bad_inputs_raise_value_error_at_build(layer, shapes, message):
    with pytest.raises(ValueError, match=message):
        layer.build(shapes)
