"""Experiments over several seeds: run the arms of a comparison, report the effect and its spread.

A chapter's claim ("label smoothing lowers the confidence of wrong
predictions") is a comparison of *arms* (hard labels, smoothed labels) that
differ in one thing. One run per arm cannot tell an effect from the luck of
one initialisation, so :func:`compare` runs every arm once per seed, with the
same seed for every arm of a seed (Keras' random state is reset to it before
each run: same initial weights where the architectures agree, same batch
order), and keeps what each run returns. The :class:`Comparison` it returns
summarises each arm (mean ± standard deviation over seeds) and each pair of
arms (the paired differences, their 95 % confidence interval from Student's
t distribution and an exact sign-flip permutation test), states the outcome
in words, and saves itself as JSON for ``tools/reproduce.py`` and the book.

An effect is called *clear* when the confidence interval of the paired
difference excludes zero: with three seeds this needs differences that agree
in sign and are large against their spread, which is the point.

Reference:
    Student (W. S. Gosset), "The Probable Error of a Mean", Biometrika 1908.
    Fisher, "The Design of Experiments", 1935, Sec. 21 (the randomisation
    test that :meth:`Comparison.difference` computes exactly).
"""

import datetime
import itertools
import json
import math
import os
import platform
import time

import numpy as np

from kcv import _validation

# Metric values a run may return: a number, or a sequence of numbers (a curve).
_FORMAT = 1


def _as_metric(arm, name, value):
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if np.ndim(value) == 0:
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    else:
        array = np.asarray(value)
        if array.ndim == 1 and np.issubdtype(array.dtype, np.number):
            return [float(v) for v in array]
    _validation.fail(
        f"run of arm {arm!r}: metric {name!r}",
        "a number or a 1-D sequence of numbers",
        value,
        received=f"a {type(value).__name__}",
    )


class Difference:
    """The paired difference ``arm - baseline`` of one metric over the seeds.

    Attributes:
        metric, arm, baseline: str. What was compared.
        values: numpy array, one difference per seed (in the order of ``seeds``).
        mean, sd: floats. Mean and sample standard deviation (``nan`` for one seed).
        low, high: floats. 95 % confidence interval of the mean (Student's t;
            ``nan`` for one seed).
        p_value: float. Two-sided exact sign-flip permutation test: the share
            of the ``2**n`` ways of flipping the differences' signs whose mean
            is at least as far from zero as the observed one (1.0 for one seed).
            With ``n`` seeds it cannot fall below ``2 / 2**n`` (0.25 for three).
        wins: int. Seeds on which the difference is positive.
        clear: bool. At least two seeds and a confidence interval that excludes 0.
    """

    def __init__(self, metric, arm, baseline, values):
        self.metric, self.arm, self.baseline = metric, arm, baseline
        self.values = np.asarray(values, dtype="float64")
        n = len(self.values)
        self.mean = float(self.values.mean())
        self.wins = int((self.values > 0).sum())
        if n > 1:
            from scipy import stats  # imported here: only this needs it

            self.sd = float(self.values.std(ddof=1))
            half = stats.t.ppf(0.975, n - 1) * self.sd / math.sqrt(n)
            self.low, self.high = self.mean - half, self.mean + half
        else:
            self.sd = self.low = self.high = float("nan")
        self.p_value = _sign_flip_p_value(self.values)
        self.clear = bool(n > 1 and (self.low > 0 or self.high < 0))

    def __repr__(self):
        return (
            f"Difference({self.arm!r} - {self.baseline!r}, {self.metric!r}: "
            f"{self.mean:+.4g} ± {self.sd:.2g}, 95% CI [{self.low:+.4g}, {self.high:+.4g}], "
            f"{self.wins}/{len(self.values)} seeds positive)"
        )


def _sign_flip_p_value(values):
    """Exact two-sided randomisation test of a zero mean for paired differences."""
    n = len(values)
    if n > 16:  # 65,536 sign patterns; beyond that the t interval says enough
        return float("nan")
    observed = abs(values.mean()) - 1e-12 * max(1.0, abs(values).max())
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    return float(np.mean(np.abs((signs * values).mean(axis=1)) >= observed))


class Comparison:
    """The results of :func:`compare`: every metric of every arm on every seed.

    Attributes:
        name: str. What is compared ("label smoothing").
        arms: list of str, in the order given to :func:`compare`.
        seeds: list of int.
        metrics: dict ``arm -> metric -> list over seeds`` of numbers, or of
            lists of numbers for curves.
        seconds: dict ``arm -> list over seeds`` of wall-clock seconds per run.
        info: dict. Where and when it ran (backend, versions, machine, date)
            and the ``parameters`` passed to :func:`compare`.
    """

    def __init__(self, name, arms, seeds, metrics, seconds, info):
        self.name, self.arms, self.seeds = name, list(arms), list(seeds)
        self.metrics, self.seconds, self.info = metrics, seconds, info

    def __repr__(self):
        return f"Comparison({self.name!r}, arms={self.arms}, seeds={self.seeds})"

    def _check_metric(self, metric, scalar=True):
        known = sorted(self.metrics[self.arms[0]])
        if metric not in known:
            _validation.fail("metric", f"one of {known}", metric)
        if scalar and isinstance(self.metrics[self.arms[0]][metric][0], list):
            _validation.fail("metric", "a metric with one number per run, not a curve", metric)
        return metric

    def _check_arm(self, argument, arm):
        if arm not in self.arms:
            _validation.fail(argument, f"one of {self.arms}", arm)
        return arm

    def values(self, metric, arm):
        """One metric of one arm, as an array: ``(seeds,)``, or ``(seeds, length)`` for curves."""
        self._check_metric(metric, scalar=False)
        return np.asarray(self.metrics[self._check_arm("arm", arm)][metric], dtype="float64")

    def difference(self, metric, arm, baseline):
        """The paired difference ``arm - baseline`` of a scalar metric.

        Args:
            metric: str. A metric every run returned as one number.
            arm: str. The arm whose effect is measured.
            baseline: str. The arm it is measured against.

        Returns:
            A :class:`Difference`.

        Example:

        >>> c = Comparison("demo", ["a", "b"], [0, 1, 2],
        ...                {"a": {"acc": [0.8, 0.7, 0.9]}, "b": {"acc": [0.5, 0.5, 0.6]}},
        ...                {"a": [1, 1, 1], "b": [1, 1, 1]}, {})
        >>> d = c.difference("acc", "a", "b")
        >>> round(d.mean, 3), d.wins, d.clear
        (0.267, 3, True)
        """
        self._check_metric(metric)
        self._check_arm("arm", arm)
        self._check_arm("baseline", baseline)
        return Difference(
            metric, arm, baseline, self.values(metric, arm) - self.values(metric, baseline)
        )

    def table(self, metrics=None, digits=3):
        """A Markdown table: per arm, each scalar metric's mean ± sd and the seconds per run.

        Args:
            metrics: list of str or None (every scalar metric, sorted).
            digits: int. Decimals shown.

        Returns:
            str, GitHub-flavoured Markdown (Jupyter shows it with ``IPython.display.Markdown``).
        """
        first = self.metrics[self.arms[0]]
        if metrics is None:
            metrics = sorted(m for m in first if not isinstance(first[m][0], list))
        metrics = [self._check_metric(m) for m in metrics]
        n = len(self.seeds)
        head = ["arm", *metrics, "s / run"]
        rows = [head, ["---"] * len(head)]
        for arm in self.arms:
            cells = [arm]
            for metric in metrics:
                values = self.values(metric, arm)
                spread = f" ± {values.std(ddof=1):.{digits}f}" if n > 1 else ""
                cells.append(f"{values.mean():.{digits}f}{spread}")
            cells.append(f"{np.mean(self.seconds[arm]):.1f}")
            rows.append(cells)
        caption = (
            f"{self.name}: mean ± standard deviation over {n} seed{'s' * (n > 1)} {self.seeds}"
        )
        return caption + "\n\n" + "\n".join("| " + " | ".join(row) + " |" for row in rows)

    def outcome(self, metric, arm, baseline, scale=1.0, unit="", digits=3):
        """The paired comparison of ``arm`` with ``baseline`` in one sentence.

        Args:
            metric: str. A scalar metric.
            arm, baseline: str. The arms compared (``arm - baseline``).
            scale: float. Multiplies the numbers shown (100 for accuracy in points).
            unit: str. Appended to the numbers ("points").
            digits: int. Decimals shown.

        Returns:
            str, one sentence: the number of seeds, the mean paired difference
            ± its standard deviation, the 95 % confidence interval, on how many
            seeds it was positive and negative, and whether it is *clear*
            (larger than the seed spread) or "within the seed spread, no
            effect shown".

        Example:

        >>> c = Comparison("demo", ["a", "b"], [0, 1, 2],
        ...                {"a": {"acc": [0.81, 0.80, 0.82]}, "b": {"acc": [0.70, 0.71, 0.69]}},
        ...                {"a": [1, 1, 1], "b": [1, 1, 1]}, {})
        >>> print(c.outcome("acc", "a", "b", scale=100, unit="points", digits=1))
        over 3 seeds, a minus b on acc: +11.0 ± 2.0 points (95% CI +6.0 to +16.0; higher on 3, lower on 0 of 3 seeds): clear, larger than the seed spread.
        """
        d = self.difference(metric, arm, baseline)
        n = len(d.values)
        u = f" {unit}" if unit else ""
        text = f"over {n} seed{'s' * (n > 1)}, {arm} minus {baseline} on {metric}: "
        text += f"{scale * d.mean:+.{digits}f}"
        if n == 1:
            return text + f"{u} (one seed: no spread, no conclusion)."
        losses = int((d.values < 0).sum())
        text += (
            f" ± {scale * d.sd:.{digits}f}{u} (95% CI {scale * d.low:+.{digits}f} to "
            f"{scale * d.high:+.{digits}f}; higher on {d.wins}, lower on {losses} of {n} seeds)"
        )
        if d.clear:
            return text + ": clear, larger than the seed spread."
        return text + ": within the seed spread, no effect shown."

    def to_dict(self):
        """Everything, as JSON-ready Python values."""
        return {
            "format": _FORMAT,
            "name": self.name,
            "arms": self.arms,
            "seeds": self.seeds,
            "metrics": self.metrics,
            "seconds": self.seconds,
            **self.info,
        }

    @classmethod
    def from_dict(cls, data):
        """The inverse of :meth:`to_dict`."""
        info = {
            k: v
            for k, v in data.items()
            if k not in ("format", "name", "arms", "seeds", "metrics", "seconds")
        }
        return cls(
            data["name"], data["arms"], data["seeds"], data["metrics"], data["seconds"], info
        )

    def save(self, path, chapter=None):
        """Adds this comparison to the JSON record at ``path`` (other comparisons there are kept).

        The record holds ``{"chapter": ..., "comparisons": {name: comparison}}``;
        it is written to a temporary file and moved into place, so a crash
        never leaves half a record.

        Args:
            path: str. The record, e.g. ``results/13_training_recipe.json``.
            chapter: str or None. The chapter the record belongs to (its
                notebook's stem); kept from the existing record when None.
        """
        record = {"chapter": chapter, "comparisons": {}}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
            record["chapter"] = chapter or record.get("chapter")
        record["comparisons"][self.name] = self.to_dict()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path + ".part", "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        os.replace(path + ".part", path)


def load(path):
    """The comparisons recorded at ``path`` by :meth:`Comparison.save`.

    Args:
        path: str. A JSON record (``results/<chapter>.json``).

    Returns:
        dict ``name -> Comparison``, in recorded order.

    Raises:
        FileNotFoundError: when there is no record at ``path``.
    """
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    return {name: Comparison.from_dict(data) for name, data in record["comparisons"].items()}


def _environment():
    import keras

    from kcv import backend

    return {
        "backend": keras.backend.backend(),
        "versions": backend.versions(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "devices": backend.devices(),
        },
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def compare(arms, seeds, name, parameters=None, clear_session=True, verbose=1):
    """Runs every arm once per seed and collects what each run measured.

    The runs go seed by seed (all arms of seed 0, then of seed 1...), so an
    interrupted experiment still has complete pairs. Before each run Keras'
    global random state is set to the seed (``keras.utils.set_random_seed``)
    and, with ``clear_session``, the models of the previous run are dropped.

    Args:
        arms: dict ``arm name -> run``; ``run(seed)`` trains and evaluates one
            arm and returns a dict ``metric -> number`` (or a 1-D sequence of
            numbers, e.g. a loss curve). Every run of every arm must return
            the same metrics.
        seeds: sequence of int. The seeds, e.g. ``[0, 1, 2]``.
        name: str. What is compared, used in tables and as the record's key.
        parameters: dict or None. The settings the runs share (image size,
            epochs...), kept in the record.
        clear_session: bool. Call ``keras.utils.clear_session()`` before each run.
        verbose: 0 (silent) or 1 (a Keras progress bar over the runs).

    Returns:
        A :class:`Comparison`.

    Example:

    >>> def run(scale):
    ...     return lambda seed: {"score": scale * (1 + seed)}
    >>> c = compare({"x1": run(1.0), "x2": run(2.0)}, seeds=[0, 1, 2], name="demo", verbose=0)
    >>> c.values("score", "x2").tolist()
    [2.0, 4.0, 6.0]
    """
    import keras

    if not isinstance(arms, dict) or len(arms) < 1:
        _validation.fail("arms", "a non-empty dict of arm name -> run(seed)", arms)
    for arm, run in arms.items():
        if not callable(run):
            _validation.fail(f"arms[{arm!r}]", "a function run(seed) -> dict of metrics", run)
    seeds = [int(s) for s in _validation.int_sequence("seeds", seeds, minimum=0)]
    if len(set(seeds)) != len(seeds):
        _validation.fail("seeds", "distinct seeds", seeds)
    if not isinstance(name, str) or not name:
        _validation.fail("name", "a non-empty string", name)
    verbose = _validation.one_of("verbose", verbose, (0, 1))
    arms_order = list(arms)
    metrics = {arm: {} for arm in arms}
    seconds = {arm: [] for arm in arms}
    progress = keras.utils.Progbar(len(seeds) * len(arms), unit_name="run") if verbose else None
    for i, seed in enumerate(seeds):
        for arm, run in arms.items():
            if clear_session:
                keras.utils.clear_session()
            keras.utils.set_random_seed(seed)
            start = time.perf_counter()
            result = run(seed)
            seconds[arm].append(time.perf_counter() - start)
            if not isinstance(result, dict) or not result:
                _validation.fail(f"run of arm {arm!r}", "a non-empty dict of metrics", result)
            expected = metrics[arms_order[0]] if (i or arm != arms_order[0]) else result
            if set(result) != set(expected):
                _validation.fail(
                    f"run of arm {arm!r} (seed {seed})",
                    f"the metrics of the first run, {sorted(expected)}",
                    sorted(result),
                )
            for metric, value in result.items():
                metrics[arm].setdefault(metric, []).append(_as_metric(arm, metric, value))
            if progress is not None:
                progress.add(1)
    info = {**_environment(), "parameters": dict(parameters or {})}
    return Comparison(name, list(arms), seeds, metrics, seconds, info)
