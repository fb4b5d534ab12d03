#!/usr/bin/env bash
# Issue 19's GPU check as prepared runs, for a lent GPU machine whose image
# holds PyTorch and JAX with CUDA but not Keras (carried as wheels in .whl/,
# see benchmarks/README.md, "On a GPU") and not TensorFlow.
#
#     OUT=/some/dir bash benchmarks/gpu_run.sh [SECONDS] [all|bench|tests]
#
# Each step runs under its own time limit, capped by what is left of the
# budget (SECONDS, default 560), so that the run ends inside the lease:
#   bench: the model benchmarks on the idle machine: float32 on every backend,
#      torch.compile on the torch backend, mixed_bfloat16 on the torch backend
#      (the family benchmarks' GPU runs are in results/families_gpu*.md);
#   tests: side by side, the JAX and torch test runs (pytest-xdist) and
#      chapter 03 in full mode on JAX and on torch (tools/run_cells.py);
#   all (default): bench, then tests.
# On an H200 the model benchmarks took about 50 s per model and the JAX tests
# about 0.7 s per test on 6 workers (results/gpu_h200_run.md): within a
# 15-minute lease, give `bench` one call and `tests` another.
# Everything is written to a scratch folder and packed into $OUT/gpu.tgz
# after every step, so that a step cut short still returns what came before.
set -u
BUDGET=${1:-560}
PART=${2:-all}
case $PART in all | bench | tests) ;; *) echo "PART must be all, bench or tests; received $PART"; exit 2 ;; esac
START=$SECONDS
OUT=${OUT:-build/gpu}
WORK=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

left() { echo $((BUDGET - (SECONDS - START))); }
pack() { tar czf "$OUT/gpu.tgz" -C "$WORK" . ; }
# step NAME SECONDS COMMAND...: runs COMMAND under a limit (never past the budget less 20 s).
step() {
    local name=$1 limit=$2
    shift 2
    local cap=$(($(left) - 20))
    [ "$limit" -gt "$cap" ] && limit=$cap
    if [ "$limit" -le 10 ]; then echo "[$name] skipped: out of time" | tee -a "$WORK/steps.txt"; return; fi
    local began=$SECONDS
    timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
    local code=$?
    echo "[$name] exit $code in $((SECONDS - began)) s (limit $limit s)" | tee -a "$WORK/steps.txt"
    tail -n 25 "$WORK/$name.log"
    pack
}

{
    nvidia-smi
    KERAS_BACKEND=jax python3 -c "import jax, torch, keras; print('jax', jax.__version__, jax.devices()); print('torch', torch.__version__, torch.cuda.get_device_name(0)); print('keras', keras.__version__)"
    nproc
} > "$WORK/machine.txt" 2>&1
cat "$WORK/machine.txt"

if [ "$PART" != tests ]; then
    # Four runs of models.py, the most wanted first; each writes its tables
    # after every model, so a run cut short by its limit keeps what it finished.
    # float32 on every backend (JAX's GPU compilations make these ~50 s a model):
    step models_classification 230 python3 benchmarks/models.py --batch 128 --repeats 10 \
        --warmup 3 --output-dir "$WORK/classification" \
        --models googlenet_cifar,se_resnet20_cifar,se_resnet50,mobilenet_v1,mobilenet_v2,msdnet_cifar_anytime,encnet_cifar
    step models_segmentation 150 python3 benchmarks/models.py --batch 32 --repeats 10 --warmup 3 \
        --models deeplab_v3,deeplab_v3_plus,encnet,spnet --output-dir "$WORK/segmentation"
    # torch.compile on the torch backend (first steps: compile time; medians: steady state):
    step models_torch_jit 80 python3 benchmarks/models.py --batch 128 --repeats 10 --warmup 3 \
        --backends torch --jit-compile --models googlenet_cifar,mobilenet_v2,se_resnet50 \
        --output-dir "$WORK/jit"
    # mixed precision, torch backend against autocast PyTorch, every model:
    step models_bfloat16 80 python3 benchmarks/models.py --batch 128 --repeats 10 --warmup 3 \
        --dtype mixed_bfloat16 --backends torch --output-dir "$WORK/bfloat16"
fi
[ "$PART" = bench ] && { cat "$WORK/steps.txt"; exit 0; }

# Tests and chapters side by side: 16 cores, one GPU; not timed as benchmarks.
limit=$(($(left) - 25))
[ "$limit" -le 10 ] && { echo "tests and chapters skipped: out of time" | tee -a "$WORK/steps.txt"; pack; exit 1; }
# GPU_TEST_BACKENDS (default "jax torch") chooses the test runs; 14 test workers share the 16 cores.
backends=${GPU_TEST_BACKENDS:-jax torch}
set -- $backends
workers=$((14 / $#))
for b in $backends; do
    (
        began=$SECONDS
        KERAS_BACKEND=$b timeout "$limit" python3 -m pytest tests -n $workers -v -p no:cacheprovider \
            -m "not backend_independent" --ignore=tests/test_chapters.py --ignore=tests/test_book.py \
            --continue-on-collection-errors -rfE --junitxml="$WORK/tests_$b.xml" > "$WORK/tests_$b.log" 2>&1
        echo "[tests_$b] exit $? in $((SECONDS - began)) s (limit $limit s)" >> "$WORK/steps.txt"
    ) &
    (
        began=$SECONDS
        KERAS_BACKEND=$b timeout "$limit" python3 tools/run_cells.py notebooks/03_resnet_resnext.ipynb \
            FAST=False > "$WORK/chapter03_$b.log" 2>&1
        echo "[chapter03_$b] exit $? in $((SECONDS - began)) s (limit $limit s)" >> "$WORK/steps.txt"
    ) &
done
wait
for f in "$WORK"/tests_*.log "$WORK"/chapter03_*.log; do echo "== $f"; tail -n 15 "$f"; done
pack
cat "$WORK/steps.txt"
