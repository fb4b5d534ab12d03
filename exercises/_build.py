"""Writes the exercise notebooks (``exercises/*.ipynb``) from the text below.

    python exercises/_build.py           # (re)write the notebooks
    python exercises/_build.py --check   # exit 1 if a notebook differs from this file

Each notebook: what to build (equations, shapes, the sublayers in the order
they must be created so that the grader can copy the reference's weights,
the paper), a stub cell tagged ``solution`` (the only cell ``kcv grade``
reads), a ``check()`` cell running the public checks, and how to submit.
Notebooks are written without outputs.
"""

import argparse
import os
import sys
from pathlib import Path

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))

SUBMIT = """## Submit

Only the cell tagged `solution` is graded. From a terminal:

```bash
kcv grade {name}.ipynb --exercise {name}
```

`kcv grade` runs your cell in a fresh, isolated process on every backend
(JAX, TensorFlow, PyTorch) and compares it with kcv's reference
implementation: {hidden}. Each check says what differs (shapes, the largest
error and where) and gives a hint.
"""

LAYER_HIDDEN = (
    "the output for the same weights (copied into your layer in creation order), "
    "the behaviour with `training=True`, gradients reaching every weight, the "
    "`get_config()` round trip and the compiled `predict()`"
)

CHECK = """## Check your work

`check()` runs the *public* checks here, on the backend of this kernel:
{public}. Passing them does not mean the exercise is solved: the numeric
checks run only in `kcv grade`.
"""


def _layer_stub(name, doc, init=None, call="inputs", build_hint=None):
    """A layer class to fill in: each method holds ``# YOUR CODE HERE`` and raises.

    ``init`` is ``__init__``'s signature after ``self`` (ending in ``**kwargs``);
    without it the class has neither ``__init__`` nor ``get_config``.
    """

    def body(hint=None):
        comment = "# YOUR CODE HERE" + (f": {hint}" if hint else "")
        return f"        {comment}\n        raise NotImplementedError\n"

    methods = []
    if init is not None:
        methods.append(
            f"    def __init__(self, {init}):\n        super().__init__(**kwargs)\n" + body()
        )
    methods.append("    def build(self, input_shape):\n" + body(build_hint))
    methods.append(f"    def call(self, {call}):\n" + body())
    if init is not None:
        methods.append("    def get_config(self):\n" + body())
    header = (
        f"import keras\nfrom keras import ops\n\n\nclass {name}(keras.layers.Layer):\n"
        f'    """{doc}"""\n\n'
    )
    return header + "\n".join(methods)


EXERCISES = [
    {
        "name": "inception_module",
        "title": "The Inception module (GoogLeNet)",
        "text": r"""
Szegedy et al., *Going Deeper with Convolutions*, CVPR 2015
([arXiv:1409.4842](https://arxiv.org/abs/1409.4842)), Sec. 4–5, Fig. 2b, Table 1.

An Inception module looks at its input through four parallel branches and
concatenates their outputs on the channel axis:

$$
y = \big[\; b_{1}(x) \;\|\; b_{3}(x) \;\|\; b_{5}(x) \;\|\; b_{p}(x) \;\big]
$$

$$
\begin{aligned}
b_{1}(x) &= \mathrm{relu}(\mathrm{conv}_{1\times1}(x)) \\
b_{3}(x) &= \mathrm{relu}(\mathrm{conv}_{3\times3}(\mathrm{relu}(\mathrm{conv}_{1\times1}^{\text{reduce}}(x)))) \\
b_{5}(x) &= \mathrm{relu}(\mathrm{conv}_{5\times5}(\mathrm{relu}(\mathrm{conv}_{1\times1}^{\text{reduce}}(x)))) \\
b_{p}(x) &= \mathrm{relu}(\mathrm{conv}_{1\times1}(\mathrm{maxpool}_{3\times3,\,\text{stride }1}(x)))
\end{aligned}
$$

Every convolution and the pooling use `padding="same"` and stride 1, so the
spatial size is kept: $(B, H, W, C) \to (B, H, W, f_{1} + f_{3} + f_{5} + f_{p})$.
With `batch_norm=True` each convolution has **no bias** and is followed by
`BatchNormalization`, then the ReLU (BN-Inception); otherwise each
convolution has a bias (the paper).

**Arguments:** `filters_1x1`, `filters_3x3_reduce`, `filters_3x3`,
`filters_5x5_reduce`, `filters_5x5`, `filters_pool_proj`, `batch_norm=False`,
and `**kwargs` for `keras.layers.Layer`. Inputs are `channels_last`; the
height and width may be unknown (`None`).

**Create the sublayers in this order** (the grader copies the reference's
weights into yours in creation order):

| # | layer | kernel | filters |
|---|-------|--------|---------|
| 1 | `Conv2D` [+ `BatchNormalization`] | 1×1 | `filters_1x1` |
| 2 | `Conv2D` [+ BN] | 1×1 | `filters_3x3_reduce` |
| 3 | `Conv2D` [+ BN] | 3×3 | `filters_3x3` |
| 4 | `Conv2D` [+ BN] | 1×1 | `filters_5x5_reduce` |
| 5 | `Conv2D` [+ BN] | 5×5 | `filters_5x5` |
| 6 | `MaxPooling2D(3, strides=1, padding="same")` | — | — |
| 7 | `Conv2D` [+ BN] | 1×1 | `filters_pool_proj` |

Parameters without BN: $C f_{1} + f_{1} + C f_{3r} + f_{3r} + 9 f_{3r} f_{3} + f_{3} + C f_{5r} + f_{5r} + 25 f_{5r} f_{5} + f_{5} + C f_{p} + f_{p}$;
inception (3a) ($C = 192$; 64, 96/128, 16/32, 32) has 163,696.
""",
        "stub": _layer_stub(
            "InceptionModule",
            "GoogLeNet's Inception module: four branches, concatenated on channels.",
            init=(
                "filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce,\n"
                "                 filters_5x5, filters_pool_proj, batch_norm=False, **kwargs"
            ),
            call="inputs, training=None",
            build_hint="create (and build) the sublayers in the order of the table.",
        ),
        "target": "InceptionModule",
    },
    {
        "name": "squeeze_excite",
        "title": "Squeeze-and-Excitation (SENet)",
        "text": r"""
Hu, Shen, Albanie, Sun, Wu, *Squeeze-and-Excitation Networks*, CVPR 2018
([arXiv:1709.01507](https://arxiv.org/abs/1709.01507)), Sec. 3, Eq. 2–4, Fig. 2.

An SE block recalibrates the channels of $U \in \mathbb{R}^{H \times W \times C}$
with a gate computed from global context:

$$
z_{c} = \frac{1}{HW} \sum_{i=1}^{H} \sum_{j=1}^{W} u_{c}(i, j)
\qquad\text{(squeeze)}
$$

$$
s = \sigma\big(W_{2}\, \delta(W_{1} z + b_{1}) + b_{2}\big)
\qquad\text{(excitation)}
$$

$$
\tilde{x}_{c} = s_{c} \cdot u_{c}
\qquad\text{(scale)}
$$

with $\delta$ the ReLU, $\sigma$ the sigmoid, $W_{1} \in \mathbb{R}^{h \times C}$,
$W_{2} \in \mathbb{R}^{C \times h}$ and the hidden width
$h = \max(1, \lfloor C / r \rfloor)$ ($r$ = `reduction`). The output has the
input's shape $(B, H, W, C)$; $H$ and $W$ may be unknown.

**Arguments:** `reduction=16` and `**kwargs`. Inputs are `channels_last`.

**Create the sublayers in this order:**

| # | layer | weights |
|---|-------|---------|
| 1 | `Dense(h, activation="relu")` | kernel $(C, h)$, bias $(h,)$ |
| 2 | `Dense(C, activation="sigmoid")` | kernel $(h, C)$, bias $(C,)$ |

Parameters: $2Ch + h + C$ — 8,464 for $C = 256$, $r = 16$.
""",
        "stub": _layer_stub(
            "SqueezeExcite",
            "x * sigmoid(W2 relu(W1 mean(x) + b1) + b2), per channel.",
            init="reduction=16, **kwargs",
        ),
        "target": "SqueezeExcite",
    },
    {
        "name": "inverted_residual",
        "title": "The inverted residual block (MobileNetV2)",
        "text": r"""
Sandler, Howard, Zhu, Zhmoginov, Chen, *MobileNetV2: Inverted Residuals and
Linear Bottlenecks*, CVPR 2018 ([arXiv:1801.04381](https://arxiv.org/abs/1801.04381)),
Sec. 3–4, Table 1, Fig. 3b.

The block widens a thin input, filters it with a cheap depthwise convolution
and projects it back, linearly:

$$
\begin{aligned}
h &= \mathrm{relu6}(\mathrm{BN}(\mathrm{conv}_{1\times1}(x))) && \text{expand to } tC \text{ channels (skipped if } t = 1) \\
d &= \mathrm{relu6}(\mathrm{BN}(\mathrm{depthwise}_{3\times3,\,s}(h))) && \text{one } 3\times3 \text{ filter per channel} \\
y &= \mathrm{BN}(\mathrm{conv}_{1\times1}(d)) \;[+\, x] && \text{linear bottleneck}
\end{aligned}
$$

with $\mathrm{relu6}(v) = \min(\max(v, 0), 6)$ and $t$ = `expansion`
(hidden width $\mathrm{round}(C \cdot t)$). The input is added only when
`strides == 1` and the input already has `filters` channels. No convolution
has a bias (BN follows each). The depthwise convolution uses
`padding="same"`: $(B, H, W, C) \to (B, \lceil H/s \rceil, \lceil W/s \rceil, \text{filters})$.

**Arguments:** `filters`, `expansion=6`, `strides=1` (1 or 2) and `**kwargs`.

**Create the sublayers in this order:**

| # | layer | weights |
|---|-------|---------|
| 1 | `Conv2D(tC, 1, use_bias=False)` (only if $t \ne 1$) | $(1, 1, C, tC)$ |
| 2 | `BatchNormalization` (only if $t \ne 1$) | γ, β, mean, variance |
| 3 | `DepthwiseConv2D(3, strides, padding="same", use_bias=False)` | $(3, 3, tC, 1)$ |
| 4 | `BatchNormalization` | |
| 5 | `Conv2D(filters, 1, use_bias=False)` | $(1, 1, tC, \text{filters})$ |
| 6 | `BatchNormalization` | |

Trainable parameters for 24 → 24, $t = 6$: $24{\cdot}144 + 2{\cdot}144 + 9{\cdot}144 + 2{\cdot}144 + 144{\cdot}24 + 2{\cdot}24 = 8{,}832$.
""",
        "stub": _layer_stub(
            "InvertedResidual",
            "MobileNetV2 block: expand 1x1, depthwise 3x3, project 1x1 (linear), shortcut.",
            init="filters, expansion=6, strides=1, **kwargs",
            call="inputs, training=None",
        ),
        "target": "InvertedResidual",
    },
    {
        "name": "resnext_block",
        "title": "The grouped bottleneck block (ResNeXt)",
        "text": r"""
Xie, Girshick, Dollár, Tu, He, *Aggregated Residual Transformations for Deep
Neural Networks*, CVPR 2017 ([arXiv:1611.05431](https://arxiv.org/abs/1611.05431)),
Sec. 3.3, Fig. 3c, Table 1; He et al., *Deep Residual Learning for Image
Recognition*, CVPR 2016, Fig. 5.

A ResNeXt block is ResNet's bottleneck whose 3×3 convolution is split into
`groups` groups (the cardinality $C$): each group of input channels is
convolved with its own filters, and the outputs are concatenated. It adds
the block's input back (He et al., Eq. 1–2):

$$
\begin{aligned}
h &= \mathrm{relu}(\mathrm{BN}(\mathrm{conv}_{1\times1}(x))) && \text{to } w \text{ channels} \\
d &= \mathrm{relu}(\mathrm{BN}(\mathrm{conv}^{\,C\text{ groups}}_{3\times3,\,s}(h))) && \text{grouped, stride } s \\
y &= \mathrm{relu}\big(\mathrm{BN}(\mathrm{conv}_{1\times1}(d)) + \mathrm{shortcut}(x)\big) && 4F \text{ channels}
\end{aligned}
$$

with $F$ = `filters` and the inner width $w = \lfloor F \cdot
\text{width\_per\_group} / 64 \rfloor \cdot C$ (torchvision's rule: $w = F$ for
ResNet, `groups=1, width_per_group=64`; $w = 128$ for the first stage of
ResNeXt-50 32x4d, `filters=64, groups=32, width_per_group=4`). The shortcut
is the input itself when `strides == 1` and the input has $4F$ channels,
otherwise a 1×1 convolution with stride $s$ followed by BN. The stride sits
on the 3×3 convolution (torchvision's "ResNet v1.5"). No convolution has a
bias (BN follows each); convolutions use `padding="same"`:
$(B, H, W, C_{in}) \to (B, \lceil H/s \rceil, \lceil W/s \rceil, 4F)$.

**Arguments:** `filters`, `strides=1`, `groups=1`, `width_per_group=64` and
`**kwargs`.

**Create the sublayers in this order:**

| # | layer | weights |
|---|-------|---------|
| 1 | `Conv2D(w, 1, use_bias=False)` | $(1, 1, C_{in}, w)$ |
| 2 | `BatchNormalization` | γ, β, mean, variance |
| 3 | `Conv2D(w, 3, strides, padding="same", groups=C, use_bias=False)` | $(3, 3, w/C, w)$ |
| 4 | `BatchNormalization` | |
| 5 | `Conv2D(4F, 1, use_bias=False)` | $(1, 1, w, 4F)$ |
| 6 | `BatchNormalization` | |
| 7 | `Conv2D(4F, 1, strides, use_bias=False)` (projection shortcut only) | $(1, 1, C_{in}, 4F)$ |
| 8 | `BatchNormalization` (projection shortcut only) | |

Trainable parameters for $C_{in} = 16$, $F = 8$, stride 2, 4 groups of
width 16 ($w = 8$): $16{\cdot}8 + 16 + 9{\cdot}2{\cdot}8 + 16 + 8{\cdot}32 + 64
+ 16{\cdot}32 + 64 = 1{,}200$.
""",
        "stub": _layer_stub(
            "ResNeXtBottleneck",
            "ResNeXt block: 1x1, grouped 3x3 (stride), 1x1 to 4·filters, shortcut, ReLU.",
            init="filters, strides=1, groups=1, width_per_group=64, **kwargs",
            call="inputs, training=None",
        ),
        "target": "ResNeXtBottleneck",
    },
    {
        "name": "channel_shuffle",
        "title": "The channel shuffle (ShuffleNet)",
        "text": r"""
Zhang, Zhou, Lin, Sun, *ShuffleNet: An Extremely Efficient Convolutional Neural
Network for Mobile Devices*, CVPR 2018 ([arXiv:1707.01083](https://arxiv.org/abs/1707.01083)),
Sec. 3.1, Fig. 1; Ma, Zhang, Zheng, Sun, *ShuffleNet V2*, ECCV 2018, Fig. 3.

A grouped convolution with $G$ groups only mixes channels inside a group.
Stack two of them and each output still depends on one group of the input.
The channel shuffle lets information cross groups at no cost: view the $C =
G \cdot n$ channels as a $G \times n$ matrix (group $g$, position $j$ in the
group), transpose it to $n \times G$ and read it back row by row:

$$
y[\dots, j \cdot G + g] = x[\dots, g \cdot n + j], \qquad
0 \le g < G,\; 0 \le j < n .
$$

For $C = 6$, $G = 2$ the input channels $0, 1, 2 \,|\, 3, 4, 5$ come out in
the order $0, 3, 1, 4, 2, 5$. The layer has no weights; height, width and
batch are untouched, and any of them may be unknown: reshape with the
channel axis split, transpose with `keras.ops.transpose`, and merge
(`keras.ops.reshape` accepts `-1` for one unknown size; read the others
with `keras.ops.shape`).

**Arguments:** `groups` and `**kwargs`. Input `channels_last`, $(B, H, W, C)
\to (B, H, W, C)$; $C$ is divisible by `groups`.
""",
        "stub": _layer_stub(
            "ChannelShuffle",
            "ShuffleNet's channel shuffle: (groups, n) -> (n, groups) on the channel axis.",
            init="groups, **kwargs",
        ),
        "target": "ChannelShuffle",
    },
    {
        "name": "fire_module",
        "title": "The Fire module (SqueezeNet)",
        "text": r"""
Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer, *SqueezeNet: AlexNet-level
accuracy with 50x fewer parameters and <0.5MB model size*, 2016
([arXiv:1602.07360](https://arxiv.org/abs/1602.07360)), Sec. 3.1–3.2, Fig. 1.

SqueezeNet saves parameters by feeding its 3×3 filters few channels: a Fire
module first *squeezes* the input with $s$ 1×1 filters, then *expands* with
$e_1$ 1×1 and $e_3$ 3×3 filters side by side, and concatenates the two
expansions on the channel axis, the 1×1 expansion first:

$$
\begin{aligned}
q &= \mathrm{relu}(\mathrm{conv}_{1\times1}(x)) && s \text{ channels} \\
y &= \big[\, \mathrm{relu}(\mathrm{conv}_{1\times1}(q)) \;\|\; \mathrm{relu}(\mathrm{conv}_{3\times3}(q)) \,\big] && e_1 + e_3 \text{ channels}
\end{aligned}
$$

Every convolution has a bias (there is no batch normalization in
SqueezeNet); the 3×3 uses `padding="same"`, so $(B, H, W, C) \to (B, H, W, e_1
+ e_3)$ and $H$, $W$ may be unknown.

**Arguments:** `squeeze`, `expand_1x1`, `expand_3x3` and `**kwargs`.

**Create the sublayers in this order:**

| # | layer | weights |
|---|-------|---------|
| 1 | `Conv2D(squeeze, 1)` | $(1, 1, C, s)$, bias $(s)$ |
| 2 | `Conv2D(expand_1x1, 1)` | $(1, 1, s, e_1)$, bias |
| 3 | `Conv2D(expand_3x3, 3, padding="same")` | $(3, 3, s, e_3)$, bias |

Trainable parameters of SqueezeNet's fire2 (96 → 16, 64, 64): $96{\cdot}16 + 16
+ 16{\cdot}64 + 64 + 9{\cdot}16{\cdot}64 + 64 = 11{,}920$.
""",
        "stub": _layer_stub(
            "FireModule",
            "SqueezeNet's Fire module: squeeze 1x1, expand 1x1 and 3x3, concatenated.",
            init="squeeze, expand_1x1, expand_3x3, **kwargs",
        ),
        "target": "FireModule",
    },
    {
        "name": "aspp",
        "title": "Atrous Spatial Pyramid Pooling (DeepLabv3)",
        "text": r"""
Chen, Papandreou, Schroff, Adam, *Rethinking Atrous Convolution for Semantic
Image Segmentation*, 2017 ([arXiv:1706.05587](https://arxiv.org/abs/1706.05587)),
Sec. 3.3, Fig. 5.

An atrous (dilated) convolution with rate $r$ reads its input $r$ pixels apart:

$$
y[i] = \sum_{k} x[i + r \cdot k]\, w[k]
$$

— a $3\times3$ kernel at rate $r$ sees a $(2r+1)\times(2r+1)$ window at the
cost of nine taps (`Conv2D(..., dilation_rate=r, padding="same")`). ASPP runs
several rates in parallel, plus a $1\times1$ branch and an image-level branch:

$$
\begin{aligned}
a_{0} &= u_{1\times1}(x), \qquad a_{r} = u_{3\times3,\,r}(x) \;\text{ for each rate } r, \\
g &= u_{1\times1}\big(\mathrm{mean}_{H,W}(x)\big) \text{ broadcast to } H \times W \quad\text{(if `image_pooling`)}, \\
y &= \mathrm{dropout}\big(u_{1\times1}([\,a_{0} \,\|\, a_{r_1} \,\|\, \dots \,\|\, g\,])\big)
\end{aligned}
$$

where every unit $u$ is conv (no bias) → `BatchNormalization` → ReLU, all with
`filters` output channels. Concatenate in the order 1×1, rates (as given),
pooling. $(B, H, W, C) \to (B, H, W, \text{filters})$; $H$, $W$ may be unknown.

**Arguments:** `filters=256`, `rates=(6, 12, 18)`, `image_pooling=True`,
`dropout=0.1` and `**kwargs`.

**Create the sublayers in this order** (it is *not* the concatenation order):

| # | unit (conv no bias + BN + ReLU) | kernel |
|---|------|--------|
| 1 … R | one per rate, in the order of `rates` | 3×3, `dilation_rate=r` |
| R+1 | the 1×1 branch | 1×1 |
| R+2 | the image-pooling branch (if `image_pooling`) | 1×1 |
| R+3 | the projection, on the concatenation | 1×1 |
| — | `Dropout(dropout)` (no weights) | |
""",
        "stub": _layer_stub(
            "ASPP",
            "DeepLabv3 ASPP: 1x1, atrous 3x3 per rate, image pooling; concat, project, dropout.",
            init="filters=256, rates=(6, 12, 18), image_pooling=True, dropout=0.1, **kwargs",
            call="inputs, training=None",
        ),
        "target": "ASPP",
    },
    {
        "name": "encoding",
        "title": "The Encoding layer (EncNet)",
        "text": r"""
Zhang, Dana, Shi, Zhang, Wang, Tyagi, Agrawal, *Context Encoding for Semantic
Segmentation*, CVPR 2018 ([arXiv:1803.08904](https://arxiv.org/abs/1803.08904)),
Sec. 3.1; the layer comes from Deep TEN (Zhang, Xue, Dana, CVPR 2017).

$K$ learned codewords $c_{k} \in \mathbb{R}^{C}$ summarise the $N$ feature
vectors $x_{i}$ of a map (its pixels) by soft-assigned residuals:

$$
r_{ik} = x_{i} - c_{k}, \qquad
a_{ik} = \frac{\exp(\,\beta_{k} \lVert r_{ik} \rVert^{2})}{\sum_{j=1}^{K} \exp(\,\beta_{j} \lVert r_{ij} \rVert^{2})}, \qquad
e_{k} = \sum_{i=1}^{N} a_{ik}\, r_{ik}
$$

Here $\beta_{k}$ is the weight `scale` (the official code stores the negated
smoothing factor: initialised uniform in $[-1, 0)$). Never build the
$B \times N \times K \times C$ tensor of residuals: use

$$
\lVert x_{i} - c_{k} \rVert^{2} = \lVert x_{i} \rVert^{2} - 2\, x_{i} \cdot c_{k} + \lVert c_{k} \rVert^{2},
\qquad
e_{k} = \sum_{i} a_{ik} x_{i} - \Big(\sum_{i} a_{ik}\Big) c_{k}.
$$

Input $(B, H, W, C)$ (or a set $(B, N, C)$; flatten with
`ops.reshape(x, (ops.shape(x)[0], -1, C))`), output $(B, K, C)$.

**Arguments:** `num_codes=32` and `**kwargs`.

**Create the weights in this order** (with `self.add_weight`):

| # | name | shape | initializer |
|---|------|-------|-------------|
| 1 | `codewords` | $(K, C)$ | uniform in $\pm 1/\sqrt{KC}$ |
| 2 | `scale` | $(K,)$ | uniform in $[-1, 0)$ |

Parameters: $KC + K$.
""",
        "stub": _layer_stub(
            "Encoding",
            "EncNet's residual encoding: (B, H, W, C) or (B, N, C) -> (B, K, C).",
            init="num_codes=32, **kwargs",
        ),
        "target": "Encoding",
    },
    {
        "name": "strip_pooling",
        "title": "Strip pooling (SPNet)",
        "text": r"""
Hou, Zhang, Cheng, Feng, *Strip Pooling: Rethinking Spatial Pooling for Scene
Parsing*, CVPR 2020 ([arXiv:2003.13328](https://arxiv.org/abs/2003.13328)),
Sec. 3.1–3.2, Fig. 2.

Long, thin pooling windows capture context along rows and columns:

$$
y^{h}_{c,i} = \frac{1}{W} \sum_{j=1}^{W} x_{c,i,j} \quad (H \times 1),
\qquad
y^{v}_{c,j} = \frac{1}{H} \sum_{i=1}^{H} x_{c,i,j} \quad (1 \times W)
$$

Each strip goes through a convolution along its length ($3 \times 1$ for the
rows, $1 \times 3$ for the columns, $C \to C$, no bias, "same") and
`BatchNormalization`; the two are expanded to $H \times W$ (broadcasting is
exact) and fused:

$$
y_{c,i,j} = \hat{y}^{h}_{c,i} + \hat{y}^{v}_{c,j},
\qquad
z = x \cdot \sigma\big(f(\mathrm{relu}(y))\big)
$$

with $f$ a $1\times1$ convolution $C \to C$ **with** bias. The output has the
input's shape; $H$ and $W$ may be unknown (use `ops.mean(..., keepdims=True)`).

**Arguments:** none besides `**kwargs`.

**Create the sublayers in this order:**

| # | layer | kernel weights |
|---|-------|----------------|
| 1 | `Conv2D(C, (3, 1), padding="same", use_bias=False)` | $(3, 1, C, C)$ |
| 2 | `BatchNormalization` | |
| 3 | `Conv2D(C, (1, 3), padding="same", use_bias=False)` | $(1, 3, C, C)$ |
| 4 | `BatchNormalization` | |
| 5 | `Conv2D(C, 1)` | $(1, 1, C, C)$ + bias |

Trainable parameters: $7C^{2} + 5C$ — 28,992 for $C = 64$.
""",
        "stub": _layer_stub(
            "StripPooling",
            "SPNet's strip pooling module: x times a gate built from row and column means.",
            call="inputs, training=None",
        ),
        "target": "StripPooling",
    },
    {
        "name": "exit_thresholds",
        "title": "Exit thresholds for budgeted batch classification (MSDNet)",
        "text": r"""
Huang, Chen, Li, Wu, van der Maaten, Weinberger, *Multi-Scale Dense Networks
for Resource Efficient Image Classification*, ICLR 2018
([arXiv:1703.09844](https://arxiv.org/abs/1703.09844)), Sec. 3 and 5
(budgeted batch classification); official code `dynamic_eval_find_threshold`.

An early-exit network has $K$ classifiers. A sample leaves at the first exit
$k$ whose top softmax probability (its *confidence*) reaches a threshold
$\theta_{k}$. Fit the thresholds on validation outputs so that a fraction
$p_{k}$ of the $n$ samples leaves at exit $k$:

$$
q_{k} = \lfloor n\, p_{k} \rfloor, \qquad
\theta_{k} = \text{the } q_{k}\text{-th largest of }
\big\{\, \max_{c} P_{k}(c \mid x_{i}) \;:\; i \text{ has not left} \,\big\}
$$

* go through the exits in order; at exit $k < K$, among the samples that have
  not left yet, the $q_{k} = \lfloor n\, p_{k} \rfloor$ most confident leave:
  $\theta_{k}$ is the confidence of the $q_{k}$-th of them (sorted descending);
* every sample with confidence $\ge \theta_{k}$ at exit $k$ counts as gone
  (ties included) before moving to exit $k + 1$;
* if $q_{k} = 0$, or more than the samples left, $\theta_{k} = +\infty$;
* the last threshold is $\theta_{K} = -\infty$: everyone left leaves there.

Write a **numpy** function `exit_thresholds(val_probs, fractions)`:
`val_probs` has shape $(K, n, \text{classes})$, `fractions` shape $(K,)$
(non-negative, summing to 1). Return a float array of shape $(K,)$. Do not
modify the arrays you are given.
""",
        "stub": '''import numpy as np


def exit_thresholds(val_probs, fractions):
    """Confidence thresholds so that fractions[k] of the samples leave at exit k."""
    # YOUR CODE HERE
    raise NotImplementedError
''',
        "target": "exit_thresholds",
    },
]


def notebook(exercise):
    """The notebook of one exercise (no outputs)."""
    from kcv.grading import exercises as registry

    spec = registry.get(exercise["name"])
    hidden = (
        LAYER_HIDDEN
        if spec.kind == "layer"
        else "its values on random and edge cases, and that it leaves its inputs unchanged"
    )
    public = ", ".join(f"`{c}`" for c in spec.public_checks)
    intro = f"# Exercise: {exercise['title']}\n{exercise['text']}"
    how = (
        "## Your implementation\n\n"
        "Write it in the next cell, which is tagged `solution`: it is the only cell "
        "`kcv grade` reads, so it must hold its own imports. Use `keras`, `keras.ops` and "
        "numpy — not `kcv`, which holds the reference implementation (a submission that "
        "imports it scores 0)."
    )
    cells = [
        nbformat.v4.new_markdown_cell(intro),
        nbformat.v4.new_markdown_cell(how),
        nbformat.v4.new_code_cell(exercise["stub"].rstrip("\n"), metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell(CHECK.format(public=public)),
        nbformat.v4.new_code_cell(
            f'from kcv.grading import check\n\ncheck("{exercise["name"]}", {exercise["target"]})',
            metadata={"tags": ["check"]},
        ),
        nbformat.v4.new_markdown_cell(SUBMIT.format(name=exercise["name"], hidden=hidden)),
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"{exercise['name'].replace('_', '-')}-{i}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["kcv"] = {"exercise": exercise["name"]}
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for exercise in EXERCISES:
        path = os.path.join(HERE, f"{exercise['name']}.ipynb")
        text = nbformat.writes(notebook(exercise)) + "\n"
        current = Path(path).read_text(encoding="utf-8") if os.path.exists(path) else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path)}")
    if stale:
        print("out of date (run python exercises/_build.py):\n" + "\n".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
