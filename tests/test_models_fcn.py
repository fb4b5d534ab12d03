"""FCN-32s/16s/8s: parameter counts derived by hand, skip fusion, the bilinear kernel, errors.

Counts at 21 classes (PASCAL VOC), c = 21, derived from the layers (paper Fig. 3,
official voc-fcn*s/net.py; transposed convolutions without bias):

VGG-16 to fc7: torchvision vgg16 138,357,544 - its last dense layer (4096·1000 + 1000)
= 134,260,544 (fc6 as a 7x7x512x4096 convolution holds fc6's 25088x4096 weights).
  score_fr 4096·c + c = 86,037                       -> FCN-32s 134,346,581
  + upscore2 4·4·c·c = 7,056 + score_pool4 512·c + c = 10,773 -> FCN-16s 134,364,410
  + upscore_pool4 7,056 + score_pool3 256·c + c = 5,397       -> FCN-8s  134,376,863
ResNet-18 features: 11,689,512 - (512·1000 + 1000) = 11,176,512.
  score_fr 512·c + c = 10,773                        -> 32s 11,187,285
  + 7,056 + score on conv4 (256 ch) 5,397            -> 16s 11,199,738
  + 7,056 + score on conv3 (128 ch) 2,709            -> 8s  11,209,503
ResNet-50 features: 25,557,032 - (2048·1000 + 1000) = 23,508,032.
  score_fr 2048·c + c = 43,029                       -> 32s 23,551,061
  + 7,056 + score on conv4 (1024 ch) 21,525          -> 16s 23,579,642
  + 7,056 + score on conv3 (512 ch) 10,773           -> 8s  23,597,471
The final upsampling is fixed (non-trainable): (2s)²·c² = 1,806,336 (32s), 451,584
(16s), 112,896 (8s) weights.
"""

import keras
import numpy as np
import pytest

import kcv
from kcv import testing
from kcv.models.fcn import BilinearKernel

COUNTS = {
    ("vgg16", 32): 134_346_581,
    ("vgg16", 16): 134_364_410,
    ("vgg16", 8): 134_376_863,
    ("resnet18", 32): 11_187_285,
    ("resnet18", 16): 11_199_738,
    ("resnet18", 8): 11_209_503,
    ("resnet50", 32): 23_551_061,
    ("resnet50", 16): 23_579_642,
    ("resnet50", 8): 23_597_471,
}
FIXED = {32: 1_806_336, 16: 451_584, 8: 112_896}


@pytest.mark.backend_independent
@pytest.mark.parametrize("backbone, stride", sorted(COUNTS))
def test_fcn_counts(backbone, stride):
    model = testing.stateless(kcv.models.FCN, (512, 512, 3), 21, backbone=backbone, stride=stride)
    assert testing.trainable_parameters(model) == COUNTS[(backbone, stride)]
    final = model.get_layer(f"upscore{stride}")
    assert (
        not final.trainable and sum(int(np.prod(w.shape)) for w in final.weights) == FIXED[stride]
    )
    assert model.output_shape == (None, 512, 512, 21)
    assert model.name == f"fcn{stride}s_{backbone}"


@pytest.mark.backend_independent
@pytest.mark.parametrize("stride", [32, 16, 8])
def test_fcn_structure_per_stride(stride):
    model = testing.stateless(kcv.models.FCN, (64, 96, 3), 5, backbone="resnet18", stride=stride)
    names = {layer.name for layer in model.layers}
    skips = {"upscore2", "score_pool4", "fuse_pool4"}
    finer = {"upscore_pool4", "score_pool3", "fuse_pool3"}
    assert (skips <= names) == (stride <= 16) and (finer <= names) == (stride == 8)
    # The scores fused at 1/16 and 1/8 of the input, upsampled by the rest.
    assert model.get_layer("score_fr").output.shape[1:3] == (2, 3)
    if stride <= 16:
        assert model.get_layer("fuse_pool4").output.shape[1:3] == (4, 6)
        assert model.get_layer("upscore2").trainable
    if stride == 8:
        assert model.get_layer("fuse_pool3").output.shape[1:3] == (8, 12)
        assert model.get_layer("upscore_pool4").trainable
    final = model.get_layer(f"upscore{stride}")
    assert final.strides == (stride, stride) and final.kernel_size == (2 * stride, 2 * stride)
    assert model.output_shape == (None, 64, 96, 5)


@pytest.mark.backend_independent
def test_vgg_fcn_convolutionalises_fc6_fc7_and_taps_pool3_pool4():
    model = testing.stateless(kcv.models.FCN, (64, 64, 3), 21, stride=8)
    assert tuple(model.get_layer("fc6").kernel.shape) == (7, 7, 512, 4096)
    assert tuple(model.get_layer("fc7").kernel.shape) == (1, 1, 4096, 4096)
    assert model.get_layer("score_pool4").input is model.get_layer("block4_pool").output
    assert model.get_layer("score_pool3").input is model.get_layer("block3_pool").output


def _skip_changes_output(stride, skip):
    keras.utils.set_random_seed(0)
    model = kcv.models.FCN((64, 64, 3), 3, backbone="vgg16", stride=stride, fc_units=8)
    testing.randomize_weights(model, seed=0)
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x))
    layer = model.get_layer(skip)
    layer.set_weights([np.zeros(w.shape, "float32") for w in layer.get_weights()])
    return before, keras.ops.convert_to_numpy(model(x))


@pytest.mark.parametrize(
    "stride, skip", [(16, "score_pool4"), (8, "score_pool4"), (8, "score_pool3")]
)
def test_skips_reach_the_output(stride, skip):
    before, after = _skip_changes_output(stride, skip)
    assert np.abs(before - after).max() > 1e-3 * (1 + np.abs(before).max())


def test_untrained_fcn_outputs_zero_scores():
    # Every class-scoring convolution starts at zero (Long et al., Sec. 4.3).
    model = kcv.models.FCN((32, 32, 3), 4, backbone="resnet18", stride=8)
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    assert np.all(keras.ops.convert_to_numpy(model(x)) == 0.0)


def test_fcn_softmax_and_channels_first():
    from kcv import backend

    model = kcv.models.FCN((32, 32, 3), 4, "resnet18", 16, classifier_activation="softmax")
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)).sum(-1), 1.0, rtol=1e-5)
    supported, reason = backend.channels_first_support()
    if not supported:
        pytest.skip(reason)
    keras.config.set_image_data_format("channels_first")
    first = kcv.models.FCN((3, 32, 32), 4, "resnet18", 8)
    assert first.output_shape == (None, 4, 32, 32)
    assert keras.ops.convert_to_numpy(first(np.transpose(x, (0, 3, 1, 2)))).shape == (1, 4, 32, 32)


# The bilinear kernel, checked against interpolation computed independently.


def _half_pixel_bilinear(x, factor):
    """Bilinear upsampling of a (H, W) map, output pixel j at input coordinate (j + 0.5)/f - 0.5,
    by np.interp along each axis (clamped at the border)."""

    def along(a, axis):
        n = a.shape[axis]
        coords = (np.arange(n * factor) + 0.5) / factor - 0.5
        return np.apply_along_axis(lambda v: np.interp(coords, np.arange(n), v), axis, a)

    return along(along(x, 0), 1)


def _upsample(x, factor):
    layer = keras.layers.Conv2DTranspose(
        x.shape[-1],
        2 * factor,
        strides=factor,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearKernel(),
    )
    return keras.ops.convert_to_numpy(layer(x))


@pytest.mark.parametrize("factor", [2, 4, 8, 32])
def test_bilinear_kernel_interpolates(factor):
    rng = np.random.default_rng(factor)
    x = rng.standard_normal((1, 5, 4, 3)).astype("float32")
    got = _upsample(x, factor)
    assert got.shape == (1, 5 * factor, 4 * factor, 3)
    inner = slice(factor // 2, -(factor // 2))  # the border fades towards the zero padding
    for c in range(3):
        expected = _half_pixel_bilinear(x[0, :, :, c].astype("float64"), factor)
        np.testing.assert_allclose(got[0, inner, inner, c], expected[inner, inner], atol=1e-5)


def test_bilinear_kernel_on_a_constant_and_a_ramp():
    factor = 2
    ones = _upsample(np.ones((1, 4, 4, 1), "float32"), factor)
    np.testing.assert_allclose(ones[0, 1:-1, 1:-1, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(ones[0, 0, 1:-1, 0], 0.75, atol=1e-6)  # one of two taps: 3/4
    ramp = np.tile(np.arange(4, dtype="float32"), (4, 1))[None, :, :, None]  # x[i, j] = j
    got = _upsample(ramp, factor)[0, 2, 1:-1, 0]
    # Output column j sits at input coordinate (j + 0.5)/2 - 0.5: 0.25, 0.75, ..., 2.75.
    np.testing.assert_allclose(got, [0.25, 0.75, 1.25, 1.75, 2.25, 2.75], atol=1e-6)


@pytest.mark.backend_independent
def test_bilinear_kernel_values_and_serialization():
    kernel = keras.ops.convert_to_numpy(BilinearKernel()((4, 4, 2, 2)))
    taps = np.array([0.25, 0.75, 0.75, 0.25])  # surgery.upsample_filt(4): f = 2, centre 1.5
    np.testing.assert_allclose(kernel[:, :, 0, 0], np.outer(taps, taps))
    np.testing.assert_allclose(kernel[:, :, 1, 1], np.outer(taps, taps))
    assert np.all(kernel[:, :, 0, 1] == 0) and np.all(kernel[:, :, 1, 0] == 0)
    odd = keras.ops.convert_to_numpy(BilinearKernel()((3, 3, 1, 1)))[:, :, 0, 0]
    np.testing.assert_allclose(odd, np.outer([0.5, 1, 0.5], [0.5, 1, 0.5]))  # f = 2, centre 1
    config = keras.initializers.serialize(BilinearKernel())
    assert config["registered_name"] == "kcv>BilinearKernel"
    assert isinstance(keras.initializers.deserialize(config), BilinearKernel)
    with pytest.raises(ValueError, match="`shape` must be a transposed-convolution kernel"):
        BilinearKernel()((4, 4, 3, 2))


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (((64, 64, 3), 3), {"backbone": "resnet101"}, "`backbone` must be one of 'vgg16', "),
        (((64, 64, 3), 3), {"stride": 4}, "`stride` must be one of 32, 16, 8, received 4"),
        (
            ((48, 64, 3), 3),
            {},
            "`input_shape` must be a shape with height and width divisible by 32",
        ),
        (((16, 16, 3), 3), {}, r"`input_shape` must be .* >= 32"),
        (((64, 64, 3), 0), {}, "`classes` must be an integer >= 1"),
        (((64, 64, 3), 3), {"backbone": "resnet18", "fc_units": 64}, "`fc_units` must be 4096"),
        (((64, 64, 3), 3), {"weights": "voc"}, "`weights` must be None"),
    ],
)
def test_fcn_rejects_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        testing.stateless(kcv.models.FCN, *args, **kwargs)
