#!/usr/bin/env bash
# test_cli.sh DCGAN_BIN [NODNNL_BIN]: the command refuses impossible configurations and bad options
# with one clear line and a non-zero exit (no crash, no assert), and accepts good ones. NODNNL_BIN,
# the same program built without oneDNN, is checked to run on im2col + OpenBLAS and to refuse bf16.
set -u
bin=${1:-./dcgan}
nodnnl=${2:-}
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/dcgan-cli-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

B="bench --steps 1 --warmup 0 --threads 1"
expect_fail "dcgan at size 48" "size 48" $B --arch dcgan --size 48
expect_fail "seed at size 40" "multiple of 16" $B --arch seed --size 40
expect_fail "zero generator width" "gf" $B --gf 0
expect_fail "zero discriminator width" "df" $B --df 0
expect_fail "batch 0" "batch" $B --batch 0
expect_fail "negative batch" "batch" $B --batch -3
expect_fail "2 channels" "channels" $B --channels 2
expect_fail "unknown family" "arch" $B --arch wgan
expect_fail "unknown option" "unknown option" $B --sizee 64
expect_fail "non-numeric value" "not a whole number" $B --size big
expect_fail "missing value" "needs a value" $B --size
expect_fail "g-steps 0" "g-steps" $B --g-steps 0
# an option whose 0 stands for "not given" (the default) refuses a 0 that is given, instead of
# quietly taking the default: train --steps 0 once ran the default 5 epochs
for o in steps epochs size channels nz gf df; do
    expect_fail "train --$o 0" "--$o 0 is out of range" train --out "$work/zero_$o" --$o 0
    [ ! -e "$work/zero_$o" ] || bad "train --$o 0 made the run folder"
done
expect_fail "sample --cols 0" "--cols 0 is out of range" sample --checkpoint "$work/none.dcgan" --cols 0
expect_fail "import --df 0" "--df 0 is out of range" import --from "$work/none.safetensors" --df 0 --out "$work/none_import"
expect_fail "unknown device" "device" $B --device tpu
expect_fail "unknown command" "unknown command" frobnicate
DCGAN_STACK_D=2 expect_fail "an unknown DCGAN_STACK_D" "DCGAN_STACK_D=2 is unknown" $B
DCGAN_SYNC_WRITES=yes expect_fail "an unknown DCGAN_SYNC_WRITES" "DCGAN_SYNC_WRITES=yes is unknown" train --out "$work/syncw" --steps 1
[ ! -e "$work/syncw" ] && ok "an unknown DCGAN_SYNC_WRITES writes nothing" || bad "an unknown DCGAN_SYNC_WRITES made the run folder"
expect_ok "bench --help" bench --help
# every command's help: each option's default said once (an option that names its own default
# in its text, such as "--size ... (default 32 for IDX data, 64 for folders)", gets no second
# "(default N)" added at the end of its line)
doubled=""
for cmd in train sample info eval lenet interp arith invert report export import bench; do
    d=$("$bin" "$cmd" --help 2>&1 | grep -E '\(default.*\(default [^)]*\)$' || true)
    [ -n "$d" ] && doubled="$doubled$cmd: $d"$'\n'
done
if [ -z "$doubled" ]; then echo "PASS every --help states each default once"; passed=$((passed + 1))
else printf 'FAIL --help lines with two defaults:\n%s' "$doubled"; failed=$((failed + 1)); fi
expect_ok "a tiny dcgan bench" $B --arch dcgan --size 32 --channels 1 --batch 2 --gf 4 --df 4
expect_ok "a tiny seed bench" $B --arch seed --size 16 --channels 3 --batch 2 --gf 4 --df 4 --g-steps 2
out=$("$bin" bench --steps 1 --warmup 0 --threads 1 --arch dcgan --size 32 --channels 1 --batch 4 --gf 4 --df 4)
if printf '%s' "$out" | grep -qE 'images_per_s=[0-9.]+ ' && printf '%s' "$out" | grep -qE 'peak_rss_mb=[0-9.]+'; then
    echo "PASS bench prints images_per_s and peak_rss_mb"; passed=$((passed + 1))
else echo "FAIL bench output: $out"; failed=$((failed + 1)); fi

# --device cuda where no GPU can be used (or in a build without CUDA): one line, non-zero exit
if nvidia-smi -L 2>/dev/null | grep -q GPU; then
    echo "SKIP --device cuda without a GPU: this machine has one (bench/gpu/run.sh tests the GPU)"
else
    expect_fail "--device cuda without a usable GPU" "gpu\|cuda" $B --device cuda
fi
expect_fail "an unknown --precision" "use tf32" $B --device cuda --precision fp16
expect_fail "tf32 on the CPU" "tf32 is for --device cuda" $B --precision tf32
# bf16 on the CPU needs AVX512_BF16: oneDNN is told to use no more than AVX-512 to stand for a CPU
# without it (a build without oneDNN refuses bf16 with a line that also says "drop --precision")
ONEDNN_MAX_CPU_ISA=AVX512_CORE expect_fail "bf16 on a CPU without AVX512_BF16" "drop --precision" $B --precision bf16 \
    --arch dcgan --size 32 --channels 1 --batch 2 --gf 4 --df 4
if grep -qw avx512_bf16 /proc/cpuinfo; then
    out=$("$bin" bench --precision bf16 --steps 1 --warmup 0 --arch dcgan --size 32 --channels 1 --batch 4 --gf 16 --df 16 2>&1)
    if printf '%s' "$out" | grep -q "device=cpu-bf16 " || printf '%s' "$out" | grep -q "runs through oneDNN, which this build lacks"; then
        ok "bench --precision bf16 on this CPU (AVX512_BF16): $(printf '%s' "$out" | grep -oE 'device=[a-z0-9-]+|which this build lacks')"
    else bad "bench --precision bf16 on this CPU: $out"; fi
else
    echo "SKIP bench --precision bf16: this CPU has no AVX512_BF16"
fi
if [ -n "$nodnnl" ]; then # the build without oneDNN
    full=$bin
    bin=$nodnnl
    expect_ok "a tiny dcgan bench without oneDNN" $B --arch dcgan --size 32 --channels 1 --batch 2 --gf 4 --df 4
    expect_fail "bf16 in a build without oneDNN" "which this build lacks" $B --precision bf16
    bin=$full
fi
summary test_cli
