#!/usr/bin/env bash
# bench/gpu/session.sh: what one device call of a GPU session runs (bench/gpu/NOTES.md "Next"):
# bench/gpu/run.sh, the issue's whole check, then, while the call's time allows, the A/B timings
# (bench/gpu/ab.sh) of the changes not yet timed on a GPU, most informative first; if run.sh failed,
# first which of those changes is to blame (each switched off) and the speed table without it.
# Then the kernel timeline of the speed table's configurations (bench/gpu/kernel_trace.c).
# Then the cache of convolution choices (cachecheck), a training run's wall time against bench's
# (realrun: the host's writing of the run folder).
# Everything goes to $OUT: run.txt, diag_*.txt, ab_NAME.txt, trace.txt, cache.txt, realrun.txt, and session.txt (what ran,
# how long, what was skipped, what the diagnosis found).
#
# usage: OUT=DIR bench/gpu/session.sh [seconds the call may take (default 580)]
# Exits with run.sh's status.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/dcgan-gpu}
export OUT
mkdir -p "$OUT"
limit=${1:-580}
t0=$(date +%s)
left() { echo $((limit - ($(date +%s) - t0))); }
log() { echo "$*" | tee -a "$OUT/session.txt"; }
# ready NAME SECONDS [why]: 0 when at least SECONDS of the call are left and the binaries are at
# hand (bench/gpu/env.sh sourced), else says in session.txt why NAME is skipped
ready() {
    if [ "$(left)" -lt "$2" ]; then log "skipped $1${3:+ ($3)}: $(left) s left"; return 1; fi
    source bench/gpu/env.sh || { log "skipped $1: no binaries"; return 1; }
}

work=$(mktemp -d)
DCGAN_GPU_WORK=$work bash bench/gpu/run.sh >"$OUT/run.txt" 2>&1
rc=$?
log "run.sh: exit $rc after $(($(date +%s) - t0)) s"

# If a check failed, which of the changes is to blame: the parity programs and the command line's 80
# steps again with each switched off (versions 10 and 11 and the staged uploads alone, all three,
# and with version 8 too), so that one call says which to turn off; then the speed table with the first
# setting that passes everything, so that the call still measures the targets. test_cuda runs in
# fp32 only here (1e-5): its tf32 and bf16 checks (1e-2) sit at the edge for a few of the seed
# models' batch-norm tensors after 3 Adam steps whatever the code (bf16 1-3 of 318 over in every GPU
# run so far, tf32 up to 9.5e-3; the emulation's tf32 1.5e-2), so they would not tell a fault apart.
diag_ok() { # name, settings -> 0 if test_cuda (fp32), test_train and the 80 steps pass with them
    local name=$1 s=$2 ok=0
    env $s "$BIN/test_cuda" tests/fixtures fp32 >"$OUT/diag_${name}_test_cuda.txt" 2>&1 || ok=1
    env $s "$BIN/test_train" tests/fixtures cuda:fp32 >"$OUT/diag_${name}_test_train.txt" 2>&1 || ok=1
    # against run.sh's 80 steps with the side stream, the kept copies and the views off (the D step in
    # two passes rounds apart from that: there only that the run completes)
    { env $s DCGAN_CUDA_ALGOS="$work/run/cuda_algos.txt" "$DCGAN" train --device cuda --data "$work/blobs-idx3-ubyte" \
        --out "$work/diag_$name" --steps 80 --gf 16 --df 16 --batch 32 --sample-every 30 --checkpoint-every 30 --quiet &&
        if [[ "$s" == *STACK_D=0* ]]; then echo "completed (not compared)"
        else cmp <(cut -d, -f1-8 "$work/diag_$name/losses.csv") <(cut -d, -f1-8 "$work/one_stream/losses.csv") &&
            echo "the same bits"; fi; } >"$OUT/diag_${name}_train.txt" 2>&1 || ok=1
    log "diagnosis ${s:-(the default)}: test_cuda: $(tail -n 1 "$OUT/diag_${name}_test_cuda.txt"); test_train:" \
        "$(tail -n 1 "$OUT/diag_${name}_test_train.txt"); 80 steps against all three off: $(tail -n 1 "$OUT/diag_${name}_train.txt")"
    return $ok
}
if [ $rc -ne 0 ] && source bench/gpu/env.sh; then
    failed=$(grep -E '^FAIL ' "$OUT/run.txt" | cut -d' ' -f2 | tr '\n' ' ')
    log "run.sh's failed checks: $failed"
    if [ "$failed" = "test_cuda " ] && diag_ok default ""; then
        log "only test_cuda failed, and not in fp32 (its tf32 or bf16 checks at 1e-2): no diagnosis"
    else
        passing="" n=0
        for setting in "DCGAN_CUDA_NO_SIDE=1" "DCGAN_CUDA_NO_KEEP=1" "DCGAN_CUDA_NO_PINNED=1" \
            "DCGAN_CUDA_NO_SIDE=1 DCGAN_CUDA_NO_KEEP=1 DCGAN_CUDA_NO_PINNED=1" \
            "DCGAN_STACK_D=0 DCGAN_CUDA_NO_SIDE=1 DCGAN_CUDA_NO_KEEP=1 DCGAN_CUDA_NO_PINNED=1"; do
            [ "$(left)" -lt 60 ] && { log "diagnosis stopped: $(left) s left"; break; }
            n=$((n + 1))
            if diag_ok "off$n" "$setting"; then
                log "PASSES with $setting"
                [ -z "$passing" ] && passing=$setting
            fi
        done
        if [ -n "$passing" ] && [ "$(left)" -ge 120 ]; then
            algos=$(mktemp -d)
            t=$(date +%s)
            env $passing python3 bench/gpu/compare_gpu.py --dcgan "$DCGAN" --rounds 1 --variants tf32 --algos "$algos" \
                --out "$OUT/gpu_table_fallback.md" >"$OUT/bench_fallback.txt" 2>&1
            log "speed table with $passing (one round, tf32): $(($(date +%s) - t)) s, gpu_table_fallback.md"
            rm -rf "$algos"
        fi
    fi
fi

# one A/B (4 configurations x 2 rounds x 2 settings, ~80-100 s) if there is time for it
ab() { # name, settings A, settings B
    if [ "$(left)" -lt 120 ]; then
        log "skipped $1 (${2:-the default} against ${3:-the default}): $(left) s left"
        return
    fi
    local t=$(date +%s)
    bash bench/gpu/ab.sh "$2" "$3" >"$OUT/ab_$1.txt" 2>&1
    log "ab $1 (${2:-the default} against ${3:-the default}): $(($(date +%s) - t)) s"
}
# where the time of a graph-replayed iteration goes, kernel by kernel as the GPU ran them, and how much
# of it the GPU sits idle between nodes (bench/gpu/kernel_trace.c, CUPTI; ~15 s a configuration)
trace() {
    ready trace 60 || return
    [ -f "$BIN/libkernel_trace.so" ] || { log "skipped trace: no libkernel_trace.so in the bundle"; return; }
    local t=$(date +%s) cfg lim
    # the three of the speed table, then dcgan64/64 with the lazy layout (DCGAN_CUDA_LAZY=1)
    for cfg in "dcgan 64 3 1 64 0" "dcgan 64 3 1 256 0" "seed 128 3 2 64 0" "dcgan 64 3 1 64 1"; do
        set -- $cfg
        [ "$(left)" -lt 25 ] && break
        lim=$(($(left) - 10))
        [ $lim -gt 60 ] && lim=60 # (a hang under the injection must not take the call's time)
        echo "== $1 ${2}px batch $5, tf32$([ $6 = 1 ] && echo ", DCGAN_CUDA_LAZY=1"), 30 graph-replayed iterations after 5" >>"$OUT/trace.txt"
        DCGAN_CUDA_LAZY=$6 CUDA_INJECTION64_PATH="$BIN/libkernel_trace.so" timeout $lim "$DCGAN" bench --device cuda --arch "$1" \
            --size "$2" --channels "$3" --g-steps "$4" --batch "$5" --steps 30 --warmup 5 >>"$OUT/trace.txt" 2>&1 ||
            echo "(exit $?)" >>"$OUT/trace.txt"
    done
    log "trace: $(($(date +%s) - t)) s, trace.txt"
}
# A training run's time against bench's for the same model (dcgan64 at batch 64, tf32): the default
# (the run folder's files -- grids every 200 iterations and at epoch ends, checkpoints every 500, the
# report, TensorBoard -- written on the writer's thread, each batch uploaded through page-locked
# memory), the batches uploaded from pageable memory (DCGAN_CUDA_NO_PINNED=1), and that with the
# files written in the loop too (DCGAN_SYNC_WRITES=1: both as before 2026-11-28) (~50 s)
realrun() {
    ready realrun 100 || return
    local t=$(date +%s) m a b
    python3 - "$work" <<'EOF2'
import struct, sys, numpy as np
rng = np.random.default_rng(1)
n = 20000  # blobs, as run.sh's, enough for 312 batches of 64 an epoch
yy, xx = np.mgrid[:28, :28]
c = rng.integers(8, 20, (n, 2))
r = rng.integers(3, 8, n)
x = (255 * (((yy - c[:, 0, None, None]) ** 2 + (xx - c[:, 1, None, None]) ** 2) < (r * r)[:, None, None])).astype(np.uint8)
with open(sys.argv[1] + "/blobs20k-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28) + x.tobytes())
EOF2
    {
        echo "== bench: dcgan64 batch 64 tf32 (g-steps 1, as the speed table), 300 iterations after 20"
        timeout 60 "$DCGAN" bench --device cuda --size 64 --channels 3 --batch 64 --steps 300 --warmup 20
        for m in 0 1 2; do
            local set=("" "DCGAN_CUDA_NO_PINNED=1" "DCGAN_CUDA_NO_PINNED=1 DCGAN_SYNC_WRITES=1")
            echo "== train ${set[$m]:-(the default)}: 1500 iterations, the default schedule of grids and checkpoints"
            rm -rf "$work/realrun$m"
            a=$(date +%s.%N)
            env ${set[$m]} timeout 90 "$DCGAN" train --device cuda --data "$work/blobs20k-idx3-ubyte" --size 64 \
                --channels 3 --g-steps 1 --out "$work/realrun$m" --steps 1500 | tail -n 3
            b=$(date +%s.%N)
            echo "wall $(python3 -c "print(round($b - $a, 2))") s (with start-up), $(ls "$work/realrun$m"/samples_*.png | wc -l) grids"
        done
    } >"$OUT/realrun.txt" 2>&1
    log "realrun: $(($(date +%s) - t)) s, realrun.txt: $(grep -E '^(train: done|wall)' "$OUT/realrun.txt" | tr '\n' ' ')"
}
# the cache of convolution choices (since 2026-11-28): dcgan64/64 bench twice from an empty cache
# folder; the second run takes every choice from it (verbose: "(from ...)"), times none, and starts
# sooner (wall times with start-up) (~10 s)
cachecheck() {
    ready cachecheck 60 || return
    local t=$(date +%s) cdir=$work/choices a b k
    for k in 1 2; do
        a=$(date +%s.%N)
        DCGAN_CACHE_DIR=$cdir DCGAN_CUDA_VERBOSE=1 timeout 60 "$DCGAN" bench --device cuda --size 64 --channels 3 --batch 64 \
            --steps 100 --warmup 10 >"$work/cache$k.out" 2>&1
        b=$(date +%s.%N)
        echo "bench $k: wall $(python3 -c "print(round($b - $a, 2))") s, $(grep -c 'others:' "$work/cache$k.out") timed," \
            "$(grep -c '(from ' "$work/cache$k.out") from the cache; $(tail -n 1 "$work/cache$k.out")" >>"$OUT/cache.txt"
    done
    log "cachecheck: $(($(date +%s) - t)) s: $(grep -E '^bench [12]:' "$OUT/cache.txt" | cut -d';' -f1 | tr '\n' ' ')"
}
# If the lazy layout won the A/B at dcgan64/64 (B/A below 1), the speed table with it, so that one
# call says whether it meets the targets (gpu_table_lazy.md; seed128 only if the time allows)
lazytable() {
    local r=$(awk '$1 == "dcgan64/b64" { print $NF }' "$OUT/ab_lazy.txt" 2>/dev/null) cfgs algos t=$(date +%s)
    if ! awk -v r="${r:-nan}" 'BEGIN { exit !(r + 0 > 0 && r + 0 < 1) }'; then
        log "lazytable: not taken (the lazy layout's B/A at dcgan64/64: ${r:-none})"
        return
    fi
    ready lazytable 75 "B/A $r" || return
    cfgs=dcgan64-b64,dcgan64-b256
    [ "$(left)" -ge 110 ] && cfgs=$cfgs,seed128-b64
    algos=$(mktemp -d)
    DCGAN_CUDA_LAZY=1 timeout $(($(left) - 5)) python3 bench/gpu/compare_gpu.py --dcgan "$DCGAN" --rounds 1 --variants tf32 \
        --configs "$cfgs" --algos "$algos" --out "$OUT/gpu_table_lazy.md" >"$OUT/bench_lazy.txt" 2>&1
    log "lazytable (B/A $r): $(($(date +%s) - t)) s, gpu_table_lazy.md: $(grep -E '^\| (dcgan64|seed128) ' "$OUT/gpu_table_lazy.md" 2>/dev/null | tr '\n' ' ')"
    rm -rf "$algos"
}
trace
cachecheck
AB_CONFIGS="dcgan 64 3 1 64 400; dcgan 64 3 1 256 150; seed 128 3 2 64 100" \
    ab lazy "" "DCGAN_CUDA_LAZY=1" # version 14 with version 17's batch norm on views (off since 2026-11-28)
lazytable
ab side "DCGAN_CUDA_NO_SIDE=1" ""                                      # version 10
realrun
ab keep "DCGAN_CUDA_NO_KEEP=1" ""                                      # version 11
ab stack_d "DCGAN_STACK_D=0" ""                                        # version 8
ab pdl "" "DCGAN_CUDA_PDL=1"                                           # version 12, an experiment
rm -rf "$work"
# at most 8 files come back from a device call (2026-11-28: run.txt and session.txt were left out
# among 11): the seven read first stay, the rest go into one archive
(cd "$OUT" && shopt -s nullglob && rest=() &&
    for f in *; do case $f in session.txt | run.txt | gpu_table.md | gpu_table_lazy.md | trace.txt | realrun.txt | cache.txt) ;; *) rest+=("$f") ;; esac; done &&
    if [ ${#rest[@]} -gt 0 ]; then tar czf rest.tar.gz "${rest[@]}" && rm -rf "${rest[@]}"; fi)
exit $rc
