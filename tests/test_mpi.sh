#!/usr/bin/env bash
# test_mpi.sh DCGAN_BIN [DCGAN_NOMPI_BIN]: data-parallel training with `mpirun -np 2` on the CPU.
# The ranks hold bit-identical weights; with --sync-bn 2 ranks x batch 32 equal 1 rank x batch 64
# within 1e-5 (same data, same z; also mirrored by --flip); a 2-rank run resumes bit-exactly and refuses another rank count;
# a rank that dies or hangs ends the job within a bounded time and the last checkpoint loads; Ctrl-C
# that reaches one rank stops both at the same step; a build without MPI refuses a distributed
# launch with one line.
set -u
bin=$(realpath "${1:-./dcgan}")
nompi=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/dcgan-mpi.XXXXXX)
trap 'pkill -9 -f "$work" 2>/dev/null; rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"
py=${DCGAN_TEST_PYTHON:-$root/.venv-test/bin/python}
check="$py $root/tests/interop_check.py"
# Open MPI refuses root unless told twice (CI runs as root); 2 ranks on 2 cores, 1 thread each
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Under AddressSanitizer: Open MPI leaves its allocations at exit, many in plugins it has unloaded by
# then (no module to suppress by), so leak checking is off for the ranks; memory errors still stop them.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi="mpirun -np 2 --bind-to none"
if ! command -v mpirun >/dev/null || ! nm "$bin" 2>/dev/null | grep -q 'MPI_Init'; then
    bad "mpirun or an MPI build is missing (tools/install-deps.sh --tests installs Open MPI; then make)"
    summary test_mpi; exit 1
fi
make_idx "$work/idx" 512
T="--data $work/idx --gf 8 --df 8 --threads 1 --quiet --sample-every 0"

# ---- identical weights on both ranks ----
out=$($mpi "$bin" train $T --batch 16 --steps 8 --out "$work/two" 2>&1 | grep 'weights and Adam state')
a=$(printf '%s' "$out" | awk '{print $(NF-2)}'); b=$(printf '%s' "$out" | awk '{print $(NF-1)}')
c=$("$bin" info --checkpoint "$work/two" | grep -o 'params_adam_crc32=[0-9a-f]*' | cut -d= -f2)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] && "$bin" info --checkpoint "$work/two" | grep -q 'ranks=2'; then
    ok "after 8 steps both ranks hold bit-identical weights and Adam state (crc32 $a, = rank 0's checkpoint)"
else bad "ranks differ: [$out] checkpoint $c"; fi

# ---- a class-conditional run: each rank takes its shard's labels ----
out=$($mpi "$bin" train $T --conditional --batch 16 --steps 4 --out "$work/cond" 2>&1 | grep 'weights and Adam state')
a=$(printf '%s' "$out" | awk '{print $(NF-2)}'); b=$(printf '%s' "$out" | awk '{print $(NF-1)}')
if [ -n "$a" ] && [ "$a" = "$b" ] && "$bin" info --checkpoint "$work/cond" | grep -q '^classes=10'; then
    ok "a conditional run on 2 ranks: bit-identical weights after 4 steps (crc32 $a), 10 classes in the checkpoint"
else bad "conditional on 2 ranks: [$out]"; fi

# ---- --sync-bn: 2 ranks x 32 == 1 rank x 64 (same data, same z) ----
# Adam divides each gradient by its own magnitude, so float rounding in gradients near zero (a
# different summation order: two half-batch sums and an average, or another convolution algorithm)
# becomes a visible weight difference within a few steps; G's batch-norm biases differ by ~1e-3 after
# 3 steps even between our two CPU backends on one rank. So the check is on what sync-BN computes:
# (1) at a learning rate too small to move the weights, the gradients (Adam's first moments) of 3
# steps of G and D, every batch-norm running statistic, and the weights; (2) at the default
# learning rate, D's weights and every running statistic after 3 steps.
ckpt() { ls "$1"/ckpt_*.dcgan | tail -1; }
sizes() { "$bin" info --checkpoint "$1" | head -1 | sed -E 's/.* g_params=([0-9]+) d_params=([0-9]+) g_buffers=([0-9]+) d_buffers=([0-9]+) .*/\1 \2 \3 \4/'; }
for lr in 1e-9 2e-4; do
    $mpi "$bin" train $T --batch 32 --steps 3 --sync-bn --lr $lr --out "$work/sync2-$lr" &&
    "$bin" train $T --batch 64 --steps 3 --lr $lr --out "$work/sync1-$lr" || bad "sync-bn runs"
done
if $check ckpt-close "$(ckpt "$work/sync2-1e-9")" "$(ckpt "$work/sync1-1e-9")" 1e-5 $(sizes "$work/sync1-1e-9") Gp,Gm,Gbuf,Dp,Dm,Dbuf &&
   $check ckpt-close "$(ckpt "$work/sync2-2e-4")" "$(ckpt "$work/sync1-2e-4")" 1e-5 $(sizes "$work/sync1-2e-4") Gbuf,Dp,Dm,Dbuf; then
    ok "--sync-bn: 2 ranks x batch 32 equal 1 rank x batch 64 within 1e-5 after 3 steps (gradients, running statistics, weights)"
else bad "--sync-bn differs from one rank with the whole batch"; fi
$mpi "$bin" train $T --batch 32 --steps 3 --lr 1e-9 --out "$work/nosync2" &&
if ! $check ckpt-close "$(ckpt "$work/nosync2")" "$(ckpt "$work/sync1-1e-9")" 1e-5 $(sizes "$work/sync1-1e-9") Gm,Gbuf,Dm,Dbuf >/dev/null; then
    ok "without --sync-bn (per-rank statistics) the same comparison fails, as it should"
else bad "per-rank batch norm matched the global batch: the test cannot tell them apart"; fi

# ---- --flip mirrors the same images whatever the rank count: the comparison above, mirrored ----
$mpi "$bin" train $T --batch 32 --steps 3 --sync-bn --lr 1e-9 --flip --out "$work/flip2" &&
"$bin" train $T --batch 64 --steps 3 --lr 1e-9 --flip --out "$work/flip1" || bad "--flip runs"
if $check ckpt-close "$(ckpt "$work/flip2")" "$(ckpt "$work/flip1")" 1e-5 $(sizes "$work/flip1") Gp,Gm,Gbuf,Dp,Dm,Dbuf &&
   ! $check ckpt-close "$(ckpt "$work/flip1")" "$(ckpt "$work/sync1-1e-9")" 1e-5 $(sizes "$work/flip1") Dm >/dev/null; then
    ok "--flip: 2 ranks x batch 32 equal 1 rank x batch 64 within 1e-5 (the same images mirrored), and differ from no mirroring"
else bad "--flip on 2 ranks differs from 1 rank, or from no mirroring not at all"; fi

# ---- resume of a 2-rank run ----
$mpi "$bin" train $T --batch 16 --steps 12 --out "$work/straight" >/dev/null 2>&1
$mpi "$bin" train $T --batch 16 --steps 6 --out "$work/split" >/dev/null 2>&1
$mpi "$bin" train --resume "$work/split" --steps 12 --threads 1 --quiet >/dev/null 2>&1
x=$("$bin" info --checkpoint "$work/straight" | grep -o 'state_crc32=.*'); y=$("$bin" info --checkpoint "$work/split" | grep -o 'state_crc32=.*')
[ -n "$x" ] && [ "$x" = "$y" ] && ok "a 2-rank run resumes bit-exactly (12 steps == 6 + resume + 6)" || bad "2-rank resume: [$x] vs [$y]"
expect_fail "resuming a 2-rank run on 1 rank" "trained on 2 ranks.*--reshard" train --resume "$work/split" --steps 14 --quiet
if "$bin" train --resume "$work/split" --steps 14 --reshard --quiet --threads 1 &&
   "$bin" info --checkpoint "$work/split" | grep -q 'step=14 .*ranks=1'; then
    ok "--reshard continues a 2-rank run on 1 rank"
else bad "--reshard"; fi

# ---- a rank that dies, a rank that hangs ----
rank_pid() { # the pid of rank $1 of the job whose run folder is $2
    for p in $(pgrep -f "$2"); do
        tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo $p; return; }
    done
}
for fault in KILL STOP; do
    run="$work/fault-$fault"
    $mpi "$bin" train $T --batch 16 --steps 100000 --checkpoint-every 2 --keep 2 --dist-timeout 5 --out "$run" \
        > "$work/$fault.log" 2>&1 &
    job=$!
    for i in $(seq 1 100); do ls "$run"/ckpt_*.dcgan >/dev/null 2>&1 && break; sleep 0.1; done
    sleep 0.5
    victim=$(rank_pid 1 "$run")
    t0=$(date +%s)
    [ -n "$victim" ] && kill -$fault "$victim"
    ended=0
    for i in $(seq 1 600); do kill -0 $job 2>/dev/null || { ended=1; break; }; sleep 0.1; done
    secs=$(( $(date +%s) - t0 ))
    [ $ended -eq 0 ] && kill -9 $job 2>/dev/null
    [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null
    wait $job 2>/dev/null; rc=$?
    why=$(grep -m1 -E 'no progress|exited|killed|signal' "$work/$fault.log")
    if [ -n "$victim" ] && [ $ended -eq 1 ] && [ $rc -ne 0 ] && "$bin" info --checkpoint "$run" >/dev/null 2>&1 &&
       "$bin" sample --checkpoint "$run" -n 2 --grid "$work/$fault.png" >/dev/null 2>&1; then
        ok "SIG$fault on rank 1 ends the job in ${secs}s (exit $rc: $why); the last checkpoint loads and samples"
    else bad "SIG$fault on rank 1: ended $ended after ${secs}s, exit $rc: $(tail -3 "$work/$fault.log")"; fi
done
grep -q 'no progress for 5 s' "$work/STOP.log" && ok "the hang is reported in one line: $(grep -m1 'no progress' "$work/STOP.log")" ||
    bad "no watchdog message for the hang"

# ---- Ctrl-C that reaches one rank only: both stop at the same step, with a checkpoint there ----
run="$work/int"
$mpi "$bin" train $T --batch 16 --steps 100000 --checkpoint-every 0 --out "$run" > "$work/int.log" 2>&1 &
job=$!
for i in $(seq 1 100); do [ -f "$run/losses.csv" ] && [ "$(wc -l < "$run/losses.csv")" -gt 5 ] && break; sleep 0.1; done
victim=$(rank_pid 1 "$run")
[ -n "$victim" ] && kill -INT "$victim"
ended=0
for i in $(seq 1 300); do kill -0 $job 2>/dev/null || { ended=1; break; }; sleep 0.1; done
[ $ended -eq 0 ] && kill -9 $job 2>/dev/null
wait $job 2>/dev/null; rc=$?
step=$("$bin" info --checkpoint "$run" 2>/dev/null | grep -o 'step=[0-9]*' | head -n 1)
last=$(tail -n 1 "$run/losses.csv" | cut -d, -f1)
if [ -n "$victim" ] && [ $ended -eq 1 ] && [ -n "$step" ] && [ "$step" = "step=$last" ] &&
   grep -q 'crc32 \([0-9a-f]*\) \1 (identical)' "$work/int.log" &&
   $mpi "$bin" train --resume "$run" --steps $((last + 3)) --threads 1 --quiet >/dev/null 2>&1 &&
   "$bin" info --checkpoint "$run" | grep -q "step=$((last + 3)) "; then
    ok "SIGINT on rank 1 alone stops both ranks at step $last (exit $rc) with identical weights and a checkpoint there, which resumes"
else bad "SIGINT on rank 1: ended $ended, exit $rc, checkpoint [$step], last logged step [$last]: $(tail -3 "$work/int.log")"; fi

# ---- without MPI ----
if [ -n "$nompi" ]; then
    err=$(OMPI_COMM_WORLD_SIZE=2 "$nompi" train $T --steps 1 --out "$work/x" 2>&1 >/dev/null); rc=$?
    one_line_error "a build without MPI refuses a 2-rank launch" "built without MPI" $rc "$err"
    "$nompi" train $T --batch 16 --steps 2 --out "$work/single" && ok "a build without MPI trains as one process" ||
        bad "the build without MPI does not train"
fi
"$bin" train $T --batch 16 --steps 2 --out "$work/single-mpi" && ok "the MPI build run without mpirun trains as one process" ||
    bad "the MPI build without mpirun"

summary test_mpi
