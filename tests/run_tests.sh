#!/usr/bin/env bash
# run_tests.sh BUILD_DIR DCGAN_BIN [FUZZ_BUILD_DIR]: runs every test program and the command-line checks
# (and short libFuzzer runs when the fuzzers are built).
# Prints one PASS/FAIL line per check and ends with "N passed, M failed"; exits non-zero on any failure.
set -u
build=${1:-build}
bin=${2:-./dcgan}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh" # cpu_bf16_usable
passed=0
failed=0

# The checks run TEST_JOBS at a time (default: the number of CPUs, at most 4: each check's own
# threads use every CPU, and memory grows with each check beside), each into its own file; their
# results are printed in the order below as each finishes, so the log reads the same whatever ran
# beside what. TEST_JOBS=1 runs one after another. Environment set before a run_prog call (VAR=x
# run_prog ...) reaches that check only.
cpus=$(nproc 2>/dev/null || echo 1)
jobs_max=${TEST_JOBS:-$((cpus < 4 ? cpus : 4))}
case $jobs_max in ''|*[!0-9]*|0) echo "run_tests.sh: TEST_JOBS must be a positive number, not '$jobs_max'" >&2; exit 2;; esac
results=$(mktemp -d /tmp/dcgan-test-results.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$results"' EXIT
scratch=$results/data # test_data's files
mkdir "$scratch"
# Idle OpenMP threads sleep instead of spinning when checks share the CPUs: a spinning thread takes
# the core another check's thread is waiting for (measured: make test 5m42s with the default, 4m10s
# passive; the values computed do not depend on it)
[ "$jobs_max" -gt 1 ] && export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
launched=0 # checks started
reported=0 # checks whose results are printed
names=()

run_prog() { # name, command...
    local name=$1; shift
    local i=$launched
    names[$i]=$name; launched=$((launched + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; report_finished; done
    (
        t0=$SECONDS
        "$@" > "$results/$i.out" 2>&1 < /dev/null
        echo "$? $((SECONDS - t0))" > "$results/$i.rc.tmp" && mv "$results/$i.rc.tmp" "$results/$i.rc"
    ) &
    report_finished
}

# skip MESSAGE: a "SKIP ..." line, printed in its place among the results
skip() {
    names[$launched]=skip
    printf 'SKIP %s\n' "$1" > "$results/$launched.out"
    echo "skip 0" > "$results/$launched.rc"
    launched=$((launched + 1))
    report_finished
}

# report_finished: prints the results of the checks that have finished, in order, up to the first
# still running, and adds their counts
report_finished() {
    while [ $reported -lt $launched ] && [ -f "$results/$reported.rc" ]; do
        local i=$reported name=${names[$reported]} rc took out line p f
        read -r rc took < "$results/$i.rc"
        out=$(cat "$results/$i.out")
        reported=$((reported + 1))
        [ "$rc" = skip ] && { echo "$out"; continue; }
        printf '%s\n' "$out" | grep -E '^FAIL' || true
        line=$(printf '%s\n' "$out" | tail -n 1)
        p=$(printf '%s' "$line" | sed -nE 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1/p')
        f=$(printf '%s' "$line" | sed -nE 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\2/p')
        passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
        if [ "$rc" -eq 0 ] && [ -n "$p" ]; then
            echo "PASS $name ($line) ${took}s"
        else
            printf '%s\n' "$out" | tail -n 20
            echo "FAIL $name (exit $rc) ${took}s"; failed=$((failed + 1))
        fi
    done
}

# the CUDA backend built against tests/cuda_emu's emulation of the CUDA runtime, cuBLAS and cuDNN
emu="$build/cuda-emu/libdcgan-cuda.so"
# The two longest first, so that the rest fill the other CPUs beside them: class-conditional training
# (2000 iterations on Fashion-MNIST, then its accuracy bar) and dcgan train / sample / bench --device
# cuda on the emulated GPU (the command-line checks of bench/gpu/run.sh)
run_prog test_conditional bash "$here/test_conditional.sh" "$bin"
if [ -f "$emu" ] && [ -z "${DCGAN_TEST_SANITIZED:-}" ]; then
    run_prog test_cuda_emu_cli bash "$here/test_cuda_emu_cli.sh" "$bin" "$emu"
fi
run_prog test_layers "$build/tests/test_layers" "$here/fixtures"
# --precision bf16 on the CPU (oneDNN's convolutions in bf16), where the CPU has AVX512_BF16
bf16=0
cpu_bf16_usable && bf16=1
if [ $bf16 = 1 ]; then
    run_prog test_layers_cpu_bf16 "$build/tests/test_layers" "$here/fixtures" cpu:bf16
else
    skip "test_layers_cpu_bf16: no AVX512_BF16 on this CPU, or no oneDNN in this build"
fi
# the CUDA backend's bf16 arithmetic emulated on the CPU (test_cuda's reference for bf16 on a GPU)
run_prog test_layers_cpu_blas_bf16 "$build/tests/test_layers" "$here/fixtures" cpu-blas:bf16
run_prog test_conv_paths "$build/tests/test_conv_paths"
DCGAN_CPU_WINOGRAD=0 run_prog test_conv_paths_direct "$build/tests/test_conv_paths"
if [ $bf16 = 1 ]; then
    run_prog test_conv_paths_bf16 "$build/tests/test_conv_paths" bf16
    # the inner layers' bf16 matrix products (the default where the CPU has AMX) against oneDNN's
    # bf16 convolutions, each forced: the same roundings, so within 1e-5
    run_prog test_conv_paths_bf16_paths "$build/tests/test_conv_paths" bf16-paths
else
    skip "test_conv_paths_bf16, test_conv_paths_bf16_paths: no AVX512_BF16 on this CPU, or no oneDNN in this build"
fi
# test_cuda's harness with the im2col backend in the GPU's place: whole training iterations of
# "cpu" (oneDNN, Winograd) against "cpu-blas", at the fixtures' widths and at real widths
TEST_CUDA_STAND_IN=cpu-blas run_prog test_iterations_cpu_vs_blas "$build/tests/test_cuda" "$here/fixtures" fp32
run_prog test_gradcheck "$build/tests/test_gradcheck"
run_prog test_train "$build/tests/test_train" "$here/fixtures"
# the CUDA backend itself (its kernels and host code) on the CPU, through tests/cuda_emu's emulation
# of the CUDA runtime, cuBLAS and cuDNN's legacy convolutions: every op against PyTorch's fixtures
# and against the CPU backend, finite differences, and (not under the sanitizers, where they take
# minutes) whole training iterations against PyTorch and against the CPU step, graph replay included
if [ -f "$emu" ]; then
    DCGAN_CUDA_BACKEND="$emu" run_prog test_layers_cuda_emu "$build/tests/test_layers" "$here/fixtures" cuda:fp32
    DCGAN_CUDA_BACKEND="$emu" run_prog test_layers_cuda_emu_bf16 "$build/tests/test_layers" "$here/fixtures" cuda:bf16
    # the layouts the emulation's own timing leaves unchosen (its convolutions are fastest in place),
    # forced: the copies into NCHW, NHWC and padded NHWC and back, in fp32 and bf16
    for lay in 1 2 3; do
        for prec in fp32 bf16; do
            DCGAN_CUDA_BACKEND="$emu" DCGAN_CUDA_LAYOUT=$lay run_prog test_layers_cuda_emu_layout${lay}_$prec \
                "$build/tests/test_layers" "$here/fixtures" cuda:$prec
        done
    done
    DCGAN_CUDA_BACKEND="$emu" run_prog test_ops_cuda_emu "$build/tests/test_ops" cuda:fp32
    # in NHWC, where (DCGAN_CUDA_LAZY=1) the activations stay in the backend's views between ops
    # (its chain of views)
    DCGAN_CUDA_BACKEND="$emu" DCGAN_CUDA_LAYOUT=2 DCGAN_CUDA_LAZY=1 run_prog test_ops_cuda_emu_nhwc "$build/tests/test_ops" cuda:fp32
    DCGAN_CUDA_BACKEND="$emu" run_prog test_gradcheck_cuda_emu "$build/tests/test_gradcheck" cuda:fp32
    if [ -z "${DCGAN_TEST_SANITIZED:-}" ]; then
        # in NHWC, the layout a GPU mostly takes: copies, so the weight gradients run on the side
        # stream (which the emulation runs as late as the waits allow: a missing wait fails these);
        # test_train with the activations in views too (DCGAN_CUDA_LAZY=1), test_cuda without
        DCGAN_CUDA_BACKEND="$emu" DCGAN_CUDA_LAYOUT=2 DCGAN_CUDA_LAZY=1 run_prog test_train_cuda_emu "$build/tests/test_train" "$here/fixtures" cuda:fp32
        DCGAN_CUDA_BACKEND="$emu" DCGAN_CUDA_LAYOUT=2 TEST_CUDA_STAND_IN=cuda: TEST_CUDA_FIXTURES_ONLY=1 \
            run_prog test_cuda_emu "$build/tests/test_cuda" "$here/fixtures" fp32
        # bf16 against the CPU's emulation of the same rounding points, with the emulated
        # convolutions summed in double (DCGAN_EMU_CONV_SUM): the same sums rounded in another
        # order, as a GPU's kernels round them, so a few bf16 roundings land elsewhere and Adam's
        # first steps amplify them: the margin that test_cuda's bf16 check has on a GPU
        DCGAN_CUDA_BACKEND="$emu" DCGAN_CUDA_LAYOUT=2 DCGAN_EMU_CONV_SUM=double TEST_CUDA_STAND_IN=cuda: \
            TEST_CUDA_FIXTURES_ONLY=1 run_prog test_cuda_emu_bf16 "$build/tests/test_cuda" "$here/fixtures" bf16
    else
        skip "test_train_cuda_emu, test_cuda_emu, test_cuda_emu_bf16: minutes under the sanitizers (make test runs them)"
    fi
else
    skip "the CUDA emulation's tests: no CUDA toolkit headers (cudnn.h, cublas_v2.h) in this build"
fi
run_prog test_ops_cpu_blas "$build/tests/test_ops" cpu-blas
# the report of bench/gpu/kernel_trace.c (the GPU's kernel timeline, bench/gpu/NOTES.md) on known intervals
run_prog kernel_trace_selftest "$build/tests/kernel_trace_selftest"
# the scripts that run on other machines (bench/gpu on a GPU machine) at least parse
run_prog test_scripts bash "$here/test_scripts.sh"
# the test programs find the CUDA backend plugin of this build (see src/backends/registry.c)
[ -f "$here/../libdcgan-cuda.so" ] && export DCGAN_CUDA_BACKEND=${DCGAN_CUDA_BACKEND:-$(cd "$here/.." && pwd)/libdcgan-cuda.so}
run_prog test_cuda "$build/tests/test_cuda" "$here/fixtures"
run_prog test_data "$build/tests/test_data" "$scratch"
run_prog test_eval "$build/tests/test_eval"
nodnnl=""
[ "$bin" = ./dcgan ] && [ -x ./dcgan-nodnnl ] && nodnnl=./dcgan-nodnnl
run_prog test_cli bash "$here/test_cli.sh" "$bin" $nodnnl
run_prog test_train_cli bash "$here/test_train_cli.sh" "$bin"
run_prog test_faults bash "$here/test_faults.sh" "$bin"
run_prog test_report bash "$here/test_report.sh" "$bin"
run_prog test_interop bash "$here/test_interop.sh" "$bin"
run_prog test_eval_cli bash "$here/test_eval.sh" "$bin"
run_prog test_invert bash "$here/test_invert.sh" "$bin"
nompi=""
[ "$bin" = ./dcgan ] && [ -x ./dcgan-nompi ] && nompi=./dcgan-nompi
run_prog test_mpi bash "$here/test_mpi.sh" "$bin" $nompi
if [ -n "${3:-}" ]; then # libFuzzer smoke runs of every parser, from the committed seed corpora
    run_prog fuzz_smoke bash "$here/fuzz/run.sh" "$3" "${FUZZ_SECONDS:-5}" fuzz_idx fuzz_image fuzz_checkpoint fuzz_npy fuzz_cli fuzz_safetensors
fi

wait
report_finished
echo "checks: $passed passed, $failed failed"
[ $failed -eq 0 ]
