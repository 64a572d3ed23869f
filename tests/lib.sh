# lib.sh: shared helpers of the shell tests (sourced). Needs $bin, the dcgan command under test.
# Each check prints one PASS/FAIL line; `summary NAME` prints "NAME: N passed, M failed" and sets the
# exit status.
passed=0
failed=0
ok() { echo "PASS $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }

# one_line_error WHAT PATTERN RC ERR: a refusal is a non-zero exit that is not a signal, and exactly
# one line on stderr matching PATTERN (case-insensitive)
one_line_error() {
    local what=$1 want=$2 rc=$3 err=$4 lines
    lines=$(printf '%s\n' "$err" | grep -c .)
    if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$lines" -eq 1 ] && printf '%s' "$err" | grep -qi -- "$want"; then
        ok "$what: $err"
    else bad "$what: exit $rc, $lines lines: $err"; fi
}

# expect_fail WHAT PATTERN ARGS...: `dcgan ARGS...` is refused with one line matching PATTERN
expect_fail() {
    local what=$1 want=$2 err rc; shift 2
    err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
    one_line_error "refuses $what" "$want" $rc "$err"
}

# expect_ok WHAT ARGS...: `dcgan ARGS...` succeeds
expect_ok() {
    local what=$1 out rc; shift
    out=$("$bin" "$@" 2>&1); rc=$?
    if [ $rc -eq 0 ]; then ok "accepts $what"; else bad "accepts $what: exit $rc: $out"; fi
}

summary() { echo "$1: $passed passed, $failed failed"; [ $failed -eq 0 ]; }

# cpu_bf16_usable: `dcgan --precision bf16` runs on this CPU (AVX512_BF16) in this build (oneDNN)
cpu_bf16_usable() {
    grep -qw avx512_bf16 /proc/cpuinfo && "$bin" bench --precision bf16 --steps 1 --warmup 0 --size 32 --channels 1 \
        --batch 2 --gf 4 --df 4 >/dev/null 2>&1
}

# make_idx DIR N: a small MNIST-like IDX data set (N 28x28 images and their labels) in DIR, so the
# tests need no package
make_idx() {
    python3 - "$1" "$2" <<'PY'
import os, struct, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "train-images-idx3-ubyte"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28))
    for i in range(n):
        f.write(bytes((x * y + i) % 256 if (x - 14) ** 2 + (y - 14) ** 2 < 100 else 0 for y in range(28) for x in range(28)))
with open(os.path.join(d, "train-labels-idx1-ubyte"), "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY
}
