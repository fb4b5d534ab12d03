"""Anytime and budgeted-batch inference (MSDNet Sec. 3): thresholds, routing, costs."""

import numpy as np
import pytest

from kcv import adaptive

pytestmark = pytest.mark.backend_independent


def _official_thresholds(probs, fractions):
    """The official loop, sample by sample, written independently as a reference."""
    exits, samples, _ = probs.shape
    confidence = probs.max(axis=2)
    order = np.argsort(-confidence, axis=1, kind="stable")
    gone = np.zeros(samples)
    thresholds = np.full(exits, 1e8)
    for k in range(exits - 1):
        quota, count = int(np.floor(samples * fractions[k])), 0
        for i in order[k]:
            if gone[i] == 0:
                count += 1
                if count == quota:
                    thresholds[k] = confidence[k, i]
                    break
        gone += confidence[k] >= thresholds[k]
    thresholds[-1] = -1e8
    return thresholds


def _synthetic(samples=500, exits=4, classes=10, seed=0):
    """Later exits are sharper and more often right, as in a trained MSDNet."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, samples)
    logits = rng.normal(size=(exits, samples, classes))
    for k in range(exits):
        logits[k, np.arange(samples), labels] += 0.8 * (k + 1)
    return adaptive.softmax(logits), labels


def test_realised_exit_fractions_follow_the_geometric_distribution():
    # The bar: on synthetic confidences, fractions within 1% of the request.
    probs, labels = _synthetic(samples=5000)
    for q in (0.5, 1.0, 2.0):
        wanted = adaptive.geometric_exit_fractions(q, 4)
        thresholds = adaptive.exit_thresholds(probs, wanted)
        got = adaptive.dynamic_evaluate(probs, labels, thresholds, [1, 2, 3, 4]).exits / 5000
        np.testing.assert_allclose(got, wanted, atol=0.01)


def test_geometric_fractions():
    np.testing.assert_allclose(adaptive.geometric_exit_fractions(1.0, 4), [0.25] * 4)
    p = adaptive.geometric_exit_fractions(0.5, 3)
    np.testing.assert_allclose(p, np.array([0.5, 0.25, 0.125]) / 0.875)
    assert np.all(np.diff(adaptive.geometric_exit_fractions(2.0, 5)) > 0)


@pytest.mark.parametrize("q", [0.2, 0.7, 1.0, 1.8])
def test_thresholds_match_the_official_loop_and_quotas(q):
    probs, _ = _synthetic()
    fractions = adaptive.geometric_exit_fractions(q, 4)
    thresholds = adaptive.exit_thresholds(probs, fractions)
    reference = _official_thresholds(probs, fractions)
    np.testing.assert_array_equal(np.isinf(thresholds[:-1]), reference[:-1] == 1e8)
    finite = np.isfinite(thresholds)
    np.testing.assert_allclose(thresholds[finite], reference[finite])
    # Continuous confidences have no ties: exactly floor(n p_k) samples leave at each early exit.
    result = adaptive.dynamic_evaluate(probs, np.zeros(500, int), thresholds, [1, 2, 3, 4])
    np.testing.assert_array_equal(result.exits[:-1], np.floor(500 * fractions[:-1]))


def test_routing_extremes_equal_single_exits():
    probs, labels = _synthetic()
    anytime = adaptive.anytime_accuracy(probs, labels)
    assert np.all(np.diff(anytime) > 0)
    first = adaptive.dynamic_evaluate(probs, labels, [-np.inf] * 4, [1, 2, 3, 4])
    assert (first.accuracy, first.mean_cost, first.exits.tolist()) == (
        anytime[0],
        1.0,
        [500, 0, 0, 0],
    )
    last = adaptive.dynamic_evaluate(probs, labels, [np.inf] * 4, [1, 2, 3, 4])
    assert (last.accuracy, last.mean_cost, last.exits.tolist()) == (
        anytime[-1],
        4.0,
        [0, 0, 0, 500],
    )


def test_budget_curve_trades_cost_for_accuracy():
    val, val_labels = _synthetic(seed=1)
    test, test_labels = _synthetic(seed=2)
    curve = adaptive.budgeted_batch_curve(
        val, val_labels, test, test_labels, [1, 2, 3, 4], qs=[0.1, 1.0, 4.0]
    )
    costs = [r.mean_cost for _, r in curve]
    accuracies = [r.accuracy for _, r in curve]
    assert costs == sorted(costs) and costs[0] < costs[-1]
    assert accuracies[-1] > accuracies[0]
    # Confidence-based routing beats the single exit of the same average cost.
    _, middle = curve[1]
    anytime = adaptive.anytime_accuracy(test, test_labels)
    assert middle.accuracy > np.interp(middle.mean_cost, [1, 2, 3, 4], anytime)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: adaptive.geometric_exit_fractions(0, 3), "`q` must be a number > 0"),
        (lambda: adaptive.geometric_exit_fractions(1.0, 0), "`n_exits` must be an integer >= 1"),
        (
            lambda: adaptive.exit_thresholds(np.ones((3, 4)), [1.0]),
            r"`val_probs` must be an array of shape \(exits",
        ),
        (
            lambda: adaptive.exit_thresholds(np.full((2, 4, 3), 1 / 3), [0.5, 0.6]),
            "`fractions` must be 2 non-negative",
        ),
        (
            lambda: adaptive.exit_thresholds(np.full((2, 4, 3), 0.5), [0.5, 0.5]),
            "`val_probs` must be probabilities",
        ),
        (
            lambda: adaptive.dynamic_evaluate(
                np.full((2, 4, 3), 1 / 3), [0, 1, 2, 0], [0, 0], [2, 1]
            ),
            "`exit_costs` must be non-negative and non-decreasing",
        ),
        (
            lambda: adaptive.dynamic_evaluate(np.full((2, 4, 3), 1 / 3), [0, 1], [0, 0], [1, 2]),
            "`labels` must be 4 integer",
        ),
        (
            lambda: adaptive.dynamic_evaluate(np.full((2, 4, 3), 1 / 3), [0, 1, 2, 0], [0], [1, 2]),
            "`thresholds` must be an array with one entry per exit",
        ),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
