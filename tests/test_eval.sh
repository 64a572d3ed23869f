#!/usr/bin/env bash
# test_eval.sh DCGAN_BIN: dcgan eval end to end with the shipped LeNet (models/) on Debian's
# Fashion-MNIST: the classifier's test accuracy is at least 90%; FID-LeNet of real test images
# against the training set is small; it grows monotonically as Gaussian noise or blur is added;
# reference features are cached; a checkpoint is scored, in a table or as JSON (with per-class
# accuracy for a conditional model); bad inputs get one line.
set -u
bin=$(realpath "${1:-./dcgan}")
work=$(mktemp -d /tmp/dcgan-eval.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"
fm=/usr/share/datasets/fashion-mnist
test_images=$fm/t10k-images-idx3-ubyte.gz
json() { sed -nE "s/.*\"$1\": ([0-9.eE+-]+).*/\1/p"; }

acc=$("$bin" eval --accuracy "$test_images" --json | json accuracy)
awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.90) }' && ok "the shipped LeNet classifies $acc of the 10000 Fashion-MNIST test images right (>= 0.90)" ||
    bad "LeNet test accuracy ${acc:-none} < 0.90"

# real test images against the training set, then with noise and blur (IDX files made with numpy)
/usr/bin/python3 - "$test_images" "$work" <<'PY'
import gzip, struct, sys
import numpy as np
src, out = sys.argv[1], sys.argv[2]
raw = gzip.open(src).read()
n, h, w = struct.unpack(">III", raw[4:16])
x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w)[:2000].astype(np.float64)
rng = np.random.default_rng(0)
def save(name, img):
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    with open(f"{out}/{name}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(img), h, w) + img.tobytes())
def box_blur(img, r):
    if r == 0:
        return img
    p = np.pad(img, ((0, 0), (r, r), (r, r)), mode="edge")
    acc = np.zeros_like(img)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            acc += p[:, r + dy:r + dy + h, r + dx:r + dx + w]
    return acc / (2 * r + 1) ** 2
for s in (0, 20, 40, 80):
    save(f"noise{s}", x + rng.normal(0, s, x.shape) if s else x)
for r in (1, 2, 3):
    save(f"blur{r}", box_blur(x, r))
PY
fid() { "$bin" eval --images "$work/$1-images-idx3-ubyte" --reference fashion-mnist -n 2000 --json | json fid; }
real=$("$bin" eval --images "$test_images" --reference fashion-mnist -n 10000 --json | json fid)
f0=$(fid noise0); f20=$(fid noise20); f40=$(fid noise40); f80=$(fid noise80); b1=$(fid blur1); b2=$(fid blur2); b3=$(fid blur3)
echo "  FID-LeNet vs the training set: 10000 real test images $real; 2000 of them $f0, with noise 20/40/80: $f20 $f40 $f80; blur 1/2/3: $b1 $b2 $b3"
awk -v a="${real:-99}" -v b="${f40:-0}" 'BEGIN { exit !(a < 3 && a * 10 < b) }' &&
    ok "FID-LeNet of the 10000 real test images against the training set is small ($real, < 3 and a tenth of noise 40's $f40)" ||
    bad "FID-LeNet of real images is not small: $real"
awk -v a="$f0" -v b="$f20" -v c="$f40" -v d="$f80" 'BEGIN { exit !(a < b && b < c && c < d) }' &&
    ok "FID-LeNet grows monotonically with Gaussian noise" || bad "FID-LeNet not monotone in noise: $f0 $f20 $f40 $f80"
awk -v a="$f0" -v b="$b1" -v c="$b2" -v d="$b3" 'BEGIN { exit !(a < b && b < c && c < d) }' &&
    ok "FID-LeNet grows monotonically with blur" || bad "FID-LeNet not monotone in blur: $f0 $b1 $b2 $b3"

# a checkpoint, the table and JSON, the cache
make_idx "$work/idx" 256
"$bin" train --data "$work/idx" --gf 8 --df 8 --batch 16 --threads 2 --quiet --out "$work/run" --steps 4 --sample-every 0
"$bin" eval --checkpoint "$work/run" -n 500 >/dev/null 2>&1
out=$("$bin" eval --checkpoint "$work/run" -n 500 2>&1)
if printf '%s' "$out" | grep -q 'FID-LeNet' && printf '%s' "$out" | grep -q 'cached features'; then
    ok "eval of a checkpoint prints the table, with the reference features from the cache"
else bad "eval table: $out"; fi
j=$("$bin" eval --checkpoint "$work/run" -n 500 --json)
if /usr/bin/python3 -c "import json, sys; d = json.loads(sys.argv[1]); sys.exit(0 if all(k in d for k in ('fid', 'kid', 'is', 'precision', 'recall')) else 1)" "$j"; then
    ok "eval --json prints one JSON object with fid, kid, is, precision and recall"
else bad "eval --json: $j"; fi

# --eval-every writes metrics.csv, the FID plot and the report's metrics
"$bin" train --data "$work/idx" --gf 8 --df 8 --batch 16 --threads 2 --quiet --out "$work/evrun" --steps 6 --sample-every 0 \
    --eval-every 3 --eval-n 300
if [ "$(wc -l < "$work/evrun/metrics.csv")" -eq 3 ] && [ -s "$work/evrun/fid_lenet.png" ] && grep -q 'Sample quality' "$work/evrun/index.html"; then
    ok "train --eval-every 3 adds metrics.csv rows at steps 3 and 6, fid_lenet.png and the report's metrics"
else bad "--eval-every: $(cat "$work/evrun/metrics.csv" 2>&1)"; fi

# a conditional model: per-class accuracy in eval and a min_class_accuracy column in metrics.csv
"$bin" train --conditional --data "$work/idx" --gf 8 --df 8 --batch 16 --threads 2 --quiet --out "$work/cond" --steps 4 \
    --sample-every 0 --eval-every 2 --eval-n 200
j=$("$bin" eval --checkpoint "$work/cond" -n 200 --json)
jb=$("$bin" eval --checkpoint "$work/cond" -n 200 --json --bn batch)
if head -1 "$work/cond/metrics.csv" | grep -q ',min_class_accuracy$' && printf '%s' "$j" | grep -q '"class_accuracy": \[' &&
   [ "$j" != "$jb" ]; then
    ok "a conditional model: eval adds class_accuracy, metrics.csv a min_class_accuracy column; --bn batch scores other samples"
else bad "conditional eval: $(head -1 "$work/cond/metrics.csv" 2>&1) / $j"; fi
expect_fail "eval --bn with an unknown value" "use running or batch" eval --checkpoint "$work/cond" --bn mean

expect_fail "eval with neither a checkpoint nor images" "give --checkpoint" eval
expect_fail "eval against a missing reference" "cannot read the reference" eval --images "$work/idx" --reference "$work/none"
expect_fail "eval with a missing LeNet file" "cannot read the LeNet" eval --images "$work/idx" --lenet "$work/none.safetensors"
# lenet's --out is checked before its minutes of training (no epoch line on stdout)
for o in "$work/none/l.safetensors" "$work"; do
    expect_fail "lenet --out $o" "cannot write $o" lenet --data "$work/idx" --epochs 1 --out "$o"
    out=$("$bin" lenet --data "$work/idx" --epochs 1 --out "$o" 2>/dev/null)
    [ -z "$out" ] && ok "lenet --out $o: refused before training" || bad "lenet --out $o trained first: $out"
done
summary test_eval_cli
