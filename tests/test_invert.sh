#!/usr/bin/env bash
# test_invert.sh DCGAN_BIN: `dcgan invert` finds z for given images. On images the generator drew
# itself (an exact z exists) the fit must be close; the z it writes make `dcgan sample -z` draw its
# reconstructions bit for bit, and interp --from-z / arith -z use them; more steps fit better; one
# image file, a folder and IDX data are accepted; mistakes get one line and a non-zero exit. And
# `dcgan sample --latent-grid`, which draws larger images from a grid of z.
set -u
bin=$(realpath "${1:-./dcgan}")
work=$(mktemp -d /tmp/dcgan-invert-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"

make_idx "$work/idx" 256
run="$work/run"
"$bin" train --data "$work/idx" --gf 16 --df 16 --batch 32 --threads 2 --quiet --out "$run" --steps 60 ||
    { echo "FAIL training run"; exit 1; }

# ---- the generator's own images: an exact z exists ----
"$bin" sample --checkpoint "$run" -n 6 --seed 5 --out "$work/own" >/dev/null || bad "sample --out"
out=$("$bin" invert --checkpoint "$run" --images "$work/own" --threads 2 --out "$work/z.npy" --raw "$work/rec.npy" \
      --grid "$work/grid.png" 2>&1) || bad "invert of G's own images: $out"
echo "$out" | tail -n 1
psnr=$(echo "$out" | sed -nE 's/.*mean psnr ([0-9.]+) dB.*/\1/p')
start=$(echo "$out" | sed -nE 's/.*from ([0-9.]+) at the start.*/\1/p')
mse=$(echo "$out" | sed -nE 's/.*mean mse ([0-9.]+) .*/\1/p')
nimg=$(echo "$out" | grep -c '^image [0-9]*: mse')
[ "$nimg" = 6 ] && ok "one line per image (6)" || bad "lines per image: $nimg, want 6"
# 8-bit PNG targets limit an exact fit to about 59 dB; measured here 44 dB (33 dB with the README's
# Fashion-MNIST model)
awk -v p="${psnr:-0}" 'BEGIN { exit !(p >= 35) }' && ok "G's own images are found again: mean PSNR $psnr dB >= 35" ||
    bad "G's own images: mean PSNR ${psnr:-none} dB < 35"
awk -v a="${mse:-1}" -v b="${start:-0}" 'BEGIN { exit !(a * 10 <= b) }' && ok "the error fell at least 10x ($start -> $mse)" ||
    bad "the error fell less than 10x (${start:-?} -> ${mse:-?})"
[ -s "$work/grid.png" ] && ok "--grid written" || bad "no --grid"

# ---- the z it writes draw the same reconstructions in dcgan sample ----
"$bin" sample --checkpoint "$run" -z "$work/z.npy" --raw "$work/again.npy" --grid "$work/again.png" >/dev/null ||
    bad "sample -z of invert's z"
cmp -s "$work/rec.npy" "$work/again.npy" && ok "sample -z draws invert's reconstructions bit for bit" ||
    bad "sample -z differs from invert's --raw"

# ---- walks between the found z: their ends are the reconstructions ----
"$bin" interp --checkpoint "$run" --from-z "$work/z.npy" --to-z "$work/z.npy" --rows 3 --steps 4 --raw "$work/walk.npy" \
    >/dev/null || bad "interp --from-z / --to-z"
/usr/bin/python3 - "$work/walk.npy" "$work/rec.npy" <<'PY' && ok "interp --from-z/--to-z walks from reconstruction i to i + 3, ends bit for bit" || bad "interp's ends are not invert's reconstructions"
import sys
import numpy as np
w, r = np.load(sys.argv[1]), np.load(sys.argv[2])
assert w.shape == (12,) + r.shape[1:], w.shape
for i in range(3):
    assert np.array_equal(w[4 * i], r[i]) and np.array_equal(w[4 * i + 3], r[i + 3]), i
PY
expect_fail "interp --from-z with too few rows" "has 6 rows; 4 walks need 8" interp --checkpoint "$run" --from-z "$work/z.npy" \
    --to-z "$work/z.npy" --rows 4 --out "$work/w.png"
# interp's outputs and sizes are checked before the walks are drawn (a 128x128 RGB model, one step)
"$bin" train --data "$work/idx" --size 128 --channels 3 --gf 4 --df 4 --batch 8 --threads 2 --quiet --out "$work/run128" \
    --steps 1 --sample-every 0 --no-tensorboard || bad "a 128x128 run"
expect_fail "interp past a PNG's size" "60 walks of 1000 steps make a strip of 130002 x 7802 pixels, more than the 1 GiB" \
    interp --checkpoint "$work/run128" --rows 60 --steps 1000 --out "$work/w.png"
expect_fail "interp past 4e9 floats of pixels" "256 walks of 1000 steps are 50 GB of pixels" \
    interp --checkpoint "$work/run128" --rows 256 --steps 1000 --raw "$work/w.npy"
expect_fail "interp --gif naming a folder" "is a folder" interp --checkpoint "$run" --gif "$work"
expect_fail "interp --from-z that is not [N, nz]" "must be float32 \[N, 100\]" interp --checkpoint "$run" --from-z "$work/rec.npy" --out "$work/w.png"

# ---- arithmetic on the found z ----
out=$("$bin" arith --checkpoint "$run" -z "$work/z.npy" -a 0,1 -b 2 -c 3 --variants 2 --out "$work/arith.png" 2>&1)
echo "$out" | grep -q "^arith: mean(A: 2 images) - mean(B: 1) + mean(C: 1) from the z of $work/z.npy" && [ -s "$work/arith.png" ] &&
    ok "arith -z takes the images' z from invert's file" || bad "arith -z: $out"
expect_fail "arith -z with an index past its rows" "index 6 is outside the grid of 6 images" arith --checkpoint "$run" \
    -z "$work/z.npy" -a 6 -b 1 -c 2 --out "$work/arith2.png"

# ---- more steps fit better (the same starts) ----
short=$("$bin" invert --checkpoint "$run" --images "$work/own" --threads 2 --steps 20 --raw "$work/r20.npy" | tail -n 1)
m20=$(echo "$short" | sed -nE 's/.*mean mse ([0-9.]+) .*/\1/p')
awk -v a="${mse:-1}" -v b="${m20:-0}" 'BEGIN { exit !(a < b) }' && ok "500 steps fit better than 20 ($m20 -> $mse)" ||
    bad "500 steps (${mse:-?}) no better than 20 (${m20:-?})"

# ---- one image file, IDX data, -n ----
out=$("$bin" invert --checkpoint "$run" --images "$work/own/sample_000002.png" --steps 50 --quiet --raw "$work/one.npy" 2>&1)
echo "$out" | grep -q '^invert: 1 image, ' && ok "one image file" || bad "one image file: $out"
out=$("$bin" invert --checkpoint "$run" --images "$work/idx" -n 3 --steps 50 --starts 2 --quiet --raw "$work/idx.npy" 2>&1)
echo "$out" | grep -q '^invert: 3 images, 50 steps x 2 starts' && ok "IDX data, -n 3, --starts 2" || bad "IDX data: $out"

# ---- sample --latent-grid: G run fully convolutionally on a K x K grid of latents per image ----
# (its numbers against PyTorch: test_train's generator_eval _grid cases)
png_side() { python3 -c 'import struct, sys; d = open(sys.argv[1], "rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1"; }
npy_shape() { python3 -c 'import ast, sys; d = open(sys.argv[1], "rb").read(128); print(ast.literal_eval(d[10:d.index(b"}") + 1].decode())["shape"])' "$1"; }
out=$("$bin" sample --checkpoint "$run" --latent-grid 3 -n 4 --seed 2 --out "$work/big" --grid "$work/big.png" --raw "$work/big.npy")
[ "$(png_side "$work/big/sample_000003.png")" = 48x48 ] && [ "$(npy_shape "$work/big.npy")" = "(4, 1, 48, 48)" ] &&
    echo "$out" | grep -q '^sample: 4 images of 48x48 (a 3x3 grid of z each)' &&
    ok "sample --latent-grid 3 of a 32-pixel model: 48x48 images (32/4 * (3 + 3)), files, grid and raw" ||
    bad "sample --latent-grid 3: $out; $(png_side "$work/big/sample_000003.png"), $(npy_shape "$work/big.npy")"
"$bin" sample --checkpoint "$run" -n 4 --seed 2 --raw "$work/plain.npy" >/dev/null &&
    "$bin" sample --checkpoint "$run" --latent-grid 1 -n 4 --seed 2 --raw "$work/grid1.npy" >/dev/null &&
    cmp -s "$work/plain.npy" "$work/grid1.npy" && ok "--latent-grid 1 gives the same bits as plain sampling" ||
    bad "--latent-grid 1 differs from plain sampling"
expect_fail "--latent-grid with --z" "drop --z" sample --checkpoint "$run" --latent-grid 2 -z "$work/z.npy" --grid "$work/x.png"
expect_fail "--latent-grid past 4096 pixels" "at most 4096: use --latent-grid 509 or less" sample --checkpoint "$run" \
    --latent-grid 600 --grid "$work/x.png"
"$bin" train --data "$work/idx" --arch seed --size 16 --gf 4 --df 4 --batch 8 --threads 2 --quiet --out "$work/seedrun" \
    --steps 1 --sample-every 0 --no-tensorboard || bad "a seed run"
expect_fail "--latent-grid on the seed family" "starts with a linear layer" sample --checkpoint "$work/seedrun" \
    --latent-grid 2 --grid "$work/x.png"
# sample's outputs are checked before its images are made: a grid past a PNG's 1 GiB (a million
# 32x32 images: 34002 x 34002 pixels), a file in a folder that does not exist, --out under a file
expect_fail "sample --grid past a PNG's size" "is 34002 x 34002 pixels, more than the 1 GiB" sample --checkpoint "$run" \
    -n 1000000 --grid "$work/huge.png"
expect_fail "sample --grid in a missing folder" "cannot write $work/none/g.png" sample --checkpoint "$run" \
    --grid "$work/none/g.png"
expect_fail "sample --raw naming a folder" "is a folder" sample --checkpoint "$run" --raw "$work"
expect_fail "sample --out under a file" "cannot create $work/z.npy/x" sample --checkpoint "$run" --out "$work/z.npy/x"
expect_fail "sample -n past 4e9 floats of pixels" "-n 1000 images of 4096x4096 are 67 GB of pixels; make fewer at a time (-n 238 or less)" \
    sample --checkpoint "$run" --latent-grid 509 -n 1000 --raw "$work/huge.npy"

# ---- mistakes ----
expect_fail "invert without --checkpoint" "--checkpoint" invert --images "$work/own" --out "$work/z2.npy"
expect_fail "invert without --images" "--images" invert --checkpoint "$run" --out "$work/z2.npy"
expect_fail "invert without an output" "--out" invert --checkpoint "$run" --images "$work/own"
expect_fail "a missing --images path" "cannot read --images" invert --checkpoint "$run" --images "$work/nope.png" --out "$work/z2.npy"
# outputs that cannot be written are refused before the search, not after it
expect_fail "invert --out in a missing folder" "cannot write $work/none/z.npy" invert --checkpoint "$run" --images "$work/own" \
    --out "$work/none/z.npy"
expect_fail "invert --grid naming a folder" "is a folder" invert --checkpoint "$run" --images "$work/own" --grid "$work"
printf 'not an image\n' > "$work/notes.txt"
expect_fail "a file that is not an image" "not an image" invert --checkpoint "$run" --images "$work/notes.txt" --out "$work/z2.npy"
mkdir -p "$work/empty"
expect_fail "a folder with no image" "image" invert --checkpoint "$run" --images "$work/empty" --out "$work/z2.npy"
expect_fail "--class on an unconditional model" "not a conditional model" invert --checkpoint "$run" --images "$work/own" --class 1 --out "$work/z2.npy"
expect_fail "too many fits at once" "lower -n or --starts" invert --checkpoint "$run" --images "$work/idx" -n 256 --starts 8 --out "$work/z2.npy"
expect_fail "tf32 on the CPU" "tf32 is for --device cuda" invert --checkpoint "$run" --images "$work/own" --precision tf32 --out "$work/z2.npy"
expect_fail "an unwritable --out" "" invert --checkpoint "$run" --images "$work/own" --steps 5 --out "$work/no/such/dir/z.npy"

summary test_invert
