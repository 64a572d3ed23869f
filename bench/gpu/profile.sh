#!/usr/bin/env bash
# bench/gpu/profile.sh: where the GPU time of one training iteration goes, for the configurations of
# the speed table: GPU time per backend op (DCGAN_CUDA_PROFILE=1, op by op with a wait after each),
# the convolution algorithms chosen, and the iteration time with and without the recorded graph.
# Uses the same binaries as bench/gpu/run.sh (the bundle from tools/gpu_bundle.sh, or a build).
# Output goes to $OUT/profile.txt (default OUT /tmp/dcgan-gpu).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/dcgan-gpu}
mkdir -p "$OUT"
source bench/gpu/env.sh || exit 1
{
    for cfg in "dcgan 64 3 1 64" "dcgan 64 3 1 256" "seed 128 3 2 64"; do
        set -- $cfg
        args=(--device cuda --arch "$1" --size "$2" --channels "$3" --g-steps "$4" --batch "$5")
        for prec in tf32 bf16; do
            echo "== $1 ${2}px batch $5, $prec"
            "$DCGAN" bench "${args[@]}" --precision "$prec" --steps 200 --warmup 20
            "$DCGAN" bench "${args[@]}" --precision "$prec" --steps 100 --warmup 20 --no-graph
        done
        echo "== $1 ${2}px batch $5, tf32: GPU time per op over 10 iterations (after 5 not counted)"
        DCGAN_CUDA_PROFILE=1 DCGAN_CUDA_PROFILE_SKIP=$((5 * (1 + $4))) DCGAN_CUDA_VERBOSE=1 \
            "$DCGAN" bench "${args[@]}" --steps 10 --warmup 5 --no-graph 2>&1
    done
} 2>&1 | tee "$OUT/profile.txt"
