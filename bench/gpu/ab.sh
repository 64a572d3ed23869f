#!/usr/bin/env bash
# bench/gpu/ab.sh: A/B timing of two settings of the CUDA backend's environment switches (for
# instance DCGAN_CUDA_NO_PAD=1 against nothing), alternating A and B in each round on the same GPU,
# over the speed table's configurations. Prints ms per iteration of every run and the median of each.
# Uses the binaries of bench/gpu/env.sh.
#
# usage: bench/gpu/ab.sh "ENV=1 ..." "ENV=0 ..." [rounds (default 2)] [precision (default tf32)]
#        AB_CONFIGS="arch size channels g-steps batch steps; ..." overrides the configurations
set -uo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/env.sh || exit 1
A=${1:-} B=${2:-} rounds=${3:-2} prec=${4:-tf32}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run() { # env, arch, size, channels, g-steps, batch, steps -> ms per iteration
    local line
    line=$(env $1 "$DCGAN" bench --device cuda --precision "$prec" --arch "$2" --size "$3" --channels "$4" --g-steps "$5" \
        --batch "$6" --steps "$7" --warmup 20 2>&1 | tail -n 1)
    echo "$line" | sed -nE 's/.*images_per_s=([0-9.]+).*/\1/p' | awk -v b="$6" '{ if ($1 > 0) printf "%.3f\n", 1000 * b / $1 }'
}
printf "%-14s %-34s %-34s %8s %8s %7s\n" config "A: ${A:-(none)}" "B: ${B:-(none)}" "A ms" "B ms" "B/A"
IFS=';' read -ra cfgs <<<"${AB_CONFIGS:-dcgan 64 3 1 64 400; dcgan 64 3 1 256 150; seed 128 3 2 64 100; dcgan 32 1 1 64 400}"
for cfg in "${cfgs[@]}"; do
    set -- $cfg
    ta=() tb=()
    for ((r = 0; r < rounds; r++)); do
        ta+=("$(run "$A" "$@")")
        tb+=("$(run "$B" "$@")")
    done
    ma=$(printf "%s\n" "${ta[@]}" | grep . | median)
    mb=$(printf "%s\n" "${tb[@]}" | grep . | median)
    printf "%-14s %-34s %-34s %8s %8s %7s\n" "$1$2/b$5" "${ta[*]}" "${tb[*]}" "$ma" "$mb" \
        "$(awk -v a="$ma" -v b="$mb" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "nan" }')"
done
