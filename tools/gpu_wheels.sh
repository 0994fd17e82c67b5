#!/usr/bin/env bash
# Fetch the wheels that tools/gpu_train.sh installs on a GPU machine without a network: the
# pure-Python packages that machine lacks (keras, namex) and optree's binary wheel for its Python.
# Run it on a machine with a network, in the repository's root; `.whl/` is git-ignored.
#
#   tools/gpu_wheels.sh [PYTHON_VERSION]      # default 3.12, the GPU machines' python3
set -euo pipefail
version=${1:-3.12}
cd "$(dirname "$0")/.."
# The versions this project is tested with (the venv's); everything else Keras needs (numpy,
# absl-py, rich, h5py, ml-dtypes, packaging) is on those machines already.
pins=(keras==3.15.1 namex==0.1.0 optree==0.20.0)
platforms=()
for n in 17 24 27 28 31 34 35; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" \
    --implementation cp "${platforms[@]}" --platform manylinux2014_x86_64 -d .whl "${pins[@]}"
ls -l .whl
