#!/usr/bin/env bash
# test_interop.sh DCGAN_BIN: dcgan's weights in other tools and back. PyTorch (Debian's python3-torch)
# loads exported weights strictly and makes the same images; weights PyTorch saved are imported and
# sampled to PyTorch's images; onnxruntime runs the ONNX export to the same images; TensorBoard's
# reader reads the event files; an example program builds against the installed libdcgan through
# pkg-config and makes the images `dcgan sample` makes. Python packages from PyPI live in .venv-test
# (tools/install-deps.sh --tests makes it).
set -u
bin=$(realpath "${1:-./dcgan}")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/dcgan-interop.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"
py=${DCGAN_TEST_PYTHON:-$root/.venv-test/bin/python}
check="$py $root/tests/interop_check.py"
if ! $py -c "import torch, safetensors, onnxruntime, onnx, tensorboard" 2>/dev/null; then
    bad "$py lacks torch, safetensors, onnxruntime, onnx or tensorboard; run tools/install-deps.sh --tests"
    summary test_interop; exit 1
fi
T="--gf 8 --df 8 --batch 16 --threads 2 --quiet"
make_idx "$work/idx" 128
"$bin" train --data "$work/idx" $T --out "$work/dc" --steps 12 --sample-every 4 || { bad "dcgan run"; summary test_interop; exit 1; }
"$bin" train --data "$work/idx" $T --out "$work/seed" --arch seed --size 16 --channels 3 --steps 3 --no-tensorboard ||
    { bad "seed run"; summary test_interop; exit 1; }
$py -c "import numpy as np; np.save('$work/z.npy', np.random.RandomState(3).randn(12, 100).astype(np.float32))"

# ---- PyTorch round trip ----
"$bin" export --checkpoint "$work/dc" --out "$work/g.safetensors" >/dev/null &&
"$bin" sample --checkpoint "$work/dc" --z "$work/z.npy" --raw "$work/ours.npy" >/dev/null &&
$check torch-sample "$work/g.safetensors" "$work/z.npy" "$work/torch.npy" && $check compare "$work/ours.npy" "$work/torch.npy" 1e-4 &&
    ok "exported weights load strictly into PyTorch's DCGAN Generator and make dcgan sample's images" ||
    bad "export to PyTorch"
$check torch-make "$work/pt.safetensors" "$work/z.npy" "$work/pt.npy" 100 16 3 64 &&
"$bin" import --from "$work/pt.safetensors" --out "$work/imported" >/dev/null &&
"$bin" sample --checkpoint "$work/imported" --z "$work/z.npy" --raw "$work/imp.npy" >/dev/null &&
$check compare "$work/imp.npy" "$work/pt.npy" 1e-4 && ok "weights PyTorch saved, imported and sampled, give PyTorch's images" ||
    bad "import from PyTorch"
"$bin" export --checkpoint "$work/dc" --net D --out "$work/d.safetensors" >/dev/null &&
"$bin" import --from "$work/g.safetensors" --d "$work/d.safetensors" --batch 16 --out "$work/both" >/dev/null &&
"$bin" export --checkpoint "$work/both" --net D --out "$work/d2.safetensors" >/dev/null &&
$check st-equal "$work/d.safetensors" "$work/d2.safetensors" &&
"$bin" train --resume "$work/both" --data "$work/idx" --steps 2 --quiet --threads 2 &&
    ok "G and D import together and train further from the imported state" || bad "import of G and D, then training"
"$bin" export --checkpoint "$work/seed" --out "$work/seed.safetensors" >/dev/null &&
"$bin" import --from "$work/seed.safetensors" --arch seed --out "$work/seed-imp" >/dev/null &&
"$bin" sample --checkpoint "$work/seed" --z "$work/z.npy" --raw "$work/s1.npy" >/dev/null &&
"$bin" sample --checkpoint "$work/seed-imp" --z "$work/z.npy" --raw "$work/s2.npy" >/dev/null &&
$check compare "$work/s1.npy" "$work/s2.npy" 0 && ok "a seed-family generator survives export and import bit for bit" ||
    bad "seed export/import"

# ---- ONNX ----
for run in dc seed; do
    "$bin" export --checkpoint "$work/$run" --format onnx --out "$work/$run.onnx" >/dev/null &&
    "$bin" sample --checkpoint "$work/$run" --z "$work/z.npy" --raw "$work/$run-ours.npy" >/dev/null &&
    $check onnx "$work/$run.onnx" "$work/z.npy" "$work/$run-onnx.npy" &&
    $check compare "$work/$run-ours.npy" "$work/$run-onnx.npy" 1e-4 && ok "onnxruntime runs the $run generator to our images" ||
        bad "ONNX export of $run"
done

# ---- TensorBoard ----
$check tensorboard "$work/dc" 12 3 && ok "tensorboard's reader finds every step's 7 scalars and the 3 sample grids" ||
    bad "TensorBoard event files"

# ---- libdcgan through pkg-config ----
if make -s -C "$root" install PREFIX="$work/inst" >"$work/install.log" 2>&1 &&
   cc "$root/examples/generate.c" $(PKG_CONFIG_PATH="$work/inst/lib/pkgconfig" pkg-config --cflags --libs dcgan) -o "$work/generate" &&
   "$work/generate" "$work/dc" 42 5 "$work/gen.f32" "$work/first.pnm" >/dev/null &&
   "$bin" sample --checkpoint "$work/dc" --seed 42 -n 5 --raw "$work/s42.npy" >/dev/null &&
   cmp -s "$work/gen.f32" <(tail -c +129 "$work/s42.npy"); then
    ok "examples/generate.c builds against the installed libdcgan (pkg-config) and makes dcgan sample's images"
else bad "libdcgan example: $(tail -3 "$work/install.log")"; fi
grep -q "^.TH DCGAN 1" "$work/inst/share/man/man1/dcgan.1" 2>/dev/null &&
    ok "make install puts the man page in share/man/man1" || bad "man page"

# ---- bad inputs ----
expect_fail "importing a file that is not safetensors" "not a safetensors" import --from "$work/z.npy" --out "$work/x"
expect_fail "importing a discriminator as the generator" "main.3.weight\|transposed" import --from "$work/d.safetensors" --out "$work/x"
expect_fail "an unknown export format" "format" export --checkpoint "$work/dc" --format pickle --out "$work/x"

summary test_interop
