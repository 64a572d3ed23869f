#!/usr/bin/env bash
# quality_bf16.sh: does --precision bf16 on the CPU train as well as fp32? Trains the `dcgan`
# architecture at 32x32 on Fashion-MNIST for EPOCHS epochs in fp32 and in bf16, same seeds, and
# scores 10000 samples after every epoch with `dcgan eval` (FID-LeNet against the training set).
# Prints FID-LeNet per epoch and the training wall time (sample scoring excluded) for both.
# usage: bench/quality_bf16.sh [EPOCHS=2] [SEEDS=2] [model options, default --gf 32 --df 32]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-2}; seeds=${2:-2}; shift $(( $# < 2 ? $# : 2 ))
opts=${*:---gf 32 --df 32}
out=$(mktemp -d /tmp/dcgan-quality-bf16.XXXXXX)
trap 'rm -rf "$out"' EXIT
fid() { sed -nE 's/.*"fid": ([0-9.eE+-]+).*/\1/p'; }
bpe=$((60000 / 64))
echo "machine: $(nproc) cores, $(lscpu | sed -nE 's/^Model name: +//p'); dcgan 32x32x1 $opts, g-steps 1, batch 64, $epochs epochs, $seeds seeds"
printf '%-9s %-5s %-6s %12s %12s\n' precision seed epoch "FID-LeNet" "train s"
for s in $(seq 1 "$seeds"); do
    for p in fp32 bf16; do
        ./dcgan train --out "$out/$p$s" --precision "$p" --epochs "$epochs" --seed "$s" --g-steps 1 --threads 2 --quiet \
            --sample-every 0 --checkpoint-every $bpe --keep 1000 --no-tensorboard $opts
        for e in $(seq 1 "$epochs"); do
            step=$((e * bpe))
            secs=$(awk -F, -v s=$step '$1 == s { print $10 }' "$out/$p$s/losses.csv")
            f=$(./dcgan eval --checkpoint "$out/$p$s/$(printf 'ckpt_%08d.dcgan' $step)" -n 10000 --json | fid)
            printf '%-9s %-5s %-6s %12s %12s\n' "$p" "$s" "$e" "$f" "$secs"
        done
    done
done
