#!/usr/bin/env bash
# run_folder_writes.sh: what writing the run folder (sample grids, their report and TensorBoard
# image, checkpoints) costs a training run, written on the writer's thread (the default) and in the
# training loop (DCGAN_SYNC_WRITES=1), alternating, ROUNDS rounds. A tiny model at 64x64 RGB with a
# grid at every iteration makes the writes most of the run; --threads 1 leaves a core free, as a GPU
# leaves the host. Also the full-width model with a grid and a checkpoint (76 MB) every iteration.
# Prints wall seconds per run.
# usage: bench/run_folder_writes.sh [ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
out=$(mktemp -d /tmp/dcgan-writes.XXXXXX)
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 - "$out/images" <<'EOF'
import os, sys
import numpy as np
from PIL import Image
os.makedirs(sys.argv[1])
r = np.random.default_rng(0)
for i in range(256):  # smooth colour fields, as PNGs of 64x64
    Image.fromarray((r.random((8, 8, 3)) * 255).astype(np.uint8)).resize((64, 64), Image.BILINEAR).save(
        "%s/%03d.png" % (sys.argv[1], i))
EOF
wall() { # settings, then train options: prints the run's wall seconds
    local env=$1; shift
    rm -rf "$out/run"
    local a b
    a=$(date +%s.%N)
    env $env ./dcgan train --data "$out/images" --out "$out/run" --quiet "$@" >/dev/null
    b=$(date +%s.%N)
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b - a }'
}
tiny="--size 64 --channels 3 --gf 4 --df 4 --batch 8 --steps 100 --checkpoint-every 0 --no-tensorboard"
full="--size 64 --channels 3 --steps 10 --sample-every 1 --checkpoint-every 1"
echo "machine: $(nproc) cores, $(lscpu | sed -nE 's/^Model name: +//p'); wall seconds per run"
printf '%-72s %8s %8s\n' run thread loop
for r in $(seq 1 "$rounds"); do
    for t in 1 2; do
        printf '%-72s %8s %8s\n' "round $r: tiny model, 100 iterations, a grid each, --threads $t" \
            "$(wall DCGAN_SYNC_WRITES=0 $tiny --sample-every 1 --threads $t)" \
            "$(wall DCGAN_SYNC_WRITES=1 $tiny --sample-every 1 --threads $t)"
    done
    printf '%-72s %8s\n' "round $r: the same, grids at the epochs' ends only, --threads 1" \
        "$(wall DCGAN_SYNC_WRITES=0 $tiny --sample-every 0 --threads 1)"
    printf '%-72s %8s %8s\n' "round $r: full width, 10 iterations, a grid and a checkpoint each, --threads 1" \
        "$(wall DCGAN_SYNC_WRITES=0 $full --threads 1)" "$(wall DCGAN_SYNC_WRITES=1 $full --threads 1)"
done
