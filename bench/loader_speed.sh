#!/usr/bin/env bash
# loader_speed.sh: is data loading ever the bottleneck? Trains one epoch of Fashion-MNIST with
# `dcgan train` (real data: decoded cache, per-epoch shuffle, prefetch thread, the per-step log;
# sample grids only at the epoch's end and one final checkpoint) and times the same model with
# `dcgan bench` (synthetic data, no I/O) right after; prints both and the ratio.
# usage: bench/loader_speed.sh [extra model options, default: --gf 32 --df 32]
set -euo pipefail
cd "$(dirname "$0")/.."
opts=${*:---gf 32 --df 32}
out=$(mktemp -d /tmp/dcgan-loader-speed.XXXXXX)
trap 'rm -rf "$out"' EXIT
./dcgan train --out "$out/run" --epochs 1 --threads 2 --quiet --sample-every 0 --checkpoint-every 0 $opts
steps=$(($(wc -l < "$out/run/losses.csv") - 1))
secs=$(tail -1 "$out/run/losses.csv" | cut -d, -f10)
train_ips=$(awk -v s="$steps" -v t="$secs" 'BEGIN { printf "%.1f", s * 64 / t }')
bench_line=$(./dcgan bench --arch dcgan --size 32 --channels 1 --g-steps 2 --batch 64 --threads 2 --steps 100 --warmup 2 $opts)
bench_ips=$(printf '%s' "$bench_line" | sed -nE 's/.*images_per_s=([0-9.]+).*/\1/p')
echo "train: one epoch of Fashion-MNIST ($steps iterations) at $train_ips images/s (wall clock of the training loop)"
echo "bench: $bench_ips images/s (synthetic data)"
awk -v a="$train_ips" -v b="$bench_ips" 'BEGIN { printf "ratio train/bench: %.2f\n", a / b }'
