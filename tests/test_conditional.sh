#!/usr/bin/env bash
# test_conditional.sh DCGAN_BIN: class-conditional training (dcgan train --conditional) end to end.
#  - an image folder's first-level subfolders are the classes; their names reach the checkpoint;
#  - `dcgan sample --class NAME|K` and the class-by-row grid; interp and arith take --class; resume;
#  - bad input gets one line: one class only, images outside class folders, no labels, unknown class;
#  - a checkpoint of format 3 (D saw the labels as well as classifying) loads and samples as it did;
#  - after a short conditional training on Fashion-MNIST (Debian's package) the shipped LeNet gives
#    at least 80% of each class's samples that class (issue 9's bar; see the check at the end).
set -u
bin=$(realpath "${1:-./dcgan}")
work=$(mktemp -d /tmp/dcgan-cond.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"
json() { sed -nE "s/.*\"$1\": ([0-9.eE+-]+).*/\1/p"; }

# a folder of PPM images in three class subfolders (and variants of it), made without any library
python3 - "$work" <<'PY'
import os, sys
root = sys.argv[1]
def ppm(path, f):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as o:
        o.write(b"P6 24 24 255\n" + bytes(v for y in range(24) for x in range(24) for v in f(x, y)))
for i in range(24):
    ppm(f"{root}/shapes/circle/{i:02d}.ppm", lambda x, y: (230, 40 + i, 40) if (x - 12) ** 2 + (y - 12) ** 2 < 40 + i else (20, 20, 20))
    ppm(f"{root}/shapes/square/{i:02d}.ppm", lambda x, y: (40, 200, 40 + i) if abs(x - 12) < 3 + i % 6 and abs(y - 12) < 3 + i % 6 else (20, 20, 20))
    ppm(f"{root}/shapes/stripes/{i:02d}.ppm", lambda x, y: (40, 40, 230) if (x + i) % 6 < 3 else (200, 200, 200))
    ppm(f"{root}/one/only/{i:02d}.ppm", lambda x, y: (i * 9, x * 9, y * 9))
    ppm(f"{root}/flat/{i:02d}.ppm", lambda x, y: (i * 9, x * 9, y * 9))
    ppm(f"{root}/mixed/a/{i:02d}.ppm", lambda x, y: (i * 9, x * 9, y * 9))
    ppm(f"{root}/mixed/b/{i:02d}.ppm", lambda x, y: (x * 9, i * 9, y * 9))
ppm(f"{root}/mixed/stray.ppm", lambda x, y: (0, 0, 0))
PY

run=$work/run
out=$("$bin" train --conditional --data "$work/shapes" --size 32 --gf 8 --df 8 --batch 8 --steps 6 --sample-every 3 \
      --out "$run" 2>&1); rc=$?
if [ $rc -eq 0 ] && printf '%s' "$out" | grep -q 'conditional on 3 classes: circle, square, stripes'; then
    ok "train --conditional on a folder: 3 classes from its subfolders (circle, square, stripes)"
else bad "train --conditional on a folder: exit $rc: $out"; fi
info=$("$bin" info --checkpoint "$run" 2>&1)
printf '%s' "$info" | grep -q '^classes=3 class_loss=1: circle, square, stripes$' &&
    ok "the checkpoint keeps the class names, and D's auxiliary classifier (class loss 1, the default)" || bad "dcgan info: $info"

# the progress grid and the sample grid: one row per class (3 rows of 8 cells of 32 + 2 px, plus 2)
size() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(*struct.unpack(">II", d[16:24]))' "$1"; }
[ "$(size "$run/samples_00000006.png")" = "274 104" ] && ok "the progress grid has one row per class (274x104)" ||
    bad "progress grid size $(size "$run/samples_00000006.png")"
"$bin" sample --checkpoint "$run" --grid "$work/grid.png" >/dev/null 2>&1 && [ "$(size "$work/grid.png")" = "274 104" ] &&
    ok "dcgan sample --grid: 8 images per class, one row per class" || bad "sample grid: $(size "$work/grid.png" 2>&1)"

# --class by name and by number give the same images; they differ from another class's
"$bin" sample --checkpoint "$run" --class square -n 4 --raw "$work/sq.npy" >/dev/null 2>&1
"$bin" sample --checkpoint "$run" --class 1 -n 4 --raw "$work/sq1.npy" >/dev/null 2>&1
"$bin" sample --checkpoint "$run" --class STRIPES -n 4 --raw "$work/st.npy" >/dev/null 2>&1
if cmp -s "$work/sq.npy" "$work/sq1.npy" && ! cmp -s "$work/sq.npy" "$work/st.npy"; then
    ok "sample --class square = --class 1, and differs from --class STRIPES (names are case-insensitive)"
else bad "sample --class: the images do not depend on the class as they should"; fi
if "$bin" sample --checkpoint "$run" -n 6 --out "$work/files" >/dev/null 2>&1 &&
   [ "$(ls "$work/files" | tr '\n' ' ')" = "sample_000000_circle.png sample_000001_circle.png sample_000002_square.png sample_000003_square.png sample_000004_stripes.png sample_000005_stripes.png " ]; then
    ok "sample --out names each file with its class (two of each of the 3 classes for -n 6)"
else bad "sample --out file names: $(ls "$work/files" 2>&1 | tr '\n' ' ')"; fi
expect_ok "interp --class on a conditional model" interp --checkpoint "$run" --class circle --steps 3 --out "$work/i.png"
expect_ok "arith --class on a conditional model" arith --checkpoint "$run" --class 2 -a 1 -b 2 -c 3 --out "$work/a.png"
expect_ok "export --format safetensors of a conditional G" export --checkpoint "$run" --out "$work/g.safetensors"
# invert without --class fits every class and names the best; the files are G's own, two per class
out=$("$bin" invert --checkpoint "$run" --images "$work/files" --steps 200 --starts 2 --raw "$work/inv.npy" 2>&1); rc=$?
named=$(echo "$out" | grep -cE '^image [0-5]: mse [0-9.]+ psnr [0-9.]+ dB class [0-2] \((circle|square|stripes)\)$')
right=$(echo "$out" | grep -cE '^image [01]: .*\(circle\)$|^image [23]: .*\(square\)$|^image [45]: .*\(stripes\)$')
echo "$out" | grep '^image' | tr '\n' ';'; echo
if [ $rc -eq 0 ] && [ "$named" = 6 ] && [ "$right" -ge 4 ]; then
    ok "invert tries every class and names the best: $right of G's 6 images get the class they were drawn with"
else bad "invert of a conditional model: exit $rc, $named images named, $right right: $out"; fi
expect_ok "invert --class" invert --checkpoint "$run" --images "$work/files/sample_000004_stripes.png" --class stripes \
    --steps 20 --raw "$work/inv1.npy"

# --class-loss 0: the label input alone (carpedm20's conditioning), no auxiliary classifier
if "$bin" train --conditional --class-loss 0 --data "$work/shapes" --size 32 --gf 8 --df 8 --batch 8 --steps 2 --quiet \
       --out "$work/plain-cond" >/dev/null 2>&1 && "$bin" info --checkpoint "$work/plain-cond" | grep -q '^classes=3 class_loss=0:'; then
    ok "train --conditional --class-loss 0 trains without the auxiliary classifier"
else bad "train --conditional --class-loss 0"; fi

# resume continues the conditional run
if "$bin" train --resume "$run" --steps 9 --quiet >/dev/null 2>&1 && "$bin" info --checkpoint "$run" | grep -q 'step=9 '; then
    ok "a conditional run resumes (step 6 -> 9)"
else bad "resume of a conditional run"; fi

# A conditional checkpoint of format 3 (dcgan b73ba79), whose D saw the labels as well as classifying,
# still loads and gives the images it gave then: tests/fixtures/ckpt_v3_conditional.dcgan is that
# version's `train --conditional --data SHAPES --size 32 --nz 4 --gf 1 --df 1 --batch 4 --steps 3
# --ema 0.9 --threads 1` on two 16x16 class folders (disc, stripes), and ..._stripes.npy its
# `sample --class stripes -n 2 --raw --threads 1`.
fx=$(dirname "$0")/fixtures
mkdir -p "$work/v3" && cp "$fx/ckpt_v3_conditional.dcgan" "$work/v3/ckpt_00000003.dcgan"
info=$("$bin" info --checkpoint "$work/v3" 2>&1)
if printf '%s' "$info" | grep -q '^classes=2 class_loss=1: disc, stripes$' && printf '%s' "$info" | grep -q '^d_labels=1: D sees the labels' &&
   printf '%s' "$info" | grep -q 'g_params=798 d_params=732 '; then
    ok "a format-3 conditional checkpoint loads with its D as it was (732 parameters, label planes and classifier)"
else bad "format-3 conditional checkpoint: $info"; fi
if "$bin" sample --checkpoint "$work/v3" --class stripes -n 2 --raw "$work/v3.npy" --threads 1 --out "$work/v3out" >/dev/null 2>&1 &&
   d=$(python3 - "$work/v3.npy" "$fx/ckpt_v3_conditional_stripes.npy" <<'PY'
import struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<H", b[8:10])[0]
    return struct.unpack("<%df" % ((len(b) - 10 - n) // 4), b[10 + n:])
a, r = load(sys.argv[1]), load(sys.argv[2])
print(max(abs(x - y) for x, y in zip(a, r)) if len(a) == len(r) else "sizes %d %d" % (len(a), len(r)))
PY
) && awk -v d="$d" 'BEGIN { exit !(d + 0 == d && d <= 1e-6) }'; then
    ok "it samples the images that the format-3 dcgan sampled (max abs difference $d)"
else bad "format-3 conditional checkpoint samples: ${d:-sample failed}"; fi

# bad input: one clear line each
expect_fail "an unknown class" "not one of the model's 3 classes.*circle, square, stripes" sample --checkpoint "$run" --class triangle --grid "$work/x.png"
expect_fail "a class number out of range" "not one of the model's 3 classes" sample --checkpoint "$run" --class 3 --grid "$work/x.png"
expect_fail "a folder with one class" "needs at least 2 classes.*has one (only)" train --conditional --data "$work/one" --size 32 --steps 1 --batch 8 --out "$work/r1"
expect_fail "a folder without class subfolders" "in no class subfolder" train --conditional --data "$work/flat" --size 32 --steps 1 --batch 8 --out "$work/r2"
expect_fail "images outside the class subfolders" "1 image of .* lie directly in the folder" train --conditional --data "$work/mixed" --size 32 --steps 1 --batch 8 --out "$work/r3"
"$bin" train --data "$work/flat" --size 32 --gf 8 --df 8 --batch 8 --steps 2 --quiet --out "$work/plain" >/dev/null 2>&1
expect_fail "--class for an unconditional model" "not a conditional model; drop --class" sample --checkpoint "$work/plain" --class 1 --grid "$work/x.png"
expect_fail "--conditional when resuming an unconditional run" "not conditional; drop --conditional" train --resume "$work/plain" --conditional --steps 4
expect_fail "--class-loss without --conditional" "add --conditional" train --data "$work/shapes" --class-loss 2 --steps 1 --out "$work/r4"
expect_fail "ONNX export of a conditional model" "ONNX export of a conditional model" export --checkpoint "$run" --format onnx --out "$work/g.onnx"

# conditioning on Fashion-MNIST (Debian's package): 2000 iterations at batch 32, half width, the
# default two G steps, the moving average of G (about 3 minutes on 2 cores), then the shipped
# LeNet classifies 200 samples of each class, and every class must be at least 80% that class
# (issue 9's bar; chance is 10%). Measured on this project's 2-core VM: lowest class 86.5% with this
# seed, 84.5% and 84.0% with --seed 2 and 3 (FID-LeNet 18.0, 20.8, 17.6). Under the sanitizers
# (make test-asan) the run is 40 iterations: the same code paths, checked for
# memory errors; the accuracy is checked by the plain build.
fm=/usr/share/datasets/fashion-mnist
if [ -d "$fm" ] && [ -n "${DCGAN_TEST_SANITIZED:-}" ]; then
    "$bin" train --conditional --data "$fm" --steps 40 --batch 32 --gf 8 --df 8 --g-steps 1 --sample-every 20 --quiet \
        --no-tensorboard --out "$work/fashion" >/dev/null 2>&1 &&
        res=$("$bin" eval --checkpoint "$work/fashion" --n 200 --json 2>&1) && printf '%s' "$res" | grep -q '"min_class_accuracy"' &&
        ok "(sanitized build) 40 conditional iterations on Fashion-MNIST and the per-class evaluation run clean" ||
        bad "(sanitized build) conditional Fashion-MNIST: ${res:-training failed}"
elif [ -d "$fm" ]; then
    t0=$(date +%s)
    "$bin" train --conditional --data "$fm" --steps "${COND_STEPS:-2000}" --batch 32 --gf 32 --df 32 --ema 0.999 \
        --sample-every 0 --checkpoint-every 0 --quiet --no-tensorboard --out "$work/fashion" >/dev/null 2>&1
    res=$("$bin" eval --checkpoint "$work/fashion" --n 2000 --json 2>&1)
    worst=$(printf '%s' "$res" | json min_class_accuracy)
    per=$(printf '%s' "$res" | sed -nE 's/.*"class_accuracy": \[([^]]*)\].*/\1/p')
    mean=$(printf '%s' "$per" | tr ',' '\n' | awk '{ s += $1; n++ } END { if (n) printf "%.4f", s / n }')
    if awk -v a="${worst:-0}" 'BEGIN { exit !(a >= 0.80) }'; then
        ok "after $(($(date +%s) - t0)) s of conditional training on Fashion-MNIST the LeNet gives each class's samples that class: lowest $worst (>= 0.80), mean $mean; per class: $per"
    else bad "conditional Fashion-MNIST: the lowest class's share is ${worst:-none}, under 0.80 (mean ${mean:-none}): $res"; fi
else bad "the conditioning check needs Debian's dataset-fashion-mnist ($fm)"; fi
summary test_conditional
