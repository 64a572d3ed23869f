#!/usr/bin/env bash
# test_cuda_emu_cli.sh DCGAN_BIN EMU_PLUGIN: `dcgan train / sample / bench --device cuda` end to end on
# the CUDA backend emulated on the CPU (tests/cuda_emu), the command-line checks bench/gpu/run.sh
# makes on a GPU: a resumed run takes the convolution choices its first part kept in the run folder
# (cuda_algos.txt) and gives the same bits as one run with those choices; images sampled from one
# checkpoint on the (emulated) GPU and on the CPU agree within 1/255 (also in NHWC, where the
# activations sit in views between ops); the weight gradients on the side stream and the kept copies
# give the same bits as neither, on one rank and on two with --sync-bn, and the lazy layout the same
# losses within 1e-5; the cache of choices; a bad choices file ends in one line. Small model
# (widths 8, batch 16), so that the emulation takes seconds.
set -u
bin=$(realpath "${1:-./dcgan}")
export DCGAN_CUDA_BACKEND=$(realpath "$2")
work=$(mktemp -d /tmp/dcgan-cuda-emu-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"

make_idx "$work/idx" 256
T="--device cuda --data $work/idx --gf 8 --df 8 --batch 16 --sample-every 5 --checkpoint-every 5 --quiet"

# ---- resume: 10 steps, then to 16 from the run folder, against 16 in one run with its choices ----
"$bin" train $T --out "$work/split" --steps 10 &&
"$bin" train --device cuda --resume "$work/split" --steps 16 --quiet &&
DCGAN_CUDA_ALGOS="$work/split/cuda_algos.txt" "$bin" train $T --out "$work/whole" --steps 16
if [ -s "$work/split/cuda_algos.txt" ] && [ "$(wc -l <"$work/split/losses.csv")" -eq 17 ] &&
    diff -q <(cut -d, -f1-8 "$work/split/losses.csv") <(cut -d, -f1-8 "$work/whole/losses.csv") >/dev/null; then
    ok "train 10 + resume to 16 on the GPU: the same bits as 16 in one run ($(wc -l <"$work/split/cuda_algos.txt") choices kept)"
else bad "the resumed GPU run differs from the run in one piece"; fi

# ---- the weight gradients on the side stream, the kept weight copies and the uploads through
# page-locked buffers against none of them, in NHWC (a copied layout: all are used) ----
NONE="DCGAN_CUDA_NO_SIDE=1 DCGAN_CUDA_NO_KEEP=1 DCGAN_CUDA_NO_PINNED=1"
DCGAN_CUDA_LAYOUT=2 "$bin" train $T --out "$work/side" --steps 8 &&
env DCGAN_CUDA_LAYOUT=2 $NONE "$bin" train $T --out "$work/one_stream" --steps 8
if [ "$(wc -l <"$work/side/losses.csv")" -eq 9 ] &&
    diff -q <(cut -d, -f1-8 "$work/side/losses.csv") <(cut -d, -f1-8 "$work/one_stream/losses.csv") >/dev/null; then
    ok "8 steps with the weight gradients on a side stream (its work as late as the waits allow), weight copies kept and uploads staged: the same bits as with none"
else bad "the run with a side stream and kept weight copies differs from the run with neither"; fi
# the lazy layout (DCGAN_CUDA_LAZY=1: activations kept in NHWC views between ops): its batch norm
# sums its own chunks (in double), so a statistic may part from the plain run's in the last bit; a
# view read where its memory is stale (the emulation fills that with NaN) would part by far more
DCGAN_CUDA_LAYOUT=2 DCGAN_CUDA_LAZY=1 "$bin" train $T --out "$work/lazy" --steps 8
out=$(python3 - "$work/lazy/losses.csv" "$work/side/losses.csv" <<'PY'
import csv, math, sys
a, b = (list(csv.reader(open(f)))[1:] for f in sys.argv[1:3])
worst = max((abs(float(x) - float(y)) / max(abs(float(y)), 1e-3) for ra, rb in zip(a, b) for x, y in zip(ra[2:8], rb[2:8])),
            default=math.inf) if len(a) == len(b) == 8 else math.inf
same = [r[:8] for r in a] == [r[:8] for r in b]
print("max relative difference %.3g over 8 steps' losses%s" % (worst, " (the same bits)" if same else ""))
sys.exit(0 if worst <= 1e-5 else 1)
PY
) && ok "8 steps with the activations in views: the losses of the run without, $out" ||
    bad "the run with views parts from the run without: $out"

# ---- the same with 2 ranks and batch norm over both (mpirun: the gradients and the statistics go
# through MPI on the host, between downloads and uploads that wait for the side stream) ----
if command -v mpirun >/dev/null && nm "$bin" 2>/dev/null | grep -q 'MPI_Init'; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    # under the sanitizers: Open MPI's own allocations read as leaks at exit (see test_mpi.sh), so
    # leak checking is off for the ranks (only); memory errors still stop them
    mpi="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 mpirun -np 2 --bind-to none -x DCGAN_CUDA_BACKEND -x DCGAN_CUDA_LAYOUT=2"
    $mpi "$bin" train $T --sync-bn --batch 8 --out "$work/mpi_side" --steps 4 >/dev/null 2>&1 &&
    $mpi -x DCGAN_CUDA_NO_SIDE=1 -x DCGAN_CUDA_NO_KEEP=1 -x DCGAN_CUDA_NO_PINNED=1 "$bin" train $T --sync-bn --batch 8 --out "$work/mpi_one" \
        --steps 4 >/dev/null 2>&1
    if [ "$(wc -l <"$work/mpi_side/losses.csv" 2>/dev/null)" = 5 ] &&
        diff -q <(cut -d, -f1-8 "$work/mpi_side/losses.csv") <(cut -d, -f1-8 "$work/mpi_one/losses.csv") >/dev/null; then
        ok "2 ranks with --sync-bn, 4 steps: the side stream and kept copies give the same bits as neither"
    else bad "2 ranks with --sync-bn: the side stream's run differs from the run without it"; fi
else
    echo "SKIP 2 ranks on the emulated GPU: no mpirun or no MPI in $bin"
fi

# ---- sampling one checkpoint on both devices (on the GPU also in NHWC: inference batch norm reads
# the convolutions' views) ----
"$bin" sample --device cuda --precision fp32 --checkpoint "$work/split" -n 16 --raw "$work/gpu.npy" >/dev/null &&
DCGAN_CUDA_LAYOUT=2 DCGAN_CUDA_LAZY=1 "$bin" sample --device cuda --precision fp32 --checkpoint "$work/split" -n 16 --raw "$work/gpu2.npy" >/dev/null &&
"$bin" sample --device cpu --checkpoint "$work/split" -n 16 --raw "$work/cpu.npy" >/dev/null
# and larger images from a grid of latents (sample --latent-grid: G's first layer a real transposed
# convolution, not the full-size product)
"$bin" sample --device cuda --precision fp32 --checkpoint "$work/split" -n 3 --latent-grid 2 --raw "$work/gpu_lg.npy" >/dev/null &&
"$bin" sample --device cpu --checkpoint "$work/split" -n 3 --latent-grid 2 --raw "$work/cpu_lg.npy" >/dev/null
for g in gpu gpu2 gpu_lg; do
    ref=cpu; [ $g = gpu_lg ] && ref=cpu_lg
out=$(python3 - "$work/$g.npy" "$work/$ref.npy" <<'PY'
import ast, struct, sys
def load(path):  # a float32 .npy file, without numpy
    raw = open(path, "rb").read()
    hlen = struct.unpack("<H", raw[8:10])[0]
    hdr = ast.literal_eval(raw[10:10 + hlen].decode("latin1"))
    assert hdr["descr"] == "<f4", hdr
    data = raw[10 + hlen:]
    return struct.unpack("<%df" % (len(data) // 4), data)
a, b = load(sys.argv[1]), load(sys.argv[2])
d = max(abs(x - y) for x, y in zip(a, b)) / 2 if len(a) == len(b) and a else 1.0
print("%d values, max difference %.3g" % (len(a), d))
sys.exit(0 if d <= 1 / 255 else 1)
PY
) && ok "samples of one checkpoint, GPU fp32 ($g) against the CPU, within 1/255: $out" ||
    bad "samples of one checkpoint differ between the GPU ($g) and the CPU: $out"
done

# ---- the cache of convolution choices (the cache folder's cuda-choices-*.txt): the first run on a
# "GPU" times them and fills it, a second run with the same settings takes every choice from it
# (no timing) and gives the same bits; a damaged cache is started again with one warning;
# DCGAN_CUDA_CACHE=0 leaves it alone ----
C="--device cuda --size 32 --channels 1 --gf 4 --df 4 --batch 2 --steps 2 --warmup 0"
cdir="$work/choices"
DCGAN_CACHE_DIR=$cdir "$bin" bench $C >"$work/cache1.out" 2>&1
cfile=$(ls "$cdir"/cuda-choices-*.txt 2>/dev/null | head -n 1)
DCGAN_CACHE_DIR=$cdir DCGAN_CUDA_VERBOSE=1 "$bin" bench $C >"$work/cache2.out" 2>&1
n=$(grep -c . "$cfile" 2>/dev/null); from=$(grep -c "(from $cfile)" "$work/cache2.out"); timed=$(grep -c "others:" "$work/cache2.out")
if [ -n "$cfile" ] && [ "$n" -ge 10 ] && [ "$from" -eq "$n" ] && [ "$timed" -eq 0 ] &&
    [ "$(grep -o 'd_loss=.*' "$work/cache1.out")" = "$(grep -o 'd_loss=.*' "$work/cache2.out")" ]; then
    ok "the first run fills the cache of choices ($n), the second takes all $from from it, times none, and gives the same losses"
else bad "the cache of choices: file '$cfile', $n lines, $from taken from it, $timed timed: $(tail -n 2 "$work/cache2.out")"; fi
# a training run takes them too (its batch-2 steps; its final samples, 64 at once, are shapes of
# their own, timed and added), and keeps what it used in its run folder for a resume
DCGAN_CACHE_DIR=$cdir DCGAN_CUDA_VERBOSE=1 "$bin" train --device cuda --data "$work/idx" --gf 4 --df 4 --batch 2 \
    --steps 2 --sample-every 0 --checkpoint-every 0 --no-tensorboard --quiet --out "$work/cached_run" >"$work/cache3.out" 2>&1
[ "$(grep -c "(from $cfile)" "$work/cache3.out")" -eq "$n" ] && [ "$(grep -c " b[24]: .*others:" "$work/cache3.out")" -eq 0 ] &&
    [ "$(grep -c . "$cfile")" -gt "$n" ] && cmp -s <(sort "$work/cached_run/cuda_algos.txt") <(sort "$cfile") &&
    ok "train takes the $n cached choices of its steps, adds its sampling's, and keeps them all in its run folder (cuda_algos.txt)" ||
    bad "train and the cache: $(grep -c "(from $cfile)" "$work/cache3.out") taken, $(grep -c " b[24]: .*others:" "$work/cache3.out") timed at batch 2"
printf 'not a line of choices\n' | cat - "$cfile" >"$work/damaged" && cp "$work/damaged" "$cfile"
err=$(DCGAN_CACHE_DIR=$cdir "$bin" bench $C 2>&1 >/dev/null); rc=$?
[ $rc -eq 0 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] && printf '%s' "$err" | grep -q "damaged line (1); it is started again" &&
    ! grep -q "not a line" "$cfile" && [ "$(grep -c . "$cfile")" -ge "$n" ] &&
    ok "a damaged cache of choices: one warning, the run goes on, the cache is filled again ($err)" ||
    bad "a damaged cache of choices: exit $rc: $err"
# a line that parses but names what cuDNN has not (algorithm 99): the same, not a cuDNN error
sed -i '1s/: \([0-9-]*\) [0-9-]* /: \1 99 /' "$cfile"
err=$(DCGAN_CACHE_DIR=$cdir "$bin" bench $C 2>&1 >/dev/null); rc=$?
[ $rc -eq 0 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] && printf '%s' "$err" | grep -q "cannot use; it is started again" &&
    ! grep -q ": [0-9-]* 99 " "$cfile" && ok "a cache line naming algorithm 99: one warning, the cache filled again" ||
    bad "a cache line naming algorithm 99: exit $rc: $err"
cp "$cfile" "$work/algos99.txt" && sed -i '1s/: \([0-9-]*\) [0-9-]* /: \1 99 /' "$work/algos99.txt"
err=$(DCGAN_CUDA_ALGOS="$work/algos99.txt" "$bin" bench $C 2>&1 >/dev/null)
one_line_error "refuses a DCGAN_CUDA_ALGOS file naming algorithm 99" "algorithm 99, .* which dcgan cannot use; delete the file" $? "$err"
rm -rf "$work/choices0"
DCGAN_CACHE_DIR=$work/choices0 DCGAN_CUDA_CACHE=0 "$bin" bench $C >/dev/null 2>&1 &&
    [ -z "$(ls "$work/choices0"/cuda-choices-* 2>/dev/null)" ] && ok "DCGAN_CUDA_CACHE=0: no cache of choices written" ||
    bad "DCGAN_CUDA_CACHE=0 still wrote a cache of choices"
err=$(DCGAN_CUDA_CACHE=yes "$bin" bench $C 2>&1 >/dev/null)
one_line_error "refuses DCGAN_CUDA_CACHE=yes" "DCGAN_CUDA_CACHE=yes is unknown; use 0" $? "$err"

# ---- a choices file edited into something else ----
printf 'not a line of choices\n' >"$work/bad_algos.txt"
err=$(DCGAN_CUDA_ALGOS="$work/bad_algos.txt" "$bin" bench --device cuda --size 32 --channels 1 --gf 4 --df 4 --batch 2 \
    --steps 1 --warmup 0 2>&1 >/dev/null)
one_line_error "refuses a DCGAN_CUDA_ALGOS file that is not dcgan's" "not a line of dcgan's convolution choices" $? "$err"

summary test_cuda_emu_cli
