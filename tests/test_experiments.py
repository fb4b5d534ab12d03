"""kcv.experiments: seeds, paired differences, records; and their figures in kcv.viz."""

import json
import re

import matplotlib
import numpy as np
import pytest
from scipy import stats

from kcv import experiments
from kcv import viz

matplotlib.use("Agg")
pytestmark = pytest.mark.backend_independent


def _comparison(a, b, name="demo", seeds=None):
    seeds = list(range(len(a))) if seeds is None else seeds
    metrics = {"a": {"acc": list(a)}, "b": {"acc": list(b)}}
    return experiments.Comparison(name, ["a", "b"], seeds, metrics, {"a": [1.0], "b": [2.0]}, {})


def test_compare_gives_every_arm_of_a_seed_the_same_random_state():
    calls = []

    def arm(label):
        def run(seed):
            calls.append((label, seed))
            return {"draw": float(np.random.rand()), "curve": [seed, seed + 1.0]}

        return run

    c = experiments.compare({"x": arm("x"), "y": arm("y")}, [3, 4, 5], "random", verbose=0)
    # Seed by seed, every arm of a seed before the next seed.
    assert calls == [("x", 3), ("y", 3), ("x", 4), ("y", 4), ("x", 5), ("y", 5)]
    x, y = c.values("draw", "x"), c.values("draw", "y")
    np.testing.assert_array_equal(x, y)  # numpy's state was reset to the seed before each run
    assert len(set(x.tolist())) == 3  # and the seeds differ
    assert c.values("curve", "y").tolist() == [[3, 4], [4, 5], [5, 6]]
    assert c.seeds == [3, 4, 5] and c.arms == ["x", "y"]
    assert all(len(c.seconds[arm]) == 3 for arm in c.arms)
    assert c.info["backend"] and c.info["versions"] and c.info["date"]


def test_difference_matches_scipy_and_the_sign_flip_test_counted_by_hand():
    a, b = [0.80, 0.71, 0.93, 0.62], [0.50, 0.52, 0.58, 0.66]
    d = _comparison(a, b).difference("acc", "a", "b")
    ref = stats.ttest_rel(a, b).confidence_interval(0.95)
    np.testing.assert_allclose([d.low, d.high], [ref.low, ref.high], rtol=1e-10)
    np.testing.assert_allclose(d.mean, np.mean(np.subtract(a, b)))
    assert d.wins == 3
    # Differences 0.30, 0.19, 0.35, -0.04: of the 16 sign patterns only
    # (+,+,+,+), (+,+,+,-) and their negatives reach |mean| >= 0.2: p = 4/16.
    assert d.p_value == pytest.approx(4 / 16)
    assert not d.clear  # the interval reaches below zero
    assert _comparison([1.0, 1.1, 0.9], [0.0, 0.05, -0.02]).difference("acc", "a", "b").clear


def test_one_seed_has_no_spread_and_no_conclusion():
    c = _comparison([0.9], [0.5])
    d = c.difference("acc", "a", "b")
    assert np.isnan(d.sd) and np.isnan(d.low) and not d.clear and d.p_value == 1.0
    assert "no conclusion" in c.outcome("acc", "a", "b")
    assert "0.900 |" in c.table()  # no "±" without a spread


def test_outcome_states_whether_the_effect_exceeds_the_spread():
    clear = _comparison([0.81, 0.80, 0.82], [0.70, 0.71, 0.69])
    text = clear.outcome("acc", "a", "b", scale=100, unit="points", digits=1)
    assert text.startswith(
        "over 3 seeds, a minus b on acc: +11.0 ± 2.0 points (95% CI +6.0 to +16.0;"
    )
    assert "higher on 3, lower on 0 of 3 seeds" in text and text.endswith(
        "larger than the seed spread."
    )
    noisy = _comparison([0.81, 0.60, 0.75], [0.70, 0.71, 0.69])
    assert noisy.outcome("acc", "a", "b").endswith("within the seed spread, no effect shown.")


def test_table_shows_mean_and_sample_sd():
    table = _comparison([0.8, 0.7, 0.9], [0.5, 0.5, 0.6]).table()
    assert "| a | 0.800 ± 0.100 | 1.0 |" in table  # sd with ddof=1
    assert table.startswith("demo: mean ± standard deviation over 3 seeds [0, 1, 2]")


def test_save_keeps_other_comparisons_and_loads_back(tmp_path):
    path = str(tmp_path / "results" / "13_demo.json")
    first = _comparison([0.8, 0.7], [0.5, 0.6], name="first")
    first.save(path, chapter="13_demo")
    _comparison([0.1, 0.2], [0.3, 0.4], name="second").save(path)
    with open(path) as f:
        record = json.load(f)
    assert record["chapter"] == "13_demo"
    assert list(record["comparisons"]) == ["first", "second"]
    loaded = experiments.load(path)
    assert loaded["first"].metrics == first.metrics and loaded["first"].seeds == [0, 1]
    assert loaded["second"].difference("acc", "a", "b").mean == pytest.approx(-0.2)
    assert not (tmp_path / "results" / "13_demo.json.part").exists()


@pytest.mark.parametrize(
    "arms, seeds, name, argument",
    [
        ({}, [0], "x", "`arms`"),
        ({"a": 1}, [0], "x", "`arms['a']`"),
        ({"a": lambda s: {"m": 1}}, [0, 0], "x", "`seeds`"),
        ({"a": lambda s: {"m": 1}}, [-1], "x", "`seeds`"),
        ({"a": lambda s: {"m": 1}}, [0], "", "`name`"),
        ({"a": lambda s: None}, [0], "x", "`run of arm 'a'`"),
        ({"a": lambda s: {"m": "high"}}, [0], "x", "`run of arm 'a': metric 'm'`"),
        ({"a": lambda s: {"m": [[1, 2]]}}, [0], "x", "`run of arm 'a': metric 'm'`"),
        ({"a": lambda s: {"m": 1}, "b": lambda s: {"n": 1}}, [0], "x", "`run of arm 'b' (seed 0)`"),
        (
            {"a": lambda s: {"m": 1} if s else {"m": 1, "n": 2}},
            [0, 1],
            "x",
            "`run of arm 'a' (seed 1)`",
        ),
    ],
)
def test_compare_rejects_bad_arguments_with_their_names(arms, seeds, name, argument):
    with pytest.raises(ValueError, match="^" + re.escape(argument + " must be")):
        experiments.compare(arms, seeds, name, verbose=0)


def test_unknown_metric_arm_and_curve_are_refused():
    c = experiments.compare(
        {"a": lambda s: {"m": s, "curve": [s, 1]}, "b": lambda s: {"m": 1, "curve": [0, 1]}},
        [0, 1],
        "x",
        verbose=0,
    )
    with pytest.raises(ValueError, match="^`metric` must be one of"):
        c.difference("accuracy", "a", "b")
    with pytest.raises(ValueError, match="^`baseline` must be one of"):
        c.difference("m", "a", "c")
    with pytest.raises(ValueError, match="^`metric` must be a metric with one number"):
        c.difference("curve", "a", "b")
    with pytest.raises(ValueError, match="^`metrics` must be scalar metrics"):
        viz.comparison_figure(c, "curve")
    with pytest.raises(ValueError, match="^`metric` must be a curve metric"):
        viz.comparison_curves(c, "m")


def test_figures_draw_one_grey_line_per_seed_and_a_band_per_arm():
    c = experiments.compare(
        {"a": lambda s: {"m": s, "curve": [s, 1, 2]}, "b": lambda s: {"m": 1, "curve": [0, 1, 3]}},
        [0, 1, 2],
        "x",
        verbose=0,
    )
    fig = viz.comparison_figure(c, ["m"])
    (ax,) = fig.axes
    assert len([line for line in ax.lines if line.get_color() == "0.6"]) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    fig = viz.comparison_curves(c, "curve", arms=["b"])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0, 1, 3])
    with pytest.raises(ValueError, match="^`arms` must be some of"):
        viz.comparison_curves(c, "curve", arms=["z"])
