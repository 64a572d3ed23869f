#!/usr/bin/env bash
# quality.sh: sample quality against PyTorch. Trains the `dcgan` architecture at 32x32 on
# Fashion-MNIST for EPOCHS epochs with dcgan and with PyTorch (bench/torch_train_fashion.py: the same
# architecture, initialization, Adam settings, batch 64 and G/D schedule), SEEDS seeds each, and
# scores 10000 samples after every epoch with `dcgan eval` (FID-LeNet against the training set).
# Prints FID-LeNet per epoch and the training wall time (sample scoring excluded) for both.
# usage: bench/quality.sh [EPOCHS=2] [SEEDS=3] [model options, default --gf 32 --df 32]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-2}; seeds=${2:-3}; shift $(( $# < 2 ? $# : 2 ))
opts=${*:---gf 32 --df 32}
gf=$(printf '%s' "$opts" | sed -nE 's/.*--gf ([0-9]+).*/\1/p'); df=$(printf '%s' "$opts" | sed -nE 's/.*--df ([0-9]+).*/\1/p')
out=$(mktemp -d /tmp/dcgan-quality.XXXXXX)
trap 'rm -rf "$out"' EXIT
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} # PyTorch's faster BLAS here
fid() { sed -nE 's/.*"fid": ([0-9.eE+-]+).*/\1/p'; }
bpe=$((60000 / 64))
echo "machine: $(nproc) cores, $(lscpu | sed -nE 's/^Model name: +//p'); dcgan 32x32x1 $opts, g-steps 1, batch 64, $epochs epochs, $seeds seeds"
printf '%-8s %-5s %-6s %12s %12s\n' impl seed epoch "FID-LeNet" "train s"
for s in $(seq 1 "$seeds"); do
    ./dcgan train --out "$out/ours$s" --epochs "$epochs" --seed "$s" --g-steps 1 --threads 2 --quiet --sample-every 0 \
        --checkpoint-every $bpe --keep 1000 --no-tensorboard $opts
    for e in $(seq 1 "$epochs"); do
        step=$((e * bpe))
        secs=$(awk -F, -v s=$step '$1 == s { print $10 }' "$out/ours$s/losses.csv")
        f=$(./dcgan eval --checkpoint "$out/ours$s/$(printf 'ckpt_%08d.dcgan' $step)" -n 10000 --json | fid)
        printf '%-8s %-5s %-6s %12s %12s\n' dcgan "$s" "$e" "$f" "$secs"
    done
    /usr/bin/python3 bench/torch_train_fashion.py --epochs "$epochs" --seed "$s" --gf "$gf" --df "$df" --out "$out/torch$s" |
    while read -r line; do
        e=$(printf '%s' "$line" | sed -nE 's/epoch=([0-9]+).*/\1/p'); secs=$(printf '%s' "$line" | sed -nE 's/.*train_s=([0-9.]+).*/\1/p')
        f=$(./dcgan eval --images "$out/torch$s/samples_epoch$e-images-idx3-ubyte" -n 10000 --json | fid)
        printf '%-8s %-5s %-6s %12s %12s\n' pytorch "$s" "$e" "$f" "$secs"
    done
done
