#!/usr/bin/env bash
# loader_speed.sh: is data loading ever the bottleneck? Trains one epoch of Fashion-MNIST with
# `dcgan train` (real data: decoded cache, per-epoch shuffle, prefetch thread, the per-step CSV and
# TensorBoard log; sample grids only at the epoch's end and one final checkpoint) and times the same
# model with `dcgan bench` (synthetic data, no I/O) right before and right after, for ROUNDS rounds:
# this machine's speed drifts by tens of percent from minute to minute, so each epoch is compared
# with the mean of the two benches around it. Prints every round and the median ratio.
# usage: bench/loader_speed.sh [ROUNDS=3] [model options, default: --gf 32 --df 32]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; shift $(( $# < 1 ? $# : 1 ))
opts=${*:---gf 32 --df 32}
out=$(mktemp -d /tmp/dcgan-loader-speed.XXXXXX)
trap 'rm -rf "$out"' EXIT
bench() {
    ./dcgan bench --arch dcgan --size 32 --channels 1 --g-steps 2 --batch 64 --threads 2 --steps 150 --warmup 5 $opts |
        sed -nE 's/.*images_per_s=([0-9.]+).*/\1/p'
}
ratios=()
b0=$(bench)
for r in $(seq 1 "$rounds"); do
    rm -rf "$out/run"
    ./dcgan train --out "$out/run" --epochs 1 --threads 2 --quiet --sample-every 0 --checkpoint-every 0 $opts
    # images/s of the training loop from its own clock, after 10 warm-up iterations
    train_ips=$(awk -F, 'NR == 12 { t0 = $10; s0 = $1 } END { printf "%.1f", ($1 - s0) * 64 / ($10 - t0) }' "$out/run/losses.csv")
    b1=$(bench)
    ratio=$(awk -v t="$train_ips" -v a="$b0" -v b="$b1" 'BEGIN { printf "%.3f", t / ((a + b) / 2) }')
    echo "round $r: bench $b0, train one epoch $train_ips, bench $b1 images/s: train / mean bench = $ratio"
    ratios+=("$ratio")
    b0=$b1
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "median ratio train/bench over %d rounds: %s\n", NR, a[int((NR + 1) / 2)] }'
