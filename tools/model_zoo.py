"""The model zoo page: every kcv model, its size and cost, the reference it matches, its speed,
the pretrained weights that load into it.

    python tools/model_zoo.py [--output book/zoo.md]

Parameters and multiply-accumulates are computed here from the models
themselves (``kcv.analysis``, shapes only: no weights are allocated); the
reference each model matches names the test that pins its count; the speed
columns come from the last committed model benchmark
(``benchmarks/results/models_cpu.csv``), for the models it measures; the
pretrained weights are those whose network is the model's
(``kcv.weights.weight_sets``, from the table ``kcv.weights.ARCHITECTURES``). The
book build writes the page (``tools/build_book.py``); nothing in it is typed by
hand except the references, which are facts about other code bases.
"""

import argparse
import csv
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARK = os.path.join(ROOT, "benchmarks", "results", "models_cpu.csv")


def entries():
    """``[(call, builder, reference, test, benchmark name or None)]``, one per zoo row."""
    import kcv

    m = kcv.models
    tv = "torchvision's count"
    return [
        ("AlexNet(variant='paper')", lambda: m.AlexNet(variant="paper"), "paper, Sec. 3.5 (2 GPUs, LRN)", "test_models_alexnet.py", None),
        ("AlexNet(variant='torchvision')", lambda: m.AlexNet(variant="torchvision"), tv, "test_models_alexnet.py", None),
        *[
            (f"VGG({d}, batch_norm={bn})", lambda d=d, bn=bn: m.VGG(d, batch_norm=bn), tv, "test_models_vgg.py", None)
            for d in (11, 16, 19)
            for bn in (False, True)
        ],
        ("GoogLeNet()", lambda: m.GoogLeNet(), "paper, Table 1", "test_models_googlenet.py", None),
        ("GoogLeNet(convention='torchvision')", lambda: m.GoogLeNet(convention="torchvision"), "torchvision's count (a 3x3 for each 5x5)", "test_weights.py", None),
        ("GoogLeNetCIFAR()", lambda: m.GoogLeNetCIFAR(), "kuangliu/pytorch-cifar, less its 7,904 conv biases before BN", "test_models_googlenet.py", "googlenet_cifar"),
        *[
            (f"ResNet({d})", lambda d=d: m.ResNet(d), tv, "test_models_resnet.py", None)
            for d in (18, 34, 50, 101, 152)
        ],
        ("ResNeXt(50, cardinality=32, width_per_group=4)", lambda: m.ResNeXt(50, cardinality=32, width_per_group=4), tv, "test_models_resnet.py", None),
        ("SEResNet50()", lambda: m.SEResNet50(), "timm / Cadene se_resnet50", "test_models_senet.py", "se_resnet50"),
        ("SEResNetCIFAR(depth=20)", lambda: m.SEResNetCIFAR(depth=20), "CIFAR ResNet-20 + SE, counted by formula", "test_models_senet.py", "se_resnet20_cifar"),
        ("MobileNetV1()", lambda: m.MobileNetV1(), "keras.applications (same weights, same outputs)", "test_models_mobilenet.py", "mobilenet_v1"),
        ("MobileNetV2()", lambda: m.MobileNetV2(), "keras.applications (same weights, same outputs)", "test_models_mobilenet.py", "mobilenet_v2"),
        ("MobileNetV3('large')", lambda: m.MobileNetV3("large"), tv, "test_models_mobilenet_v3.py", None),
        ("MobileNetV3('small')", lambda: m.MobileNetV3("small"), tv, "test_models_mobilenet_v3.py", None),
        *[
            (f"ShuffleNetV2({s})", lambda s=s: m.ShuffleNetV2(s), tv, "test_models_shufflenet.py", None)
            for s in (0.5, 1.0, 1.5, 2.0)
        ],
        ("SqueezeNet('1.0')", lambda: m.SqueezeNet("1.0"), tv, "test_models_squeezenet.py", None),
        ("SqueezeNet('1.1')", lambda: m.SqueezeNet("1.1"), tv, "test_models_squeezenet.py", None),
        ("FCN((512, 512, 3), 21, 'vgg16', stride=8)", lambda: m.FCN((512, 512, 3), 21, "vgg16", stride=8), "counted by hand (chapter 07)", "test_models_fcn.py", None),
        ("FCN((512, 512, 3), 21, 'resnet50', stride=8)", lambda: m.FCN((512, 512, 3), 21, "resnet50", stride=8), "counted by hand", "test_models_fcn.py", None),
        ("DeepLabV3((512, 512, 3), 21)", lambda: m.DeepLabV3((512, 512, 3), 21), "no external count (MobileNetV2 backbone)", "test_models_deeplab.py", "deeplab_v3"),
        ("DeepLabV3((512, 512, 3), 21, 'resnet50', output_stride=8)", lambda: m.DeepLabV3((512, 512, 3), 21, backbone="resnet50", output_stride=8), "torchvision's deeplabv3_resnet50 less its auxiliary classifier and DeepLabHead's 3x3 convolution (see the test)", "test_models_deeplab.py", None),
        ("DeepLabV3((512, 512, 3), 21, 'resnet50', output_stride=8, convention='torchvision')", lambda: m.DeepLabV3((512, 512, 3), 21, backbone="resnet50", output_stride=8, convention="torchvision"), "torchvision's deeplabv3_resnet50 less its auxiliary classifier", "test_weights.py", None),
        ("DeepLabV3Plus((512, 512, 3), 21)", lambda: m.DeepLabV3Plus((512, 512, 3), 21), "no external count (MobileNetV2 backbone)", "test_models_deeplab.py", "deeplab_v3_plus"),
        ("EncNet((512, 512, 3), 21)", lambda: m.EncNet((512, 512, 3), 21), "PyTorch-Encoding's head on torchvision's ResNet-50", "test_models_encnet.py", "encnet"),
        ("EncNetCIFAR()", lambda: m.EncNetCIFAR(), "PyTorch-Encoding (CIFAR)", "test_models_encnet.py", "encnet_cifar"),
        ("SPNet((512, 512, 3), 21)", lambda: m.SPNet((512, 512, 3), 21), "the official SPNet structure", "test_models_spnet.py", "spnet"),
        ("MSDNet(preset='cifar_anytime')", lambda: m.MSDNet(preset="cifar_anytime"), "MSDNet-PyTorch (official)", "test_models_msdnet.py", "msdnet_cifar_anytime"),
        ("MSDNet(preset='imagenet')", lambda: m.MSDNet(preset="imagenet"), "MSDNet-PyTorch (official)", "test_models_msdnet.py", None),
    ]  # fmt: skip


def speeds(path=None):
    """``{benchmark model: {backend: train-step ratio to plain PyTorch}}`` from the benchmark CSV."""
    path = path or BENCHMARK
    if not os.path.exists(path):
        return {}
    found = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["implementation"].startswith("kcv on "):
                backend = row["implementation"].removeprefix("kcv on ")
                found.setdefault(row["model"], {})[backend] = float(row["ratio"])
    return found


def rows(selected=None):
    """One dict per zoo entry: call, parameters, MACs, input shape, reference, test, speed,
    pretrained weight sets.

    Args:
        selected: list of entries (default: :func:`entries`).
    """
    import keras

    from kcv.analysis import count_macs
    from kcv.analysis import count_params
    from kcv.weights import weight_sets

    timing = speeds()
    table = []
    for call, build, reference, test, benchmark in selected or entries():
        with keras.StatelessScope(initialize_variables=False):
            model = build()
            outputs = model.outputs
            table.append(
                {
                    "call": call,
                    "parameters": count_params(model),
                    "macs": count_macs(model),
                    "input": tuple(model.inputs[0].shape[1:]),
                    "outputs": len(outputs),
                    "reference": reference,
                    "test": test,
                    "benchmark": benchmark,
                    "speed": timing.get(benchmark, {}),
                    "weights": weight_sets(model),
                }
            )
        keras.utils.clear_session()
    return table


def weights_text(sets):
    """``[(library, "Enum.TAG")]`` as one cell: ``torchvision `Enum`: TAG, TAG``, per network."""
    grouped = {}
    for library, name in sets:
        network, tag = name.split(".", 1)
        grouped.setdefault((library, network), []).append(tag)
    return "; ".join(
        f"{lib} `{network}`: {', '.join(tags)}" for (lib, network), tags in grouped.items()
    )


def markdown(table):
    """The zoo page (MyST Markdown) for ``rows()``."""
    lines = [
        "# Model zoo",
        "",
        "Every model in `kcv.models` at its default size, generated from the code by",
        "`tools/model_zoo.py` (the book build runs it): trainable parameters and",
        "multiply-accumulates of one image (`kcv.analysis`), the reference each count",
        "matches and the test that pins it (in `tests/`), and, for the models that",
        "`benchmarks/models.py` measures, the train step's time as a multiple of plain",
        "PyTorch on this project's 2-core CPU (32×32 inputs, batch 32; lower is faster;",
        "`benchmarks/results/models_cpu.md` has the set-up). The last column lists the",
        "pretrained weight sets of the same network (`kcv.weights.weight_sets`): torchvision's",
        "load with `kcv.weights.load_torchvision` into the model built with",
        "`convention=\"torchvision\"`, timm's with `kcv.weights.load_timm` (PyTorch's padding",
        "and batch-norm epsilon); nothing is downloaded by kcv.",
        "",
        "| model | parameters | MACs | input | matches | pinned by | jax | tensorflow | torch "
        "| pretrained weights |",
        "|---|---:|---:|---|---|---|---:|---:|---:|---|",
    ]
    for row in table:
        speed = [
            f"{row['speed'][b]:.2f}×" if b in row["speed"] else ""
            for b in ("jax", "tensorflow", "torch")
        ]
        macs = row["macs"]
        macs_text = f"{macs / 1e9:.2f} G" if macs >= 1e9 else f"{macs / 1e6:.1f} M"
        lines.append(
            f"| `{row['call']}` | {row['parameters']:,} | {macs_text} | "
            f"{'×'.join(str(d) for d in row['input'])} | {row['reference']} | "
            f"`{row['test']}` | " + " | ".join(speed) + f" | {weights_text(row['weights'])} |"
        )
    lines += [
        "",
        "Classifiers are counted with their 1,000-class top; segmentation models with",
        "21 classes at 512×512; MSDNet's MACs are those of all exits together.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", help="write the page there (default: print it)")
    args = parser.parse_args(argv)
    page = markdown(rows())
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
