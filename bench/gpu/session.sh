#!/usr/bin/env bash
# bench/gpu/session.sh: what one device call of a GPU session runs (bench/gpu/NOTES.md "Next"):
# bench/gpu/run.sh, the issue's whole check, then, while the call's time allows, the A/B timings
# (bench/gpu/ab.sh) of the changes not yet timed on a GPU, most informative first. Everything goes
# to $OUT: run.txt, ab_NAME.txt, and session.txt (what ran, how long, what was skipped).
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

bash bench/gpu/run.sh >"$OUT/run.txt" 2>&1
rc=$?
log "run.sh: exit $rc after $(($(date +%s) - t0)) s"

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
ab new "DCGAN_STACK_D=0 DCGAN_CUDA_NO_SIDE=1 DCGAN_CUDA_NO_KEEP=1" "" # versions 8, 10, 11 together
ab pdl "" "DCGAN_CUDA_PDL=1"                                           # version 12, the experiment
ab side "DCGAN_CUDA_NO_SIDE=1" ""
ab keep "DCGAN_CUDA_NO_KEEP=1" ""
ab stack_d "DCGAN_STACK_D=0" ""
exit $rc
