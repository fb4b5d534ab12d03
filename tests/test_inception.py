"""InceptionModule: GoogLeNet's counts, branch receptive fields, errors."""

import keras
import numpy as np
import pytest

import kcv

# GoogLeNet, Table 1: (in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
INCEPTION_3A = (192, 64, 96, 128, 16, 32, 32)
INCEPTION_4E = (528, 256, 160, 320, 32, 128, 128)  # Table 1 rounds to 840K


def _paper_params(c, f1, r3, f3, r5, f5, fp):
    """Convolutions with biases, no BN (the paper's module)."""
    return (
        (c * f1 + f1)
        + (c * r3 + r3)
        + (9 * r3 * f3 + f3)
        + (c * r5 + r5)
        + (25 * r5 * f5 + f5)
        + (c * fp + fp)
    )


@pytest.mark.parametrize("config, expected", [(INCEPTION_3A, 163_696), (INCEPTION_4E, 868_352)])
def test_paper_modules_parameter_counts(config, expected):
    in_channels, *filters = config
    block = kcv.layers.InceptionModule(*filters)
    block.build((None, 14, 14, in_channels))
    assert block.count_params() == _paper_params(*config) == expected
    out = block.compute_output_shape((None, 14, 14, in_channels))
    assert out == (None, 14, 14, filters[0] + filters[2] + filters[4] + filters[5])


def test_branches_see_their_receptive_fields():
    """A perturbation at one pixel reaches each branch only within its kernel.

    Channel slices in order: 1x1 (radius 0), 3x3 (1), 5x5 (2), pool -> 1x1 (1).
    """
    block = kcv.layers.InceptionModule(4, 4, 4, 4, 4, 4)
    x = np.random.default_rng(0).uniform(0.5, 1.0, (1, 11, 11, 3)).astype("float32")
    block.build(x.shape)
    for weight in block.weights:  # positive weights and inputs: no ReLU hides a change
        weight.assign(np.abs(keras.ops.convert_to_numpy(weight)) + 0.01)
    bumped = x.copy()
    bumped[0, 5, 5, :] += 10.0
    changed = (
        np.abs(keras.ops.convert_to_numpy(block(bumped)) - keras.ops.convert_to_numpy(block(x)))
        > 1e-6
    )
    for index, radius in enumerate((0, 1, 2, 1)):
        rows, cols = np.nonzero(changed[0, :, :, 4 * index : 4 * index + 4].any(axis=-1))
        assert rows.size, f"branch {index} ignores the perturbation"
        assert max(np.abs(rows - 5).max(), np.abs(cols - 5).max()) <= radius, f"branch {index}"


def test_factorized_branch_has_two_3x3_convolutions():
    block = kcv.layers.InceptionModule(4, 4, 4, 2, 6, 4, factorize_5x5=True, batch_norm=True)
    block.build((None, 8, 8, 3))
    kernels = [w.shape for w in block.trainable_weights if len(w.shape) == 4]
    assert (3, 3, 2, 6) in kernels and (3, 3, 6, 6) in kernels
    assert not any(k[0] == 5 for k in kernels)
    assert all(len(w.shape) != 1 or "bn" in w.path for w in block.trainable_weights)  # no conv bias


@pytest.mark.parametrize(
    "index, name",
    list(
        enumerate(
            [
                "filters_1x1",
                "filters_3x3_reduce",
                "filters_3x3",
                "filters_5x5_reduce",
                "filters_5x5",
                "filters_pool_proj",
            ]
        )
    ),
)
def test_non_positive_filters_are_named(index, name):
    filters = [4] * 6
    filters[index] = 0
    with pytest.raises(ValueError, match=f"`{name}` must be an integer >= 1"):
        kcv.layers.InceptionModule(*filters)


def test_wrong_rank_is_rejected():
    with pytest.raises(ValueError, match="input` must be a 4D tensor"):
        kcv.layers.InceptionModule(4, 4, 4, 4, 4, 4).build((None, 8, 3))
