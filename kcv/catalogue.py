"""Every public kcv layer and model in a small configuration.

The catalogue drives two test suites: the layer battery (:mod:`kcv.testing`)
on each backend, and the cross-backend equivalence test that saves a
``.keras`` file under one backend and reloads it under the others. A new
public layer is not done until it has at least one entry here; a test fails
when one is missing. Parameter counts are the papers' formulas, worked out in
the comments.
"""

from kcv import layers
from kcv import models
from kcv.testing import LayerCase
from kcv.testing import ModelCase

LAYER_CASES = (
    # SE on 256 channels, r = 16: 2·256·16 + 16 + 256 = 8,464 (SENet, Sec. 3).
    LayerCase(
        "se_256_r16",
        layers.SqueezeExcite,
        {"reduction": 16},
        (2, 4, 4, 256),
        expected_output_shape=(2, 4, 4, 256),
        expected_trainable_params=8464,
        expected_num_trainable_weights=4,
        expected_num_non_trainable_weights=0,
    ),
    # Hard-sigmoid gate (MobileNetV3), C = 24, r = 4: 2·24·6 + 6 + 24 = 318.
    LayerCase(
        "se_hard_sigmoid",
        layers.SqueezeExcite,
        {"reduction": 4, "gate": "hard_sigmoid"},
        (2, 6, 6, 24),
        expected_trainable_params=318,
    ),
    # Pointwise 1x1 with bias and activation (matrix product on JAX/CPU): 8·12 + 12 = 108.
    LayerCase(
        "conv2d_pointwise",
        layers.Conv2D,
        {"filters": 12, "kernel_size": 1, "activation": "relu"},
        (2, 5, 5, 8),
        expected_output_shape=(2, 5, 5, 12),
        expected_trainable_params=108,
    ),
    # 3x3 stride 2 ("same"): Keras' own convolution: 9·8·4 + 4 = 292.
    LayerCase(
        "conv2d_3x3_s2",
        layers.Conv2D,
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
        (2, 7, 7, 8),
        expected_output_shape=(2, 4, 4, 4),
        expected_trainable_params=292,
    ),
    # Depthwise 3x3, multiplier 2, with bias: 9·8·2 + 16 = 160.
    LayerCase(
        "depthwise_conv2d",
        layers.DepthwiseConv2D,
        {"kernel_size": 3, "padding": "same", "depth_multiplier": 2},
        (2, 9, 9, 8),
        expected_output_shape=(2, 9, 9, 16),
        expected_trainable_params=160,
    ),
    # Inception, paper form (bias, no BN), 16 -> 8 + 12 + 6 + 6 = 32 channels:
    # (16·8+8) + (16·8+8) + (9·8·12+12) + (16·4+4) + (25·4·6+6) + (16·6+6) = 1,924.
    LayerCase(
        "inception_paper",
        layers.InceptionModule,
        {"filters_1x1": 8, "filters_3x3_reduce": 8, "filters_3x3": 12,
         "filters_5x5_reduce": 4, "filters_5x5": 6, "filters_pool_proj": 6},
        (2, 7, 7, 16),
        expected_output_shape=(2, 7, 7, 32),
        expected_trainable_params=1924,
        expected_num_trainable_weights=12,
        expected_num_non_trainable_weights=0,
    ),
    # BN-Inception form, 5x5 factorised into two 3x3 (BN: 2 trainable per channel):
    # (128+16) + (128+16) + (864+24) + (64+8) + (9·4·6+12) + (9·6·6+12) + (96+12) = 1,920.
    LayerCase(
        "inception_bn_factorized",
        layers.InceptionModule,
        {"filters_1x1": 8, "filters_3x3_reduce": 8, "filters_3x3": 12,
         "filters_5x5_reduce": 4, "filters_5x5": 6, "filters_pool_proj": 6,
         "batch_norm": True, "factorize_5x5": True},
        (2, 7, 7, 16),
        expected_trainable_params=1920,
        expected_num_non_trainable_weights=14,
    ),
    # ASPP v3 (concat, BN, image pooling), 6 -> 8, rates (2, 3):
    # 1x1 (6·8 + 16) + 2 rates (9·6·8 + 16) + pool (6·8 + 16) + project (4·8·8 + 16)
    # = 64 + 896 + 64 + 272 = 1,296; 5 BN layers hold 10 moving statistics.
    LayerCase(
        "aspp_v3",
        layers.ASPP,
        {"filters": 8, "rates": (2, 3)},
        (2, 9, 9, 6),
        expected_output_shape=(2, 9, 9, 8),
        expected_trainable_params=1296,
        expected_num_trainable_weights=15,
        expected_num_non_trainable_weights=10,
    ),
    # ASPP v2 (rate branches summed, biases, no BN/pooling): 3·(9·4·5 + 5) = 555.
    LayerCase(
        "aspp_v2_sum",
        layers.ASPP,
        {"filters": 5, "rates": (1, 2, 3), "merge": "sum", "batch_norm": False,
         "image_pooling": False, "dropout": 0.0},
        (2, 9, 9, 4),
        expected_trainable_params=555,
    ),
    # ASPP v3+ (atrous separable rate branch), 6 -> 8, rate 2: 1x1 64 +
    # separable (9·6 + 12 + 6·8 + 16 = 130) + pool 64 + project (3·8·8 + 16 = 208) = 466.
    LayerCase(
        "aspp_v3plus_separable",
        layers.ASPP,
        {"filters": 8, "rates": (2,), "separable": True},
        (2, 9, 9, 6),
        expected_trainable_params=466,
    ),
    # Encoding on a 4D map, K = 4 codewords of C = 8: 4·8 + 4 = 36.
    LayerCase(
        "encoding_4d",
        layers.Encoding,
        {"num_codes": 4},
        (2, 5, 6, 8),
        expected_output_shape=(2, 4, 8),
        expected_trainable_params=36,
    ),
    # Encoding on a set of N = 10 vectors, K = 3, C = 6: 3·6 + 3 = 21.
    LayerCase(
        "encoding_3d",
        layers.Encoding,
        {"num_codes": 3},
        (2, 10, 6),
        expected_output_shape=(2, 3, 6),
        expected_trainable_params=21,
    ),
    # Context Encoding on C = 8, K = 4: conv 8·8 + BN 16 + Encoding 36 +
    # codeword BN 2·4 + gate 8·8 + 8 = 196.
    LayerCase(
        "context_encoding",
        layers.ContextEncoding,
        {"num_codes": 4},
        (2, 5, 5, 8),
        expected_output_shape=(2, 5, 5, 8),
        expected_trainable_params=196,
    ),
    # With the SE-loss head on 3 classes: 196 + 8·3 + 3 = 223.
    LayerCase(
        "context_encoding_se",
        layers.ContextEncoding,
        {"num_codes": 4, "se_classes": 3},
        (2, 6, 6, 8),
        expected_trainable_params=223,
    ),
    # MobileNet v1 block 32 -> 64, stride 2: 9·32 + 2·32 + 32·64 + 2·64 = 2,528.
    LayerCase(
        "separable_32_64_s2",
        layers.DepthwiseSeparableConv,
        {"filters": 64, "strides": 2},
        (2, 10, 10, 32),
        expected_output_shape=(2, 5, 5, 64),
        expected_trainable_params=2528,
        expected_num_trainable_weights=6,
        expected_num_non_trainable_weights=4,
    ),
    # Without BN, biases instead, dilated: 9·8 + 8 + 8·16 + 16 = 224.
    LayerCase(
        "separable_no_bn_dilated",
        layers.DepthwiseSeparableConv,
        {"filters": 16, "dilation_rate": 2, "batch_norm": False},
        (2, 9, 9, 8),
        expected_trainable_params=224,
    ),
    # Inverted residual 24 -> 24, t = 6 (MobileNetV2, Table 1):
    # 24·144 + 2·144 + 9·144 + 2·144 + 144·24 + 2·24 = 8,832.
    LayerCase(
        "inverted_residual_24_t6",
        layers.InvertedResidual,
        {"filters": 24, "expansion": 6},
        (2, 8, 8, 24),
        expected_output_shape=(2, 8, 8, 24),
        expected_trainable_params=8832,
        expected_num_trainable_weights=9,
        expected_num_non_trainable_weights=6,
    ),
    # t = 1 skips the expansion: 9·32 + 2·32 + 32·16 + 2·16 = 896.
    LayerCase(
        "inverted_residual_t1",
        layers.InvertedResidual,
        {"filters": 16, "expansion": 1},
        (2, 8, 8, 32),
        expected_trainable_params=896,
    ),
    # v3-style: stride 2, SE r = 4 on 48 channels, hard-swish:
    # 16·48 + 96 + 9·48 + 96 + (2·48·12 + 12 + 48) + 48·24 + 48 = 3,804.
    LayerCase(
        "inverted_residual_s2_se",
        layers.InvertedResidual,
        {"filters": 24, "expansion": 3, "strides": 2, "se_reduction": 4, "activation": "hard_swish"},
        (2, 9, 9, 16),
        expected_output_shape=(2, 5, 5, 24),
        expected_trainable_params=3804,
    ),
    # Strip pooling module (SPNet SPM, official SPBlock with midplanes = C), C = 8:
    # 3C² + 2C (3x1 conv + BN) + 3C² + 2C (1x3 conv + BN) + C² + C (1x1 conv, bias)
    # = 7·8² + 5·8 = 448 + 40 = 488.
    LayerCase(
        "strip_pooling_8",
        layers.StripPooling,
        {},
        (2, 6, 7, 8),
        expected_output_shape=(2, 6, 7, 8),
        expected_trainable_params=488,
        expected_num_trainable_weights=8,
        expected_num_non_trainable_weights=4,
    ),
    # Mixed pooling module (SPNet MPM), C = 16, m = C // 4 = 4, pooled to 3x3 and 2x2:
    # 2·(16·4 + 8) + 5·(9·16 + 8) + 2·(3·16 + 8) + (8·16 + 32) = 144 + 760 + 112 + 160
    # = 4Cm + 51m² + 18m + 2C = 1,176.
    LayerCase(
        "mixed_pooling_16",
        layers.MixedPooling,
        {"pool_sizes": (3, 2)},
        (2, 6, 7, 16),
        expected_output_shape=(2, 6, 7, 16),
        expected_trainable_params=1176,
        expected_num_trainable_weights=30,
        expected_num_non_trainable_weights=20,
    ),
    # Paper pool sizes (20, 12) on a 5x6 input (adaptive pools larger than the input),
    # C = 8, m = 2: 4·8·2 + 51·2² + 18·2 + 2·8 = 64 + 204 + 36 + 16 = 320.
    LayerCase(
        "mixed_pooling_default_pools",
        layers.MixedPooling,
        {},
        (2, 5, 6, 8),
        expected_trainable_params=320,
    ),
)

# Every public model at a small input size. Parameter counts at the papers'
# sizes (ImageNet, 1000 classes) are asserted in tests/test_models_*.py.
MODEL_CASES = ()

CASES = LAYER_CASES + MODEL_CASES


def case(name):
    """Returns the catalogue entry called ``name``."""
    for entry in CASES:
        if entry.name == name:
            return entry
    raise ValueError(f"`name` must be one of {[c.name for c in CASES]}, received {name!r}.")
