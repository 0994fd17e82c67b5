#!/usr/bin/env bash
# Train the shipped model's recipe (configs/bsds500.json: circular padding, scale-jittered crops,
# K = 20) at the paper's scale (64 to 1024 channels, 224x224 crops, batch 10) on a GPU machine that
# has JAX but neither TensorFlow nor a network, for a wall-clock budget, and collect what to bring
# back.
#
#   tools/gpu_train.sh IMAGES OUT [SECONDS]
#
# IMAGES   a folder of images (e.g. the 200 BSDS500 train images; labels are never used)
# OUT      where the results go (at most 8 files, none deeper than OUT/NAME/FILE):
#            timing-mixed_bfloat16.json, timing-float32.json  seconds per step (the first, which
#                     compiles, apart), peak GPU memory, device
#            scalars.csv     the float32 run's loss and rate curve, a row every 10 steps
#            bsds500-gpu/    the trained model as a shipped-model folder: config.json and float16
#                            weights in Keras shards of at most 16 MiB (wnet.weights.json,
#                            wnet_00000.weights.h5, ...)
#            log.txt         everything the runs printed
# SECONDS  the whole training budget, start-up and compilation included (default 420): first
#          BF16_STEPS (default 30) steps in mixed_bfloat16 for their speed, then float32 training
#          for the rest of the budget.
#
# Beforehand, on a machine with a network: tools/gpu_wheels.sh (keras, namex, optree into .whl/,
# or WNET_WHEELS=DIR). Everything else the training needs (numpy, Pillow, click, tqdm and Keras'
# own needs) is on those machines. The run directories stay in WORK (default
# ${TMPDIR:-/tmp}/wnet-gpu); CONFIG=FILE trains another config, and SCALE (default
# "model.base_filters=64 data.image_size=224 data.batch_size=10") are the overrides that scale it up:
# `SCALE= tools/gpu_train.sh ...` trains bsds500.json as it is (to try the script on a CPU). The
# float32 run stops at the config's iterations (6,000, the rate divided by 10 from 5,000) or at the
# budget, whichever comes first. Back on a machine with TensorFlow, `--model OUT/bsds500-gpu` (a
# shipped-model folder) segments and post-processes with the trained model.
set -euo pipefail
if [ $# -lt 2 ]; then sed -n 2,31p "$0"; exit 2; fi
images=$(realpath "$1")
out=$(realpath -m "$2")
budget=${3:-420}
bf16_steps=${BF16_STEPS:-30}
name=${NAME:-bsds500-gpu}
config=${CONFIG:-configs/bsds500.json}
scale=${SCALE-model.base_filters=64 data.image_size=224 data.batch_size=10}
scale_sets=()
for setting in $scale; do scale_sets+=(--set "$setting"); done  # unquoted: one --set per word
root=$(cd "$(dirname "$0")/.." && pwd)
wheels=${WNET_WHEELS:-$root/.whl}
work=${WORK:-${TMPDIR:-/tmp}/wnet-gpu}
python=${PYTHON:-python3}
config=$(realpath "$config")
[ -d "$images" ] || { echo "IMAGES=$1: no such folder" >&2; exit 2; }
ls "$wheels"/keras-*.whl >/dev/null 2>&1 || {
    echo "$wheels: no keras wheel; run tools/gpu_wheels.sh first (or set WNET_WHEELS)" >&2; exit 2; }
mkdir -p "$out" "$work"
exec > >(tee "$out/log.txt") 2>&1

"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$work/site" "$wheels"/*.whl
export PYTHONPATH="$work/site:$root" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
# The second run compiles the same variable initialisers as the first: cache them.
export JAX_COMPILATION_CACHE_DIR="$work/jax-cache" JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
cd "$root"
"$python" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"

train() {  # PRECISION RUN_DIR OVERRIDE...
    local precision=$1 run=$2
    shift 2
    rm -rf "$run"
    "$python" -m wnet_tf.train "$config" --workdir "$run" --no-progress \
        --set data.source=folder --set "data.train=$images" --set data.val= \
        --set train.precision="$precision" "${scale_sets[@]}" "$@"
    cp "$run/timing.json" "$out/timing-$precision.json"
    cat "$out/timing-$precision.json"
}

start=$(date +%s)
# Steps, not seconds: start-up and compilation take an unknown share of any time budget.
train mixed_bfloat16 "$work/bf16" --set train.iterations="$bf16_steps" \
    --set train.max_seconds=$(( budget / 3 ))
left=$(( budget - ($(date +%s) - start) ))
train float32 "$work/float32" --set train.max_seconds="$left"
cp "$work/float32/scalars.csv" "$out/scalars.csv"
"$python" tools/ship_model.py "$work/float32" "$name" --float16 --max-mib 16 --weights-dir "$out"
echo "done in $(( $(date +%s) - start )) s: $out"
ls -lR "$out"
