#!/usr/bin/env bash
# mpi_scaling.sh: data-parallel scaling of `dcgan train` on this machine's CPU. Trains the default
# Fashion-MNIST model (dcgan, 32x32, gf/df as given) for STEPS iterations as 1 rank x T threads and
# as R ranks x T/R threads (the same cores), with the same per-rank batch (R times the global batch)
# and with the same global batch (batch / R per rank). Prints images/s (from losses.csv, after 10
# warm-up iterations) and the gradient all-reduce time per iteration, alternating the runs.
# usage: bench/mpi_scaling.sh [RANKS=2] [STEPS=150] [ROUNDS=2] [model options, default --gf 64 --df 64]
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-2}; steps=${2:-150}; rounds=${3:-2}; shift $(( $# < 3 ? $# : 3 ))
opts=${*:---gf 64 --df 64}
threads=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$(mktemp -d /tmp/dcgan-mpi-scaling.XXXXXX)
trap 'rm -rf "$out"' EXIT
# run NAME RANKS THREADS BATCH: prints "images/s allreduce_ms"
run() {
    local dir="$out/$1"; rm -rf "$dir"
    local launch=""; [ "$2" -gt 1 ] && launch="mpirun -np $2 --bind-to none"
    local log
    log=$($launch ./dcgan train --out "$dir" --steps "$steps" --batch "$4" --threads "$3" --sample-every 0 \
          --checkpoint-every 0 --no-tensorboard $opts 2>&1 | tr '\r' '\n')
    local ms
    ms=$(printf '%s\n' "$log" | sed -nE 's/.*all-reduce ([0-9.]+) ms per iteration.*/\1/p')
    awk -F, -v n="$steps" -v gb=$(( $2 * $4 )) -v ms="${ms:-0}" \
        'NR == 12 { t0 = $10 } END { printf "%.1f %s\n", (n - 10) * gb / ($10 - t0), ms }' "$dir/losses.csv"
}
echo "machine: $(nproc) cores, $(lscpu | sed -nE 's/^Model name: +//p'); model: dcgan 32x32x1 $opts; $steps iterations"
printf '%-34s %10s %10s %18s\n' config round images/s "all-reduce ms/it"
for r in $(seq 1 "$rounds"); do
    for cfg in "1x$threads:1:$threads:64" "${ranks}x$((threads / ranks)) (batch 64 each):$ranks:$((threads / ranks)):64" \
               "${ranks}x$((threads / ranks)) (global batch 64):$ranks:$((threads / ranks)):$((64 / ranks))"; do
        IFS=: read -r name nr nt b <<< "$cfg"
        read -r ips ms <<< "$(run "r$nr-$b" "$nr" "$nt" "$b")"
        printf '%-34s %10s %10s %18s\n' "$name" "$r" "$ips" "$ms"
    done
done
