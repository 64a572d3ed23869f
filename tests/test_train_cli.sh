#!/usr/bin/env bash
# test_train_cli.sh DCGAN_BIN: end-to-end checks of `dcgan train` / `sample` / `info` on small runs:
# bit-exact resume, atomic checkpoints under kill -9, SIGINT, and one clear line for every bad input.
set -u
bin=$(realpath "${1:-./dcgan}")
work=$(mktemp -d /tmp/dcgan-train-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"

# A small IDX data set made here (256 images, 28x28), so the test needs no package.
make_idx "$work/idx" 256
T="--data $work/idx --gf 8 --df 8 --batch 16 --threads 2 --quiet"

# ---- resume is bit-exact: 2N straight == N + resume + N ----
"$bin" train $T --out "$work/straight" --steps 24 --sample-every 0 --checkpoint-every 0 &&
"$bin" train $T --out "$work/split" --steps 12 --sample-every 0 --checkpoint-every 0 &&
"$bin" train --resume "$work/split" --steps 24 --quiet --threads 2
a=$("$bin" info --checkpoint "$work/straight" | grep -o 'step=.*')
b=$("$bin" info --checkpoint "$work/split" | grep -o 'step=.*')
if [ -n "$a" ] && [ "$a" = "$b" ] && diff -q <(cut -d, -f1-8 "$work/straight/losses.csv") <(cut -d, -f1-8 "$work/split/losses.csv") >/dev/null; then
    ok "resume is bit-exact (24 steps == 12 + resume + 12: $a)"
else bad "resume differs: [$a] vs [$b]"; fi

# ---- the same with the D step as one pass (the GPU's default; the setting is not in the checkpoint,
# so a resumed run must take the same default, not turn it off) ----
DCGAN_STACK_D=1 "$bin" train $T --out "$work/straight1" --steps 24 --sample-every 0 --checkpoint-every 0 &&
DCGAN_STACK_D=1 "$bin" train $T --out "$work/split1" --steps 12 --sample-every 0 --checkpoint-every 0 &&
DCGAN_STACK_D=1 "$bin" train --resume "$work/split1" --steps 24 --quiet --threads 2
if diff -q <(cut -d, -f1-8 "$work/straight1/losses.csv") <(cut -d, -f1-8 "$work/split1/losses.csv") >/dev/null &&
    [ "$(wc -l <"$work/split1/losses.csv")" -eq 25 ]; then
    ok "resume is bit-exact with the D step as one pass (24 steps == 12 + resume + 12)"
else bad "resume with the D step as one pass differs from the straight run"; fi

# ---- the run folder's files are written on a thread of their own (io/writer.h) while training goes
# on: the same files as writing them in the loop (DCGAN_SYNC_WRITES=1), the same checkpoints kept ----
for m in 1 0; do
    DCGAN_SYNC_WRITES=$m "$bin" train $T --out "$work/writer$m" --steps 12 --sample-every 2 --checkpoint-every 2 --keep 4 ||
        bad "the run with DCGAN_SYNC_WRITES=$m failed"
done
listing() { (cd "$1" && ls | grep -v '^events\.out\.tfevents\.'); }
why=""
[ "$(listing "$work/writer0")" = "$(listing "$work/writer1")" ] || why="other files: $(listing "$work/writer0" | tr '\n' ' ')"
n=0
for f in real_samples.png $(cd "$work/writer1" && ls samples_*.png) d_loss_real.png d_loss_fake.png d_loss.png g_loss.png; do
    [ -f "$work/writer0/$f" ] && cmp -s "$work/writer0/$f" "$work/writer1/$f" || why="$why $f differs;"
    n=$((n + 1))
done
ckpts=$(cd "$work/writer1" && ls ckpt_*.dcgan | tr '\n' ' ')
for f in $ckpts; do
    a=$("$bin" info --checkpoint "$work/writer0/$f" | grep -o 'step=.*')
    b=$("$bin" info --checkpoint "$work/writer1/$f" | grep -o 'step=.*')
    [ -n "$a" ] && [ "$a" = "$b" ] || why="$why $f differs;"
done
[ "$ckpts" = "ckpt_00000006.dcgan ckpt_00000008.dcgan ckpt_00000010.dcgan ckpt_00000012.dcgan " ] || why="$why kept: $ckpts;"
grep -q 'samples at step 12' "$work/writer0/index.html" || why="$why the report lacks the last grid;"
[ -z "$why" ] && ok "the writer's thread writes the same $n images and checkpoints ($ckpts) as writing in the loop" ||
    bad "the writer's thread and the loop wrote different files:$why"

# ---- --lr-decay-from: the learning rate falls linearly to 0 at the run's last step; resume in the
# middle of the decay is bit-exact (from the run's own step-12 checkpoint), the checkpoint keeps the
# schedule, and a resumed run may neither change it nor train past its end ----
"$bin" train $T --out "$work/decay" --steps 24 --lr-decay-from 8 --sample-every 0 --checkpoint-every 12 --keep 5 &&
cp -r "$work/decay" "$work/decaysplit" && rm "$work/decaysplit/ckpt_00000024.dcgan" &&
"$bin" train --resume "$work/decaysplit" --steps 24 --threads 2 >"$work/decaysplit.out"
# the progress line shows the rate the last step used: 2e-4 * (24 - 23) / (24 - 8)
grep -q 'step 24/24 .* lr 1.25e-05 images/s' "$work/decaysplit.out" &&
    ok "the progress line under a decay shows the last step's learning rate (lr 1.25e-05 at step 24 of 8-24)" ||
    bad "the progress line does not show the decayed learning rate: $(tail -n 2 "$work/decaysplit.out")"
a=$("$bin" info --checkpoint "$work/decay" | grep -o 'step=.*')
b=$("$bin" info --checkpoint "$work/decaysplit" | grep -o 'step=.*')
c=$("$bin" info --checkpoint "$work/straight" | grep -o 'step=.*')
if [ -n "$a" ] && [ "$a" = "$b" ] && "$bin" info --checkpoint "$work/decaysplit" | grep -q '^lr_decay=8-24:' &&
    diff -q <(cut -d, -f1-8 "$work/decay/losses.csv") <(cut -d, -f1-8 "$work/decaysplit/losses.csv") >/dev/null; then
    ok "--lr-decay-from 8: resume at step 12 is bit-exact (24 steps == 12 + resume + 12) and the checkpoint says lr_decay=8-24"
else bad "--lr-decay-from: resume differs or lost the schedule: [$a] vs [$b]"; fi
[ -n "$c" ] && [ "$a" != "$c" ] && ok "--lr-decay-from trains another model than the same run without it" ||
    bad "--lr-decay-from changed nothing: [$c]"
grep -q "linear to 0 from step 8 to step 24" "$work/decay/index.html" && ok "the report's configuration shows the decay" ||
    bad "the report does not mention --lr-decay-from"
"$bin" train $T --out "$work/decayhalf" --steps 24 --lr-decay-from 50% --sample-every 0 --checkpoint-every 0 &&
    "$bin" info --checkpoint "$work/decayhalf" | grep -q '^lr_decay=12-24:' &&
    ok "--lr-decay-from 50% of a 24-step run decays from step 12" || bad "--lr-decay-from 50% is not step 12 of 24"
expect_fail "--lr-decay-from abc" "--lr-decay-from 'abc' is neither a number of iterations nor a share of the run" \
    train $T --out "$work/decayabc" --steps 24 --lr-decay-from abc
[ ! -e "$work/decayabc" ] && ok "a malformed --lr-decay-from writes nothing" || bad "a malformed --lr-decay-from made the run folder"
expect_fail "--lr-decay-from at the run's last step" "--lr-decay-from 24 is not before the run's last step, 24" \
    train $T --out "$work/decaybad" --steps 24 --lr-decay-from 24
expect_fail "--lr-decay-from on resume" "--lr-decay-from is fixed by the run" \
    train --resume "$work/decaysplit" --lr-decay-from 4 --steps 24 --quiet
expect_fail "resuming past the decay's end" "falls to 0 at step 24.*--steps 24 at most" \
    train --resume "$work/decaysplit" --steps 30 --quiet

# a checkpoint whose decay cannot be (from step 30 of a schedule that ends at 24; its CRC made right,
# so that the header's check is what refuses it): one line
python3 - "$work/decay/ckpt_00000024.dcgan" "$work/baddecay.dcgan" <<'PY'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
end = 16 + struct.unpack_from("<I", b, 12)[0]  # format 7's last header fields: the decay's from and to
assert struct.unpack_from("<qq", b, end - 16) == (8, 24)
struct.pack_into("<q", b, end - 16, 30)
struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])) & 0xFFFFFFFF)
open(sys.argv[2], "wb").write(b)
PY
expect_fail "a checkpoint with an impossible decay" "holds an impossible schedule (--lr-decay-from 30" \
    info --checkpoint "$work/baddecay.dcgan"

# A checkpoint of format 6 (dcgan 886fec1, before the decay's fields) still loads, with no decay, and
# samples the images it sampled: tests/fixtures/ckpt_v6_flip_smooth.dcgan is that version's `train
# --data IDX --size 32 --nz 4 --gf 1 --df 1 --batch 4 --steps 3 --flip --real-label 0.9 --threads 1`
# and ..._sample.npy its `sample -n 2 --raw --threads 1`.
fx=$(dirname "$0")/fixtures
mkdir -p "$work/v6" && cp "$fx/ckpt_v6_flip_smooth.dcgan" "$work/v6/ckpt_00000003.dcgan"
info=$("$bin" info --checkpoint "$work/v6" 2>&1)
if printf '%s' "$info" | grep -q 'state_crc32=27d713b2 params_adam_crc32=03e97de4$' &&
    printf '%s' "$info" | grep -q '^real_label=0.9:' && printf '%s' "$info" | grep -q '^flip=1:' &&
    ! printf '%s' "$info" | grep -q '^lr_decay'; then
    ok "a format-6 checkpoint loads as it was (the same state, --real-label 0.9, --flip, no decay)"
else bad "format-6 checkpoint: $info"; fi
"$bin" sample --checkpoint "$work/v6" -n 2 --raw "$work/v6.npy" --threads 1 --out "$work/v6img" >/dev/null 2>&1 &&
    cmp -s "$work/v6.npy" "$fx/ckpt_v6_flip_smooth_sample.npy" && ok "it samples the images that the format-6 dcgan sampled, bit for bit" ||
    bad "the format-6 checkpoint samples other images"

# ---- --flip: resume is bit-exact across epochs (16 batches each), the checkpoint keeps the setting,
# and the mirrored data trains another model ----
"$bin" train $T --flip --out "$work/flip" --steps 40 --sample-every 0 --checkpoint-every 0 &&
"$bin" train $T --flip --out "$work/flipsplit" --steps 20 --sample-every 0 --checkpoint-every 0 &&
"$bin" train --resume "$work/flipsplit" --steps 40 --quiet --threads 2 &&
"$bin" train $T --out "$work/noflip" --steps 40 --sample-every 0 --checkpoint-every 0
a=$("$bin" info --checkpoint "$work/flip" | grep -o 'step=.*')
b=$("$bin" info --checkpoint "$work/flipsplit" | grep -o 'step=.*')
c=$("$bin" info --checkpoint "$work/noflip" | grep -o 'step=.*')
if [ -n "$a" ] && [ "$a" = "$b" ] && "$bin" info --checkpoint "$work/flipsplit" | grep -q '^flip=1:'; then
    ok "--flip: resume is bit-exact (40 steps == 20 + resume + 20, 2.5 epochs) and the checkpoint says flip=1"
else bad "--flip resume differs or lost the setting: [$a] vs [$b]"; fi
[ -n "$c" ] && [ "$a" != "$c" ] && ok "--flip trains another model than the same run without it" || bad "--flip changed nothing: [$c]"
grep -q "mirrored at random" "$work/flip/index.html" && ok "the report's configuration says the data is mirrored" ||
    bad "the report does not mention --flip"
expect_fail "--flip on resuming a run made without it" "--flip is fixed by the run.*drop --flip" \
    train --resume "$work/noflip" --flip --steps 50 --quiet

# ---- --real-label (one-sided label smoothing): kept by the checkpoint, fixed at resume, in range ----
"$bin" train $T --real-label 0.9 --out "$work/smooth" --steps 12 --sample-every 0 --checkpoint-every 0
if "$bin" info --checkpoint "$work/smooth" | grep -q "^real_label=0.9: " && grep -q "one-sided label smoothing" "$work/smooth/index.html"; then
    ok "--real-label 0.9: info and the report say so"
else bad "--real-label 0.9 is not in info or the report"; fi
a=$("$bin" info --checkpoint "$work/smooth" | grep -o 'state_crc32=[0-9a-f]*')
"$bin" train $T --out "$work/nosmooth" --steps 12 --sample-every 0 --checkpoint-every 0
c=$("$bin" info --checkpoint "$work/nosmooth" | grep -o 'state_crc32=[0-9a-f]*')
[ -n "$a" ] && [ "$a" != "$c" ] && ok "--real-label 0.9 trains another model than the default (1)" || bad "--real-label changed nothing: $a $c"
expect_fail "--real-label on resume" "--real-label is fixed by the run" train --resume "$work/smooth" --real-label 0.8 --steps 20 --quiet
expect_fail "--real-label 0.5 (no smoothing left: D's targets would meet)" "must be over 0.5" train $T --real-label 0.5 --out "$work/x" --steps 2
expect_fail "--real-label 1.5" "out of range" train $T --real-label 1.5 --out "$work/x" --steps 2

# ---- --precision bf16 on the CPU (where the CPU has AVX512_BF16): deterministic, close to fp32 ----
if cpu_bf16_usable; then
    "$bin" train $T --precision bf16 --out "$work/bf16a" --steps 24 --sample-every 0 --checkpoint-every 0 &&
    "$bin" train $T --precision bf16 --out "$work/bf16b" --steps 24 --sample-every 0 --checkpoint-every 0
    out=$(python3 - "$work/straight/losses.csv" "$work/bf16a/losses.csv" "$work/bf16b/losses.csv" <<'PY'
import csv, math, sys
f32, a, b = ([r[:8] for r in list(csv.reader(open(p)))[1:]] for p in sys.argv[1:4])
same = a == b
finite = all(math.isfinite(float(x)) for r in a for x in r[2:8])
differs = a != f32
# the first step's losses, from the same weights and batches, within 2% of fp32's
close = all(abs(float(x) - float(y)) <= 0.02 * abs(float(y)) for x, y in zip(a[0][2:6], f32[0][2:6]))
print("same bits twice: %s, finite: %s, not fp32's bits: %s, step 1 within 2%% of fp32: %s (d_loss %s vs %s)"
      % (same, finite, differs, close, a[0][4], f32[0][4]))
sys.exit(0 if same and finite and differs and close and len(a) == 24 else 1)
PY
) && ok "train --precision bf16: $out" || bad "train --precision bf16: $out"
else
    echo "SKIP train --precision bf16: no AVX512_BF16 on this CPU, or no oneDNN in this build"
fi

# ---- the run folder holds what a user expects ----
r="$work/straight"
if [ -s "$r/real_samples.png" ] && [ -s "$r/samples_00000024.png" ] && [ -s "$r/d_loss.png" ] && [ -s "$r/g_loss.png" ] &&
   [ -s "$r/d_loss_real.png" ] && [ -s "$r/d_loss_fake.png" ] && [ "$(wc -l < "$r/losses.csv")" -eq 25 ] &&
   head -1 "$r/losses.csv" | grep -q '^step,epoch,d_loss_real,d_loss_fake,d_loss,g_loss,d_x,d_g_z,images_per_s,elapsed_s$'; then
    ok "run folder has sample grids, real grid, four loss plots and a 24-row losses.csv"
else bad "run folder is incomplete: $(ls "$r" | tr '\n' ' ')"; fi

# ---- --keep ----
"$bin" train $T --out "$work/keep" --steps 10 --sample-every 0 --checkpoint-every 2 --keep 2
n=$(ls "$work/keep"/ckpt_*.dcgan | wc -l)
[ "$n" -eq 2 ] && [ -f "$work/keep/ckpt_00000010.dcgan" ] && ok "--keep 2 keeps the newest two checkpoints" || bad "--keep: $n checkpoints"

# ---- sample ----
if "$bin" sample --checkpoint "$work/straight" -n 10 --out "$work/s" --grid "$work/grid.png" --raw "$work/raw.npy" >/dev/null &&
   [ "$(ls "$work/s" | wc -l)" -eq 10 ] && [ -s "$work/grid.png" ] && [ -s "$work/raw.npy" ]; then
    ok "sample writes N PNG files, a grid and the raw .npy"
else bad "sample output"; fi
"$bin" sample --checkpoint "$work/straight" -n 4 --raw "$work/raw4.npy" >/dev/null
"$bin" sample --checkpoint "$work/straight" -n 9 --raw "$work/raw9.npy" >/dev/null
if python3 -c "
import sys
a = open('$work/raw4.npy','rb').read(); b = open('$work/raw9.npy','rb').read()
h = 128; n = 4 * 32 * 32 * 4
sys.exit(0 if a[h:h+n] == b[h:h+n] else 1)"; then ok "with running statistics an image does not depend on -n"
else bad "sample depends on -n"; fi

# ---- a messy folder trains: PNGs of two sizes and modes, nested, plus bad files ----
mkdir -p "$work/messy/sub"
"$bin" sample --checkpoint "$work/straight" -n 12 --out "$work/messy" >/dev/null
"$bin" train $T --out "$work/rgb16" --arch seed --size 16 --channels 3 --steps 1 --sample-every 0
"$bin" sample --checkpoint "$work/rgb16" -n 12 --out "$work/messy/sub" >/dev/null
head -c 100 "$work/messy/sample_000000.png" > "$work/messy/truncated.png"
: > "$work/messy/empty.jpg"
echo "not an image" > "$work/messy/notes.png"
ln -s loop.png "$work/messy/loop.png"
out=$("$bin" train --data "$work/messy" --size 64 --out "$work/messy-run" --steps 3 --batch 8 --gf 8 --df 8 --threads 2 2>&1)
if [ $? -eq 0 ] && printf '%s' "$out" | grep -q "data: 24 images" && printf '%s' "$out" | grep -q "skipped 4 bad files" &&
   printf '%s' "$out" | grep -q "truncated.png"; then
    ok "a messy folder trains at --size 64; the 4 bad files are skipped and named"
else bad "messy folder: $out"; fi

# ---- kill -9 while checkpointing: the newest checkpoint always loads ----
killed_ok=1
for i in 1 2 3 4 5 6 7 8; do
    "$bin" train $T --out "$work/kill" --steps 100000 --sample-every 0 --checkpoint-every 1 --keep 2 >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    if ls "$work/kill"/ckpt_*.dcgan >/dev/null 2>&1; then
        "$bin" info --checkpoint "$work/kill" >/dev/null 2>&1 || { killed_ok=0; echo "  kill $i: newest checkpoint does not load"; }
        "$bin" sample --checkpoint "$work/kill" -n 2 --grid "$work/kill.png" >/dev/null 2>&1 || killed_ok=0
    fi
    rm -rf "$work/kill"
done
[ $killed_ok -eq 1 ] && ok "kill -9 at random moments never leaves an unloadable newest checkpoint" || bad "kill -9 broke a checkpoint"

# ---- SIGINT: finish the step, checkpoint, exit 130 ----
"$bin" train $T --out "$work/int" --steps 100000 --sample-every 0 --checkpoint-every 0 >/dev/null 2>&1 &
pid=$!
sleep 1.5
kill -INT $pid; wait $pid; rc=$?
if [ $rc -eq 130 ] && "$bin" info --checkpoint "$work/int" >/dev/null 2>&1 &&
   [ "$("$bin" info --checkpoint "$work/int" | grep -o 'step=[0-9]*')" = "step=$(tail -1 "$work/int/losses.csv" | cut -d, -f1)" ]; then
    ok "SIGINT finishes the step, writes a checkpoint of it and exits 130"
else bad "SIGINT: exit $rc"; fi

# ---- bad inputs: one clear line, non-zero exit, nothing overwritten ----
mkdir -p "$work/noimages"; echo hello > "$work/noimages/a.png"
expect_fail "a folder with no usable image" "no usable image" train --data "$work/noimages" --out "$work/x1" --quiet
expect_fail "a missing path" "cannot read" train --data "$work/nope" --out "$work/x2" --quiet
head -c 2000 "$work/idx/train-images-idx3-ubyte" > "$work/short-images-idx3-ubyte"
expect_fail "a truncated IDX file" "truncated" train --data "$work/short-images-idx3-ubyte" --out "$work/x3" --quiet
printf 'PK\003\004zipzipzipzip' > "$work/zip-images-idx3-ubyte"
expect_fail "a foreign IDX file" "not an IDX" train --data "$work/zip-images-idx3-ubyte" --out "$work/x4" --quiet
expect_fail "a checkpoint of another architecture" "arch" train --resume "$work/straight" --arch seed --quiet
cp -r "$work/straight" "$work/corrupt"
f=$(ls "$work/corrupt"/ckpt_*.dcgan | tail -1)
# (the byte's complement: a fixed value could be the byte already there)
b=$(od -An -tu1 -j5000 -N1 "$f" | tr -d ' ')
printf "\\$(printf %03o $((255 - b)))" | dd of="$f" bs=1 seek=5000 conv=notrunc 2>/dev/null
before=$(cat "$work/corrupt/losses.csv" | md5sum)
expect_fail "a corrupted checkpoint (sample)" "corrupted" sample --checkpoint "$work/corrupt" --grid "$work/c.png"
expect_fail "a corrupted checkpoint (resume)" "corrupted" train --resume "$work/corrupt" --steps 30 --quiet
[ "$(cat "$work/corrupt/losses.csv" | md5sum)" = "$before" ] && ok "a failed resume leaves the run folder untouched" || bad "a failed resume changed losses.csv"
expect_fail "a run that is already done" "already at step" train --resume "$work/straight" --steps 10 --quiet
expect_fail "--lr on resume (the run keeps its settings)" "--lr is fixed by the run.*drop --lr" train --resume "$work/straight" --lr 0.001 --steps 40 --quiet
expect_fail "--g-steps=1 on resume" "--g-steps is fixed by the run" train --resume "$work/straight" --g-steps=1 --steps 40 --quiet
expect_fail "a batch larger than the data" "fewer than one batch" train --data "$work/idx" --batch 512 --out "$work/x5" --quiet
# ---- --ema: a moving average of G for sampling; training itself is unchanged ----
"$bin" train $T --out "$work/ema" --steps 24 --sample-every 0 --checkpoint-every 0 --ema 0.9 &&
"$bin" train $T --out "$work/emasplit" --steps 12 --sample-every 0 --checkpoint-every 0 --ema 0.9 &&
"$bin" train --resume "$work/emasplit" --steps 24 --quiet --threads 2 &&
"$bin" sample --checkpoint "$work/ema" -n 8 --raw "$work/ema.npy" >/dev/null &&
"$bin" sample --checkpoint "$work/emasplit" -n 8 --raw "$work/emasplit.npy" >/dev/null &&
"$bin" sample --checkpoint "$work/ema" -n 8 --raw "$work/emalive.npy" --weights live >/dev/null &&
"$bin" sample --checkpoint "$work/straight" -n 8 --raw "$work/plain.npy" >/dev/null
a=$("$bin" info --checkpoint "$work/straight" | grep -o 'step=.*')
b=$("$bin" info --checkpoint "$work/ema" | grep -o 'step=.*')
[ -n "$a" ] && [ "$a" = "$b" ] && ok "--ema leaves training alone (the same weights and Adam state as without)" || bad "--ema changed training: [$a] vs [$b]"
cmp -s "$work/emalive.npy" "$work/plain.npy" && ok "sample --weights live of an --ema run = the run without --ema" || bad "--weights live differs from the plain run"
cmp -s "$work/ema.npy" "$work/emalive.npy" && bad "sample gives the live G for an --ema run" || ok "sample uses the moving average by default"
cmp -s "$work/ema.npy" "$work/emasplit.npy" && ok "the moving average resumes bit-exactly (24 == 12 + resume + 12)" || bad "the moving average differs after resume"
"$bin" info --checkpoint "$work/ema" | grep -q '^ema=0.9:' && ok "info reports the average's decay" || bad "info does not report --ema"
"$bin" train --resume "$work/split" --steps 30 --quiet --threads 2 --ema 0.99 &&
"$bin" info --checkpoint "$work/split" | grep -q '^ema=0.99:' && ok "--ema on resume starts an average" || bad "--ema on resume"
expect_fail "--ema 1.5" "decay" train --ema 1.5 --quiet
expect_fail "an unknown --weights" "weights" sample --checkpoint "$work/ema" --grid "$work/w.png" --weights best

expect_fail "an unknown loss" "loss" train --loss hinge --quiet
expect_fail "sample without a checkpoint" "checkpoint" sample --grid x.png
expect_fail "sample from a missing checkpoint" "cannot read" sample --checkpoint "$work/none" --grid x.png
expect_fail "a wrong --z shape" "must be float32" sample --checkpoint "$work/straight" --z "$work/raw4.npy" --grid "$work/z.png"
summary test_train_cli
