"""MSDNet: the official configurations' parameter counts, scale pruning, training, adaptive use."""

import keras
import numpy as np
import pytest

from kcv import adaptive
from kcv import layers
from kcv import losses
from kcv import models
from kcv import testing
from kcv.models import msdnet


# Counted with the official MSDNet-PyTorch structure (models/msdnet.py) built with the
# README's command lines: CIFAR-100 anytime (7 blocks, even steps of 2, base 4, 16
# channels, growth 6, factors 1-2-4), CIFAR-100 budgeted batch (5 blocks, lin_grow, step 1,
# base 1) and ImageNet (5 blocks, step 4, base 4, 32 channels, growth 16, factors 1-2-4-4;
# its stem is a plain nn.Conv2d(3, 32, 7, 2, 3), whose default bias adds 32 parameters).
@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "preset, params, exits",
    [
        ("cifar_anytime", 3_067_960, 7),
        ("cifar_budgeted", 2_078_924, 5),
        ("imagenet", 23_958_440, 5),
    ],
)
def test_presets_match_the_official_parameter_counts(preset, params, exits):
    model = testing.stateless(models.MSDNet, preset=preset)
    assert testing.trainable_parameters(model) == params
    assert model.output_names == [f"exit_{k}" for k in range(1, exits + 1)]


@pytest.mark.backend_independent
def test_prune_min_and_cifar10_counts():
    # Same official structure: CIFAR anytime with 10 classes; with prune "min".
    assert (
        testing.trainable_parameters(
            testing.stateless(models.MSDNet, preset="cifar_anytime", classes=10)
        )
        == 2_986_690
    )
    assert (
        testing.trainable_parameters(
            testing.stateless(models.MSDNet, preset="cifar_anytime", prune="min")
        )
        == 2_819_862
    )


@pytest.mark.backend_independent
def test_block_steps_and_where_scales_are_dropped():
    assert msdnet.block_steps(5, 1, 1, "lin_grow") == [1, 2, 3, 4, 5]
    assert msdnet.block_steps(7, 2, 4, "even") == [4, 2, 2, 2, 2, 2, 2]
    # 16 layers, 3 scales, prune "max": a scale every ceil(16 / 3) = 6 layers, so layers
    # 7 and 13 drop one, each followed by a transition.
    plan = msdnet._layer_plan([4, 2, 2, 2, 2, 2, 2], 3, "max", 0.5)
    assert [i + 1 for i, p in enumerate(plan) if p.transition] == [7, 13]
    assert [p.out_scales for p in plan] == [3] * 6 + [2] * 6 + [1] * 4
    model = testing.stateless(models.MSDNet, preset="cifar_anytime")
    names = [layer.name for layer in model.layers]
    assert "block3_transition7" in names and "block6_transition13" in names


def test_small_msdnet_trains_on_every_exit_and_feeds_adaptive_inference():
    keras.utils.set_random_seed(0)
    model = models.MSDNet(
        input_shape=(16, 16, 3),
        classes=3,
        blocks=3,
        step=1,
        base=1,
        channels=4,
        growth_rate=2,
        growth_factor=(1, 2),
        classifier_filters=8,
    )
    rng = np.random.default_rng(0)
    x = rng.random((8, 16, 16, 3), dtype="float32")
    y = np.arange(8) % 3
    model.compile(optimizer="adam", **losses.multi_exit_losses(3))  # the paper's sum of exit losses
    history = model.fit(x, [y] * 3, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    logits = np.stack([np.asarray(o) for o in model.predict(x, verbose=0)])
    assert logits.shape == (3, 8, 3)
    probs = adaptive.softmax(logits)
    thresholds = adaptive.exit_thresholds(probs, adaptive.geometric_exit_fractions(1.0, 3))
    result = adaptive.dynamic_evaluate(probs, y, thresholds, [1.0, 2.0, 3.0])
    assert result.exits.sum() == 8 and 1.0 <= result.mean_cost <= 3.0


def test_exit_model_stops_at_its_exit():
    model = models.MSDNet(
        input_shape=(16, 16, 3),
        classes=3,
        blocks=3,
        step=1,
        base=1,
        channels=4,
        growth_rate=2,
        growth_factor=(1, 2),
        classifier_filters=8,
    )
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype="float32")
    full = [keras.ops.convert_to_numpy(y) for y in model(x, training=False)]
    first = adaptive.exit_model(model, 1)
    names = {layer.name for layer in first.layers}
    assert "exit_1" in names and "exit_2" not in names and "block3_layer3" not in names
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(first(x, training=False)), full[0], atol=1e-6
    )
    with pytest.raises(ValueError, match=r"`exit_index` must be an integer in \[1, 3\]"):
        adaptive.exit_model(model, 4)


def test_imagenet_stem_shapes():
    model = models.MSDNet(
        input_shape=(128, 128, 3),
        classes=4,
        blocks=1,
        base=1,
        channels=4,
        growth_rate=2,
        growth_factor=(1, 2, 4, 4),
        stem="imagenet",
        classifier_filters="input",
    )
    first = model.get_layer("first_layer")
    assert [tuple(t.shape[1:3]) for t in first.output] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert model.outputs[0].shape == (None, 4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"preset": "tiny"}, "`preset` must be one of"),
        ({"classes": 10}, "`blocks` must be given"),
        ({"blocks": 2}, "`classes` must be given"),
        (
            {"preset": "cifar_anytime", "reduction": 1.0},
            r"`reduction` must be a number in \[0, 1\)",
        ),
        ({"preset": "cifar_anytime", "prune": "avg"}, "`prune` must be one of"),
        ({"preset": "cifar_anytime", "step_mode": "exp"}, "`step_mode` must be one of"),
        (
            {"preset": "cifar_anytime", "classifier_filters": 0},
            "`classifier_filters` must be an integer >= 1",
        ),
        (
            {"preset": "cifar_anytime", "growth_factor": (1, 2)},
            "`bottleneck_factor` must be a sequence with one entry per scale",
        ),
        ({"preset": "cifar_anytime", "input_shape": (32, 32)}, "`input_shape` must be"),
        # CIFAR stem, 3 scales: 2 scale steps + 2 exit convolutions halve a side 4 times;
        # 4x4 would give 1x1 coarse scales (4, 2, 1) and exits on 1x1 maps.
        (
            {"preset": "cifar_anytime", "input_shape": (4, 4, 3)},
            r"`input_shape` must be \(height, width, channels\) with height and width >= 9",
        ),
        # ImageNet stem (7x7/2 conv, 3x3/2 pool), 4 scales, 2 exit convolutions: 7 halvings.
        (
            {"preset": "imagenet", "input_shape": (64, 64, 3)},
            "height and width >= 65",
        ),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.MSDNet(**kwargs)


@pytest.mark.backend_independent
def test_multi_exit_losses():
    compiled = losses.multi_exit_losses(3, weights=[0.5, 1, 2])
    assert len(compiled["loss"]) == 3 and compiled["loss_weights"] == [0.5, 1.0, 2.0]
    assert losses.multi_exit_losses(2)["loss_weights"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="`weights` must be 3 non-negative"):
        losses.multi_exit_losses(3, weights=[1, 1])
    with pytest.raises(ValueError, match="`n_exits` must be an integer >= 1"):
        losses.multi_exit_losses(0)


def test_exit_costs_are_cumulative_and_include_earlier_exits():
    model = models.MSDNet(
        input_shape=(16, 16, 3),
        classes=3,
        blocks=3,
        step=1,
        base=1,
        channels=4,
        growth_rate=2,
        growth_factor=(1, 2),
        classifier_filters=8,
    )
    costs = adaptive.exit_costs(model)
    from kcv import analysis

    assert costs[-1] == analysis.count_macs(model)
    for k in range(len(costs)):  # each exit costs its sub-network, earlier classifiers included
        assert costs[k] == analysis.count_macs(keras.Model(model.inputs, model.outputs[: k + 1]))
    assert np.all(np.diff(costs) > 0)
    per_layer = analysis.count_macs(model, by_layer=True)
    head = set(model.get_layer("exit_1")._flatten_layers())
    exit_1 = sum(macs for layer, macs in per_layer.items() if layer in head)
    assert exit_1 > 0
    # Exit 2 needs exit 1's head too: its sub-network alone costs exit_1's MACs less.
    alone = analysis.count_macs(keras.Model(model.inputs, model.outputs[1]))
    assert costs[1] == alone + exit_1


def test_lazy_exit_costs_leave_out_the_finer_scales_an_exit_does_not_need():
    """Two dense layers, an exit after each; 3 scales 8x8x4, 4x4x8, 2x2x16 after the first layer.

    Counted by hand (3x3 convolutions, no bottlenecks, growth rate 2: new channels
    2, 4, 8 per scale, half from each path where a finer scale exists):
    exit 1 reads scale 2 of dense layer 1, which needs its input scales 1 and 2 only,
    so dense 1's scale 0 (9·4·2·64 = 4,608) and scale 1 (strided 9·4·2·16 + regular
    9·8·2·16 = 3,456) wait: 8,064 MACs fewer. Exit 2 reads scale 2 of dense 2, which
    needs dense 1's scales 1 and 2 only: dense 1's scale 0 (4,608), dense 2's scale 0
    (9·6·2·64 = 6,912) and scale 1 (9·6·2·16 + 9·12·2·16 = 5,184) are never computed.
    """
    image = keras.Input((8, 8, 3))
    scales = layers.MSDFirstLayer(4, growth_factor=(1, 2, 4))(image)
    dense_1 = layers.MSDDenseLayer(2, growth_factor=(1, 2, 4), bottleneck=False)(scales)
    dense_2 = layers.MSDDenseLayer(2, growth_factor=(1, 2, 4), bottleneck=False)(dense_1)
    exits = [layers.MSDClassifier(3, filters=4)(x) for x in (dense_1, dense_2)]
    model = keras.Model(image, exits)
    eager = adaptive.exit_costs(model)
    lazy = adaptive.exit_costs(model, lazy=True)
    assert (eager - lazy).tolist() == [8_064, 4_608 + 6_912 + 5_184]


def test_lazy_costs_of_the_paper_networks_fall_at_the_early_exits_only():
    with keras.StatelessScope(initialize_variables=False):
        model = models.MSDNet(preset="imagenet")
        eager = adaptive.exit_costs(model)
        lazy = adaptive.exit_costs(model, lazy=True)
    assert np.all(lazy <= eager) and np.all(np.diff(lazy) > 0)
    assert lazy[0] < 0.8 * eager[0]  # the first exit needs only part of the finer scales
    assert lazy[-1] == eager[-1]  # every scale the pruned network computes feeds some exit


def test_lazy_must_be_a_bool_and_scale_parts_needs_a_built_layer():
    with keras.StatelessScope(initialize_variables=False):
        model = models.MSDNet(preset="cifar_budgeted")
    with pytest.raises(ValueError, match="`lazy` must be True or False"):
        adaptive.exit_costs(model, lazy="yes")
    with pytest.raises(ValueError, match="`MSDDenseLayer` must be a built layer"):
        layers.MSDDenseLayer(2).scale_parts()
