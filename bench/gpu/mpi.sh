#!/usr/bin/env bash
# bench/gpu/mpi.sh: data-parallel training on the GPU machine (issue 6). Trains the default model
# (dcgan 32x32x1, gf/df 64, 2 G steps, batch 64 per rank) on a synthetic IDX set as one process, as
# one rank under mpirun, and as 2 ranks (and as one rank per GPU where there are more than 2 GPUs).
# Prints, per run, images/s of the whole job (from losses.csv, after the first WARM iterations),
# the gradient all-reduce time per iteration, what averaged the gradients (NCCL or MPI on the
# host) and whether the ranks ended with the same weights.
#
# With one GPU, the 2 ranks share it: NCCL refuses two ranks on one GPU, so their gradients go
# through MPI on the host, and the figure is that path's cost, not a speed-up.
#
# usage: bench/gpu/mpi.sh [STEPS=1000]    (DEVICE=cpu runs the same on the CPU, to try the script
#                                           on a machine without a GPU; the launcher and dcgan-mpi
#                                           come from the bundle of tools/gpu_bundle.sh, else the
#                                           system's mpirun and ./dcgan)
set -uo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-1000}
warm=$(( steps / 3 < 100 ? steps / 3 : 100 ))
device=${DEVICE:-cuda}
source bench/gpu/env.sh || exit 1
if [ -x /tmp/dcgan-gpu/mpi/bin/mpirun ] && [ -x /tmp/dcgan-gpu/bin/dcgan-mpi ]; then
    mpirun=/tmp/dcgan-gpu/mpi/bin/mpirun
    dcgan_mpi=/tmp/dcgan-gpu/bin/dcgan-mpi
    mpi_libs=/tmp/dcgan-gpu/mpi/lib
else
    mpirun=$(command -v mpirun) || { echo "bench/gpu/mpi.sh: no mpirun here and no bundle with one" >&2; exit 1; }
    dcgan_mpi=$DCGAN
    mpi_libs=
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PRTE_ALLOW_RUN_AS_ROOT=1 PRTE_ALLOW_RUN_AS_ROOT_CONFIRM=1
ngpu=1
[ "$device" = cuda ] && ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') && [ "$ngpu" -ge 1 ] || ngpu=1
cores=$(nproc)
work=$(mktemp -d /tmp/dcgan-mpi-gpu.XXXXXX)
trap 'rm -rf "$work"' EXIT
# every run takes the convolution algorithms the first one chose: cuDNN's are picked by timing, and
# two processes that picked differently part by rounding from the first step
export DCGAN_CUDA_ALGOS=$work/cuda_algos.txt

"${PYTHON:-python3}" - "$work/blobs-idx3-ubyte" <<'EOF' || exit 1
import struct, sys, numpy as np
rng = np.random.default_rng(0)
n = 60000  # as many as Fashion-MNIST: an epoch is hundreds of iterations
cy, cx, r = (rng.integers(lo, hi, n)[:, None, None] for lo, hi in ((8, 20), (8, 20), (3, 8)))
yy, xx = np.mgrid[:28, :28]
x = (255 * (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r)).astype(np.uint8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28) + x.tobytes())
EOF

# launch RANKS EXTRA_ENV [MPIRUN OPTIONS...] -- DCGAN ARGS...: dcgan-mpi under mpirun, its output
launch() {
    local ranks=$1 extra=$2 opts=()
    shift 2
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    env ${mpi_libs:+LD_LIBRARY_PATH=$mpi_libs:$LD_LIBRARY_PATH} $extra "$mpirun" -np "$ranks" --bind-to none \
        --oversubscribe "${opts[@]}" "$dcgan_mpi" "$@" 2>&1
}

# run TAG NAME RANKS [mpirun [VAR=VALUE]]: trains into $work/TAG, prints one table row, keeps the log
# in $OUT (when set)
run() {
    local tag=$1 name=$2 ranks=$3 launcher=${4:-} extra=${5:-} log rc
    local dir=$work/$tag
    local cmd=(train --device "$device" --data "$work/blobs-idx3-ubyte" --out "$dir" --steps "$steps" --batch 64
               --threads $((cores / ranks)) --sample-every 0 --checkpoint-every 0 --no-tensorboard)
    if [ -n "$launcher" ]; then
        log=$(launch "$ranks" "$extra" -- "${cmd[@]}")
        rc=$?
        if [ $rc -ne 0 ] && [ "$ranks" -gt 1 ]; then # shared memory too small in a container, say
            echo "$log" | tail -n 5 | sed 's/^/    /'
            echo "    (failed with exit $rc; again with TCP between the ranks: --mca btl self,tcp)"
            rm -rf "$dir"
            log=$(launch "$ranks" "$extra" --mca btl self,tcp -- "${cmd[@]}")
            rc=$?
        fi
    else
        log=$("$DCGAN" "${cmd[@]}" 2>&1)
        rc=$?
    fi
    log=$(printf '%s\n' "$log" | tr '\r' '\n' | grep -v '^\[#*\.*\]')
    [ -n "${OUT:-}" ] && printf '%s\n' "$log" > "$OUT/mpi_$tag.log"
    if [ $rc -ne 0 ] || [ ! -s "$dir/losses.csv" ]; then
        printf '%-34s FAILED (exit %s):\n' "$name" "$rc"; printf '%s\n' "$log" | tail -n 15 | sed 's/^/    /'
        return 1
    fi
    local ips ms by same
    ips=$(awk -F, -v w="$warm" -v gb=$((ranks * 64)) 'NR == w + 1 { s0 = $1; t0 = $10 } END { printf "%.0f", ($1 - s0) * gb / ($10 - t0) }' \
          "$dir/losses.csv")
    ms=$(printf '%s\n' "$log" | sed -nE 's/.*all-reduce ([0-9.]+) ms per iteration.*/\1/p')
    by=$(printf '%s\n' "$log" | sed -nE 's/.*gradients averaged by ([A-Z]+)( \(inside the iteration.s graph\))?.*/\1\2/p' |
         sed 's/ (inside.*/ in graph/')
    same=$(printf '%s\n' "$log" | sed -nE 's/.*crc32 .*\((identical|DIFFER[A-Z]*)\).*/\1/p')
    printf '%-34s %6d %9s %16s %14s %10s\n' "$name" $((ranks * 64)) "$ips" "${ms:--}" "${by:--}" "${same:--}"
    printf '%s\n' "$log" | grep -E "NCCL could not start|averaged through MPI" | sort -u | sed 's/^/    /'
    return 0 # (the grep above finds nothing in most runs: not a failure)
}

echo "device: $([ "$device" = cuda ] && echo "$ngpu x $(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)" || echo "cpu, $cores cores");" \
     "launcher: $("$mpirun" --version 2>/dev/null | head -n 1); model: dcgan 32x32x1 gf/df 64, batch 64 per rank, $steps iterations"
printf '%-34s %6s %9s %16s %14s %10s\n' run "batch" "images/s" "all-reduce ms/it" averaged "weights"
fail=0
run np1 "1 process (no mpirun)" 1 || fail=1
run np1-mpirun "mpirun -np 1" 1 mpirun || fail=1
# the multi-GPU path on one GPU: a one-rank NCCL communicator, its all-reduces inside the graph;
# the mean over one rank leaves the gradients as they are, so the losses must be the same bits
if [ "$device" = cuda ]; then
    run np1-nccl "mpirun -np 1, one-rank NCCL" 1 mpirun DCGAN_TEST_NCCL_ONE_RANK=1 || fail=1
    if cmp -s <(cut -d, -f1-8 "$work/np1-mpirun/losses.csv") <(cut -d, -f1-8 "$work/np1-nccl/losses.csv"); then
        echo "    losses of every step: the same bits with and without the one-rank NCCL all-reduces in the graph"
    else
        echo "    FAIL: the losses differ with the one-rank NCCL all-reduces in the graph; the first differing rows:"; fail=1
        diff <(cut -d, -f1-8 "$work/np1-mpirun/losses.csv") <(cut -d, -f1-8 "$work/np1-nccl/losses.csv") | head -n 4 |
            sed 's/^/    /'
    fi
fi
run np2-mpirun "mpirun -np 2$([ "$device" = cuda ] && [ "$ngpu" -lt 2 ] && echo ' (one GPU)')" 2 mpirun || fail=1
[ "$ngpu" -gt 2 ] && { run np$ngpu-mpirun "mpirun -np $ngpu" "$ngpu" mpirun || fail=1; }
exit $fail
