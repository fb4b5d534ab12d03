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
    # MobileNetV3's SE width, set directly: make_divisible(24 // 4, 8) = 8, C = 24:
    # 24·8 + 8 + 8·24 + 24 = 416.
    LayerCase(
        "se_squeeze_channels",
        layers.SqueezeExcite,
        {"gate": "hard_sigmoid", "squeeze_channels": 8},
        (2, 5, 5, 24),
        expected_trainable_params=416,
    ),
    # ResNet basic block 8 -> 16, stride 2, projection shortcut; no conv bias, BN 2 per channel:
    # 3x3 9·8·16 + 32, 3x3 9·16·16 + 32, 1x1 projection 8·16 + 32 = 1,184 + 2,336 + 160 = 3,680.
    LayerCase(
        "basic_block_s2_projection",
        layers.BasicBlock,
        {"filters": 16, "strides": 2},
        (2, 8, 8, 8),
        expected_output_shape=(2, 4, 4, 16),
        expected_trainable_params=3680,
        expected_num_trainable_weights=9,
        expected_num_non_trainable_weights=6,
    ),
    # Basic block 8 -> 8, dilated by 2, identity shortcut: 2·(9·8·8 + 16) = 1,184.
    LayerCase(
        "basic_block_dilated",
        layers.BasicBlock,
        {"filters": 8, "dilation_rate": 2},
        (2, 7, 7, 8),
        expected_output_shape=(2, 7, 7, 8),
        expected_trainable_params=1184,
    ),
    # Plain (shortcut-free) basic block 8 -> 16, stride 2: the projection above is gone,
    # 3,680 - 160 = 3,520.
    LayerCase(
        "basic_block_plain_s2",
        layers.BasicBlock,
        {"filters": 16, "strides": 2, "plain": True},
        (2, 8, 8, 8),
        expected_output_shape=(2, 4, 4, 16),
        expected_trainable_params=3520,
        expected_num_trainable_weights=6,
        expected_num_non_trainable_weights=4,
    ),
    # Bottleneck 16 -> 4 filters -> 16 channels, identity shortcut:
    # 1x1 16·4 + 8, 3x3 9·4·4 + 8, 1x1 4·16 + 32 = 72 + 152 + 96 = 320.
    LayerCase(
        "bottleneck_identity",
        layers.Bottleneck,
        {"filters": 4},
        (2, 6, 6, 16),
        expected_output_shape=(2, 6, 6, 16),
        expected_trainable_params=320,
        expected_num_trainable_weights=9,
        expected_num_non_trainable_weights=6,
    ),
    # ResNeXt bottleneck, 4 groups, width_per_group 16: width int(8·16/64)·4 = 8; 16 -> 32
    # channels, stride 2: 1x1 16·8 + 16, grouped 3x3 9·(8/4)·8 + 16, 1x1 8·32 + 64,
    # projection 16·32 + 64 = 144 + 160 + 320 + 576 = 1,200.
    LayerCase(
        "bottleneck_grouped_s2",
        layers.Bottleneck,
        {"filters": 8, "strides": 2, "groups": 4, "width_per_group": 16},
        (2, 9, 9, 16),
        expected_output_shape=(2, 5, 5, 32),
        expected_trainable_params=1200,
        expected_num_trainable_weights=12,
        expected_num_non_trainable_weights=8,
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
        {
            "filters_1x1": 8,
            "filters_3x3_reduce": 8,
            "filters_3x3": 12,
            "filters_5x5_reduce": 4,
            "filters_5x5": 6,
            "filters_pool_proj": 6,
        },
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
        {
            "filters_1x1": 8,
            "filters_3x3_reduce": 8,
            "filters_3x3": 12,
            "filters_5x5_reduce": 4,
            "filters_5x5": 6,
            "filters_pool_proj": 6,
            "batch_norm": True,
            "factorize_5x5": True,
        },
        (2, 7, 7, 16),
        expected_trainable_params=1920,
        expected_num_non_trainable_weights=14,
    ),
    # Fire module (SqueezeNet), 8 -> squeeze 4 -> 6 + 6, biases, no BN:
    # 8·4 + 4 + 4·6 + 6 + 9·4·6 + 6 = 36 + 30 + 222 = 288.
    LayerCase(
        "fire_8_4_6_6",
        layers.FireModule,
        {"squeeze": 4, "expand_1x1": 6, "expand_3x3": 6},
        (2, 7, 7, 8),
        expected_output_shape=(2, 7, 7, 12),
        expected_trainable_params=288,
        expected_num_trainable_weights=6,
        expected_num_non_trainable_weights=0,
    ),
    # Unequal expands (so that their order shows), 10 -> 3 -> 5 + 7:
    # 10·3 + 3 + 3·5 + 5 + 9·3·7 + 7 = 33 + 20 + 196 = 249.
    LayerCase(
        "fire_unequal_expands",
        layers.FireModule,
        {"squeeze": 3, "expand_1x1": 5, "expand_3x3": 7},
        (2, 6, 5, 10),
        expected_output_shape=(2, 6, 5, 12),
        expected_trainable_params=249,
    ),
    # Batch normalization on 6 channels: gamma and beta trainable (12), the moving mean
    # and variance not (Ioffe & Szegedy, Alg. 1).
    LayerCase(
        "batch_norm",
        layers.BatchNormalization,
        {"momentum": 0.9},
        (4, 5, 5, 6),
        expected_output_shape=(4, 5, 5, 6),
        expected_trainable_params=12,
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=2,
    ),
    # Max pooling, the inception branch's 3x3 stride 1 "same" (first-max gradient on
    # JAX's CPU): no weights.
    LayerCase(
        "max_pool_3x3_s1",
        layers.MaxPooling2D,
        {"pool_size": 3, "strides": 1, "padding": "same"},
        (2, 7, 6, 5),
        expected_output_shape=(2, 7, 6, 5),
        expected_trainable_params=0,
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    ),
    # AlexNet's overlapping 3x3 stride 2 "valid" pooling (Sec. 3.4): no weights.
    LayerCase(
        "max_pool_3x3_s2",
        layers.MaxPooling2D,
        {"pool_size": 3, "strides": 2},
        (2, 9, 8, 5),
        expected_output_shape=(2, 4, 3, 5),
        expected_trainable_params=0,
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    ),
    # Local response normalization (AlexNet, Sec. 3.3), paper constants: no weights.
    LayerCase(
        "lrn_paper",
        layers.LocalResponseNormalization,
        {},
        (2, 5, 5, 16),
        expected_output_shape=(2, 5, 5, 16),
        expected_trainable_params=0,
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    ),
    # A window of 3 and a strong alpha, so that the normalization changes the outputs: no weights.
    LayerCase(
        "lrn_size3_strong",
        layers.LocalResponseNormalization,
        {"size": 3, "alpha": 0.5, "beta": 0.75, "k": 1.0},
        (2, 4, 3, 6),
        expected_output_shape=(2, 4, 3, 6),
        expected_trainable_params=0,
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
        {
            "filters": 5,
            "rates": (1, 2, 3),
            "merge": "sum",
            "batch_norm": False,
            "image_pooling": False,
            "dropout": 0.0,
        },
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
        {
            "filters": 24,
            "expansion": 3,
            "strides": 2,
            "se_reduction": 4,
            "activation": "hard_swish",
        },
        (2, 9, 9, 16),
        expected_output_shape=(2, 5, 5, 24),
        expected_trainable_params=3804,
    ),
    # MobileNetV3 block (Large, Table 1 style): 16 -> 16, 5x5, explicit expanded width 48,
    # hard-swish, SE of width make_divisible(48 // 4, 8) = 16 with hard-sigmoid gate, residual:
    # expand 16·48 + 2·48 = 864, depthwise 25·48 + 96 = 1,296, SE 48·16 + 16 + 16·48 + 48
    # = 1,600, project 48·16 + 2·16 = 800. Total 4,560.
    LayerCase(
        "inverted_residual_v3_hard_swish_se",
        layers.InvertedResidual,
        {
            "filters": 16,
            "kernel_size": 5,
            "activation": "hard_swish",
            "expanded_channels": 48,
            "se_channels": 16,
        },
        (2, 7, 7, 16),
        expected_output_shape=(2, 7, 7, 16),
        expected_trainable_params=4560,
        expected_num_trainable_weights=13,
        expected_num_non_trainable_weights=6,
    ),
    # MobileNetV3-Small's first block: expanded width 16 = input width, so no expand conv;
    # stride 2, ReLU, SE 8: depthwise 9·16 + 32 = 176, SE 16·8 + 8 + 8·16 + 16 = 280,
    # project 16·16 + 32 = 288. Total 744.
    LayerCase(
        "inverted_residual_v3_no_expand_s2",
        layers.InvertedResidual,
        {
            "filters": 16,
            "strides": 2,
            "activation": "relu",
            "expanded_channels": 16,
            "se_channels": 8,
        },
        (2, 8, 8, 16),
        expected_output_shape=(2, 4, 4, 16),
        expected_trainable_params=744,
    ),
    # Channel shuffle (ShuffleNet), 2 groups of 4 channels: a permutation, no weights.
    LayerCase(
        "channel_shuffle_g2",
        layers.ChannelShuffle,
        {"groups": 2},
        (2, 4, 4, 8),
        expected_output_shape=(2, 4, 4, 8),
        expected_trainable_params=0,
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    ),
    # 3 groups of 4 on a non-square map: the battery's channels_first check compares the
    # (C, H, W) permutation with the (H, W, C) one.
    LayerCase(
        "channel_shuffle_g3",
        layers.ChannelShuffle,
        {"groups": 3},
        (2, 3, 5, 12),
        expected_output_shape=(2, 3, 5, 12),
        expected_trainable_params=0,
    ),
    # ShuffleNet v2 basic unit (Fig. 3c), 16 channels, b = 8 per branch (BN 2 per channel):
    # 1x1 8·8 + 16, depthwise 9·8 + 16, 1x1 8·8 + 16 = 2b² + 15b = 248.
    LayerCase(
        "shufflenet_v2_unit_s1",
        layers.ShuffleNetV2Unit,
        {"filters": 16},
        (2, 6, 6, 16),
        expected_output_shape=(2, 6, 6, 16),
        expected_trainable_params=248,
        expected_num_trainable_weights=9,
        expected_num_non_trainable_weights=6,
    ),
    # Down-sampling unit (Fig. 3d), 8 -> 16 channels, b = 8: left depthwise 9·8 + 16, 1x1
    # 8·8 + 16 = 168; right 1x1 8·8 + 16, depthwise 9·8 + 16, 1x1 8·8 + 16 = 248. Total 416.
    LayerCase(
        "shufflenet_v2_unit_s2",
        layers.ShuffleNetV2Unit,
        {"filters": 16, "strides": 2},
        (2, 7, 7, 8),
        expected_output_shape=(2, 4, 4, 16),
        expected_trainable_params=416,
        expected_num_trainable_weights=15,
        expected_num_non_trainable_weights=10,
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
    # MSDNet first layer, CIFAR stem, base 8 channels, growth factors (1, 2, 4): every
    # conv + BN (2 trainable per channel): (27·8 + 16) + (9·8·16 + 32) + (9·16·32 + 64)
    # = 232 + 1,184 + 4,672 = 6,088.
    LayerCase(
        "msd_first_cifar",
        layers.MSDFirstLayer,
        {"filters": 8},
        (2, 16, 16, 3),
        expected_output_shape=[(2, 16, 16, 8), (2, 8, 8, 16), (2, 4, 4, 32)],
        expected_trainable_params=6088,
        expected_num_trainable_weights=9,
        expected_num_non_trainable_weights=6,
    ),
    # ImageNet stem (7x7/2 conv with a bias, as in the official code, 3x3/2 max pool), two
    # scales: (49·3·4 + 4 + 8) + (9·4·8 + 16) = 904.
    LayerCase(
        "msd_first_imagenet",
        layers.MSDFirstLayer,
        {"filters": 4, "growth_factor": (1, 2), "stem": "imagenet"},
        (2, 32, 32, 3),
        expected_output_shape=[(2, 8, 8, 4), (2, 4, 4, 8)],
        expected_trainable_params=904,
    ),
    # MSD dense layer, growth 4, factors (1, 2, 4), bottlenecks min(C_in, b·C_out) with
    # b = (1, 2, 4) of the scale each path reads; 1x1 + BN then 3x3 + BN per path:
    # scale 0 (normal, 8 -> 4, inner 4): 8·4 + 8 + 9·4·4 + 8 = 192;
    # scale 1 (g = 8, halves 4): down 8 -> 4 (inner min(8, 1·4) = 4): 192;
    #   normal 16 -> 4 (inner min(16, 2·4) = 8): 16·8 + 16 + 9·8·4 + 8 = 440;
    # scale 2 (g = 16, halves 8): down 16 -> 8 (inner min(16, 2·8) = 16): 256 + 32 + 1,152 + 16 = 1,456;
    #   normal 32 -> 8 (inner min(32, 4·8) = 32): 1,024 + 64 + 2,304 + 16 = 3,408.
    # Total 192 + 192 + 440 + 1,456 + 3,408 = 5,688.
    LayerCase(
        "msd_dense_3_scales",
        layers.MSDDenseLayer,
        {"growth_rate": 4},
        [(2, 16, 16, 8), (2, 8, 8, 16), (2, 4, 4, 32)],
        expected_output_shape=[(2, 16, 16, 12), (2, 8, 8, 24), (2, 4, 4, 48)],
        expected_trainable_params=5688,
        expected_num_trainable_weights=30,
        expected_num_non_trainable_weights=20,
    ),
    # The same layer dropping the finest scale (out_scales = 2): scales 1 and 2 only,
    # scale 0 feeds scale 1's strided path: 192 + 440 + 1,456 + 3,408 = 5,496.
    LayerCase(
        "msd_dense_prune",
        layers.MSDDenseLayer,
        {"growth_rate": 4, "out_scales": 2},
        [(2, 16, 16, 8), (2, 8, 8, 16), (2, 4, 4, 32)],
        expected_output_shape=[(2, 8, 8, 24), (2, 4, 4, 48)],
        expected_trainable_params=5496,
    ),
    # The two coarsest of three scales, no bottleneck (3x3 conv + BN per path):
    # scale 1 (finest present, normal 16 -> 8): 9·16·8 + 16 = 1,168; scale 2: down
    # 16 -> 8: 1,168, normal 32 -> 8: 9·32·8 + 16 = 2,320. Total 4,656.
    LayerCase(
        "msd_dense_coarse_no_bottleneck",
        layers.MSDDenseLayer,
        {"growth_rate": 4, "bottleneck": False},
        [(2, 8, 8, 16), (2, 4, 4, 32)],
        expected_output_shape=[(2, 8, 8, 24), (2, 4, 4, 48)],
        expected_trainable_params=4656,
    ),
    # Transition to base 6 on scales 1, 2 (factors 2, 4): 1x1 + BN:
    # (24·12 + 24) + (48·24 + 48) = 312 + 1,200 = 1,512.
    LayerCase(
        "msd_transition",
        layers.MSDTransition,
        {"filters": 6},
        [(2, 8, 8, 24), (2, 4, 4, 48)],
        expected_output_shape=[(2, 8, 8, 12), (2, 4, 4, 24)],
        expected_trainable_params=1512,
    ),
    # Exit on the coarsest scale (4x4x24), 16 filters, 5 classes:
    # (9·24·16 + 32) + (9·16·16 + 32) + (16·5 + 5) = 3,488 + 2,336 + 85 = 5,909.
    LayerCase(
        "msd_classifier",
        layers.MSDClassifier,
        {"classes": 5, "filters": 16},
        [(2, 8, 8, 12), (2, 4, 4, 24)],
        expected_output_shape=(2, 5),
        expected_trainable_params=5909,
    ),
    # ImageNet-style exit keeping the 12 input channels, on one tensor:
    # 2·(9·12·12 + 24) + (12·5 + 5) = 2,640 + 65 = 2,705.
    LayerCase(
        "msd_classifier_keep_channels",
        layers.MSDClassifier,
        {"classes": 5, "filters": None},
        (2, 8, 8, 12),
        expected_output_shape=(2, 5),
        expected_trainable_params=2705,
    ),
)

# Every public model at a small input size. Parameter counts at the papers'
# sizes (ImageNet, 1000 classes) are asserted in tests/test_models_*.py.
MODEL_CASES = (
    # GoogLeNet, paper form (conv biases, no BN), 5 classes, both auxiliary classifiers.
    # 65x65 is the smallest input with a 5x5 map at inception (4a), so the aux pools are 1x1x128.
    # Stem 9,472 + 4,160 + 110,784 = 124,416; modules (paper, tests/test_models_googlenet.py)
    # 3a-5b = 5,849,136; top 1024·5 + 5 = 5,125; main 5,978,677.
    # aux1 (4a, 512 ch): (512·128 + 128) + (128·1024 + 1024) + (1024·5 + 5) = 65,664 + 132,096 + 5,125 = 202,885;
    # aux2 (4d, 528 ch): 67,712 + 132,096 + 5,125 = 204,933. Total 6,386,495.
    ModelCase(
        "googlenet_aux",
        models.GoogLeNet,
        {"classes": 5, "aux_logits": True},
        (2, 65, 65, 3),
        expected_trainable_params=6_386_495,
    ),
    # CIFAR GoogLeNet (conv 3x3 192 stem, BN, factorised 5x5), 10 classes, at 8x8 (stages at 8, 4, 2):
    # stem 27·192 + 2·192 = 5,568; modules, each c·(#1x1 + #3x3r + #5x5r + pool) + 9·#3x3r·#3x3
    # + 9·#5x5r·#5x5 + 9·#5x5² + 2·(#1x1 + #3x3r + #3x3 + #5x5r + 2·#5x5 + pool):
    # 3a 165,152 + 3b 423,360 + 4a 385,344 + 4b 462,224 + 4c 523,184 + 4d 610,304
    # + 4e 951,552 + 5a 1,126,656 + 5b 1,494,752 = 6,142,528; dense 1024·10 + 10 = 10,250.
    # Total 6,158,346 (kuangliu's 6,166,250 less its 7,904 conv biases before BN).
    ModelCase(
        "googlenet_cifar",
        models.GoogLeNetCIFAR,
        {"classes": 10},
        (2, 8, 8, 3),
        expected_trainable_params=6_158_346,
    ),
    # AlexNet, the paper's (groups 2 in conv2/4/5, LRN), dense layers 64 wide, 5 classes, at 67x67
    # (its smallest input: pool5 1x1, pooled adaptively to 6x6). Convolutions (paper, Fig. 2):
    # 11·11·3·96 + 96 = 34,944; 5·5·48·256 + 256 = 307,456; 9·256·384 + 384 = 885,120;
    # 9·192·384 + 384 = 663,936; 9·192·256 + 256 = 442,624: 2,334,080. Dense 9216·64 + 64
    # = 589,888, 64·64 + 64 = 4,160, 64·5 + 5 = 325. Total 2,928,453.
    ModelCase(
        "alexnet_paper",
        models.AlexNet,
        {"variant": "paper", "classes": 5, "fc_units": 64},
        (2, 67, 67, 3),
        expected_trainable_params=2_928_453,
    ),
    # torchvision's AlexNet at 63x63 (its min_size), dense 64, 5 classes. Convolutions
    # 23,296 + 307,392 + 663,936 + 884,992 + 590,080 = 2,469,696 (torchvision's 61,100,840
    # less its dense layers 58,631,144); dense 589,888 + 4,160 + 325. Total 3,064,069.
    ModelCase(
        "alexnet_torchvision",
        models.AlexNet,
        {"variant": "torchvision", "classes": 5, "fc_units": 64},
        (2, 63, 63, 3),
        expected_trainable_params=3_064_069,
    ),
    # VGG-11 at 32x32 (pool5 1x1, pooled adaptively to 7x7), dense 32, 5 classes. Convolutions:
    # torchvision vgg11 132,863,336 - dense (25088·4096 + 4096) - (4096·4096 + 4096)
    # - (4096·1000 + 1000) = 9,220,480; dense 25088·32 + 32 = 802,848, 32·32 + 32 = 1,056,
    # 32·5 + 5 = 165. Total 10,024,549.
    ModelCase(
        "vgg11",
        models.VGG,
        {"depth": 11, "classes": 5, "fc_units": 32},
        (2, 32, 32, 3),
        expected_trainable_params=10_024_549,
    ),
    # VGG-11-BN: + BN 2·(64 + 128 + 2·256 + 4·512) = 5,504 (conv biases kept, as torchvision:
    # 132,868,840 - 132,863,336). Total 10,030,053.
    ModelCase(
        "vgg11_bn",
        models.VGG,
        {"depth": 11, "batch_norm": True, "classes": 5, "fc_units": 32},
        (2, 32, 32, 3),
        expected_trainable_params=10_030_053,
    ),
    # SqueezeNet 1.0, 5 classes: 1,248,424 (torchvision squeezenet1_0) - conv10 (512·1000 + 1000)
    # + (512·5 + 5) = 735,424 + 2,565 = 737,989.
    ModelCase(
        "squeezenet1_0",
        models.SqueezeNet,
        {"version": "1.0", "classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=737_989,
    ),
    # SqueezeNet 1.1, 5 classes: 1,235,496 (torchvision squeezenet1_1) - 513,000 + 2,565 = 725,061.
    ModelCase(
        "squeezenet1_1",
        models.SqueezeNet,
        {"version": "1.1", "classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=725_061,
    ),
    # ResNet-18, 5 classes: 11,689,512 (1000 classes, torchvision resnet18)
    # - (512·1000 + 1000) + (512·5 + 5) = 11,176,512 + 2,565 = 11,179,077.
    ModelCase(
        "resnet18",
        models.ResNet,
        {"depth": 18, "classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=11_179_077,
    ),
    # ResNeXt-50 32x4d, 5 classes: 25,028,904 (1000 classes, torchvision resnext50_32x4d)
    # - (2048·1000 + 1000) + (2048·5 + 5) = 22,979,904 + 10,245 = 22,990,149.
    ModelCase(
        "resnext50_32x4d",
        models.ResNeXt,
        {"depth": 50, "classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=22_990_149,
    ),
    # SE-ResNet-50, 5 classes: 28,088,024 (1000 classes, timm / Cadene se_resnet50)
    # - (2048·1000 + 1000) + (2048·5 + 5) = 26,039,024 + 10,245 = 26,049,269.
    ModelCase(
        "se_resnet50",
        models.SEResNet50,
        {"classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=26_049_269,
    ),
    # SE-ResNet-8 (CIFAR layout, n = 1 block per stage, projection shortcuts), 10 classes:
    # stem 27·16 + 2·16 = 464; 16->16: 2·(9·16·16 + 32) = 4,672; 16->32: (9·16·32 + 64)
    # + (9·32·32 + 64) + (16·32 + 64) = 14,528; 32->64: (9·32·64 + 128) + (9·64·64 + 128)
    # + (32·64 + 128) = 57,728; dense 64·10 + 10 = 650: 78,042 without SE.
    # SE, r = 16 (hidden max(1, C // 16) = 1, 2, 4): (2·16·1 + 1 + 16) + (2·32·2 + 2 + 32)
    # + (2·64·4 + 4 + 64) = 49 + 162 + 580 = 791. Total 78,833.
    ModelCase(
        "se_resnet8_cifar",
        models.SEResNetCIFAR,
        {"depth": 8, "classes": 10},
        (2, 32, 32, 3),
        expected_trainable_params=78_833,
    ),
    # MobileNet alpha 0.25 (widths int(0.25·c)), 5 classes: stem 27·8 + 2·8 = 232; a separable
    # block cin -> cout holds 9·cin + 2·cin + cin·cout + 2·cout = 11·cin + cin·cout + 2·cout:
    # 8->16 248, 16->32 752, 32->32 1,440, 32->64 2,528, 64->64 4,928, 64->128 9,152,
    # 5 x 128->128 18,048, 128->256 34,688, 256->256 68,864; dense 256·5 + 5 = 1,285.
    # Total 214,357 (keras.applications MobileNet(alpha=0.25): 470,072 - 257,000 + 1,285).
    ModelCase(
        "mobilenet_v1_025",
        models.MobileNetV1,
        {"alpha": 0.25, "classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=214_357,
    ),
    # MobileNetV2 alpha 0.35, 5 classes: widths make_divisible(int(0.35·c), 8) = 8, 8, 16,
    # 24, 32, 56, 112, stem 16. Block cin -> cout, t = 6, h = 6·cin:
    # h·(cin + 13 + cout) + 2·cout; the t = 1 block 16 -> 8: 9·16 + 32 + 16·8 + 16 = 320.
    # stem 464 + 320 + 2·1,408 (8->8) + 1,808 (8->16) + 2·4,352 (16->16) + 5,136 (16->24)
    # + 3·8,832 (24->24) + 10,000 (24->32) + 2·14,848 (32->32) + 19,504 (32->56)
    # + 2·42,112 (56->56) + 61,040 (56->112) + conv 1x1 112·1280 + 2·1280 = 145,920
    # = 396,128 features (keras.applications: 1,677,128 - 1,281,000); dense 1280·5 + 5 = 6,405.
    # Total 402,533.
    ModelCase(
        "mobilenet_v2_035",
        models.MobileNetV2,
        {"alpha": 0.35, "classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=402_533,
    ),
    # MobileNetV3-Small, 5 classes: 2,542,856 (1000 classes, torchvision mobilenet_v3_small)
    # - (1024·1000 + 1000) + (1024·5 + 5) = 1,517,856 + 5,125 = 1,522,981. 32x32 is the
    # smallest input (total stride 32).
    ModelCase(
        "mobilenet_v3_small",
        models.MobileNetV3,
        {"variant": "small", "classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=1_522_981,
    ),
    # ShuffleNet V2 0.5x, 5 classes: 1,366,792 (1000 classes, torchvision shufflenet_v2_x0_5)
    # - (1024·1000 + 1000) + (1024·5 + 5) = 341,792 + 5,125 = 346,917.
    ModelCase(
        "shufflenet_v2_x0_5",
        models.ShuffleNetV2,
        {"scale": 0.5, "classes": 5},
        (2, 32, 32, 3),
        expected_trainable_params=346_917,
    ),
    # MSDNet, 2 scales (factors 1, 2), 4 base channels, growth 2, blocks of 2 and 1 layers
    # (prune "max": the third layer drops scale 0, then a transition to floor(0.5·10) = 5),
    # 8-channel exits, 5 classes. First layer (27·4 + 8) + (9·4·8 + 16) = 420; layer 1:
    # scale 0 (1x1 4->2, 3x3 2->2) 8 + 4 + 36 + 4 = 52, scale 1 down 4->2 (inner 2) 52,
    # normal 8->2 (inner min(8, 2·2) = 4) 32 + 8 + 72 + 4 = 116: 220; layer 2 (6/12 ch in):
    # 12+4+36+4 = 56, 56, (48+8+72+4) = 132: 244; layer 3 (8/16 in, scale 1 only): down
    # 8->2 60, normal 16->2 (inner 4) 64+8+72+4 = 148: 208; transition 20->10: 200 + 20 = 220;
    # exit 1 on 16 channels: (9·16·8 + 16) + (9·8·8 + 16) + (8·5 + 5) = 1,168 + 592 + 45 = 1,805;
    # exit 2 on 10 channels: 736 + 592 + 45 = 1,373. Total 4,490 (the official code, same
    # arguments, counts 4,490 too).
    ModelCase(
        "msdnet_small",
        models.MSDNet,
        {
            "classes": 5,
            "blocks": 2,
            "step": 1,
            "base": 2,
            "channels": 4,
            "growth_rate": 2,
            "growth_factor": (1, 2),
            "classifier_filters": 8,
        },
        (2, 16, 16, 3),
        expected_trainable_params=4_490,
    ),
    # DeepLabv3, MobileNetV2 alpha 0.35 at output stride 16 (features 2x2), ASPP 16 channels,
    # 3 classes. Backbone to block_16 (no 1x1 to 1280): 396,128 - (112·1280 + 2·1280) = 250,208;
    # ASPP on 112 channels, rates (6, 12, 18): 1x1 (112·16 + 32) 1,824 + 3·(9·112·16 + 32) 48,480
    # + pool 1,824 + project (5·16·16 + 32) 1,312 = 53,440; logits 16·3 + 3 = 51. Total 303,699.
    ModelCase(
        "deeplab_v3_mobilenet",
        models.DeepLabV3,
        {"classes": 3, "alpha": 0.35, "filters": 16},
        (2, 32, 32, 3),
        expected_trainable_params=303_699,
    ),
    # DeepLabv3+, resnet_tiny at output stride 8 (rates 12, 24, 36), separable, 3 classes.
    # resnet_tiny (7x7 stem 8 + one bottleneck per stage, widths 8-64): stem 1,176 + 16;
    # stages (conv1 + conv2 + conv3 + projection, each + BN) 1,312 + 6,208 + 24,192 + 95,488:
    # 128,392. ASPP 16 on 256 channels: 1x1 4,128 + 3 separable (9·256 + 512 + 256·16 + 32
    # = 6,944) 20,832 + pool 4,128 + project 1,312 = 30,400; low-level 1x1 32 -> 8: 256 + 16 = 272;
    # decoder separable 24 -> 16: 216 + 48 + 384 + 32 = 680, 16 -> 16: 144 + 32 + 256 + 32 = 464;
    # logits 51. Total 160,259.
    ModelCase(
        "deeplab_v3_plus_tiny_separable",
        models.DeepLabV3Plus,
        {
            "classes": 3,
            "backbone": "resnet_tiny",
            "output_stride": 8,
            "filters": 16,
            "low_level_filters": 8,
            "separable": True,
        },
        (2, 32, 32, 3),
        expected_trainable_params=160_259,
    ),
    # EncNet, resnet_tiny at output stride 8 (features 4x4x256), head 16 channels, K = 4, SE-loss
    # on 3 classes: backbone 128,392; 3x3 conv 256 -> 16 + BN 36,896; Context Encoding on 16:
    # 1x1 16·16 + 32, Encoding 4·16 + 4, codeword BN 8, gate 16·16 + 16, SE head 16·3 + 3 = 687;
    # logits 51. Total 166,026.
    ModelCase(
        "encnet_tiny",
        models.EncNet,
        {"classes": 3, "backbone": "resnet_tiny", "num_codes": 4, "head_filters": 16},
        (2, 32, 32, 3),
        expected_trainable_params=166_026,
    ),
    # EncNet's CIFAR network, widen 1 (16, 32, 64 channels), K = 4, 10 classes. Encoding gate on
    # C channels (C/4 after the 1x1): C·C/4 + 2·C/4 + (4·C/4 + 4) + (4·C/4·C + C) = 364, 1,364,
    # 5,284 for C = 16, 32, 64. Stem 27·16 + 32 = 464; stage 1: 2·(2·2,336 + 364) = 10,072;
    # stage 2: (4,672 + 9,280 + 576 + 1,364) + (2·9,280 + 1,364) = 35,816; stage 3: (18,560 +
    # 36,992 + 2,176 + 5,284) + (2·36,992 + 5,284) = 142,280; final BN 128; dense 650.
    # Total 189,410 (the official structure: 189,386, biases before BN in, projection BN out).
    ModelCase(
        "encnet_cifar_small",
        models.EncNetCIFAR,
        {"widen": 1, "num_codes": 4, "classes": 10},
        (2, 32, 32, 3),
        expected_trainable_params=189_410,
    ),
    # SPNet, resnet_tiny at output stride 8 with strip pooling (7C² + 5C on C = 8, 16, 32, 64:
    # 488 + 1,872 + 7,328 + 28,992 = 38,680; backbone 167,072), paper pool sizes (20, 12) on a 4x4
    # map, 3 classes. Head: 1x1 256 -> 128 + BN 33,024; two MPMs on 128 (m = 32): 2·(4·128·32
    # + 51·32² + 18·32 + 2·128) = 138,880; 3x3 128 -> 64 + BN 73,856; logits 64·3 + 3 = 195.
    # Total 413,027.
    ModelCase(
        "spnet_tiny",
        models.SPNet,
        {"classes": 3, "backbone": "resnet_tiny"},
        (2, 32, 32, 3),
        expected_trainable_params=413_027,
    ),
    # FCN-8s on VGG-16, fc6/fc7 16 channels wide, 3 classes, at 32x32. VGG-16 convolutions
    # 14,714,688 (torchvision vgg16 138,357,544 less its dense layers); fc6 7·7·512·16 + 16
    # = 401,424; fc7 16·16 + 16 = 272; score_fr 16·3 + 3 = 51; upscore2 4·4·3·3 = 144;
    # score_pool4 512·3 + 3 = 1,539; upscore_pool4 144; score_pool3 256·3 + 3 = 771.
    # Total 15,119,033 (the fixed upscore8 holds 16·16·3·3 = 2,304 non-trainable weights).
    ModelCase(
        "fcn8s_vgg16",
        models.FCN,
        {"classes": 3, "backbone": "vgg16", "stride": 8, "fc_units": 16},
        (2, 32, 32, 3),
        expected_trainable_params=15_119_033,
    ),
    # FCN-16s on ResNet-18, 3 classes: features 11,176,512 (torchvision resnet18 less its dense
    # layer); score_fr 512·3 + 3 = 1,539; upscore2 144; score on conv4 (256 ch) 771.
    # Total 11,178,966.
    ModelCase(
        "fcn16s_resnet18",
        models.FCN,
        {"classes": 3, "backbone": "resnet18", "stride": 16},
        (2, 32, 32, 3),
        expected_trainable_params=11_178_966,
    ),
)

CASES = LAYER_CASES + MODEL_CASES


def case(name):
    """Returns the catalogue entry called ``name``."""
    for entry in CASES:
        if entry.name == name:
            return entry
    raise ValueError(f"`name` must be one of {[c.name for c in CASES]}, received {name!r}.")
