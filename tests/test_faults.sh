#!/usr/bin/env bash
# test_faults.sh DCGAN_BIN: fault injection on small training runs (docs/faults.md lists the outcomes).
# For each fault: one clear line and a non-zero exit, the newest checkpoint written before the fault
# still loads and `dcgan sample` works from it, and nothing written before the fault is lost.
# (kill -9 and SIGINT are in test_train_cli.sh.)
set -u
bin=$(realpath "${1:-./dcgan}")
work=$(mktemp -d /tmp/dcgan-faults.XXXXXX)
chmod 755 "$work" # the read-only test runs the command as an unprivileged user
trap 'umount "$work/tmpfs" 2>/dev/null; rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"

make_idx "$work/idx" 128
chmod -R a+rX "$work/idx"
T="--data $work/idx --gf 8 --df 8 --batch 16 --threads 2 --quiet"

# A run with checkpoints at steps 4 and 8 that every fault below starts from.
"$bin" train $T --out "$work/base" --steps 8 --sample-every 4 --checkpoint-every 4 --keep 5 || { echo "FAIL base run"; exit 1; }

# fresh RUN: a copy of the base run folder
fresh() { rm -rf "$work/$1"; cp -r "$work/base" "$work/$1"; }
# snapshot RUN: checksums of every file, to prove later that none was lost or changed (but the
# report, index.html and training.gif, which a run rebuilds, losses.csv, which grows, and the loss
# plots drawn from it at the run's end)
snapshot() {
    (cd "$work/$1" && for f in *; do
        case $f in losses.csv|index.html|training.gif|d_loss_real.png|d_loss_fake.png|d_loss.png|g_loss.png) ;;
        *) md5sum "$f" ;; esac; done) > "$work/$1.md5"
    head -9 "$work/$1/losses.csv" > "$work/$1.csv"
}
# intact WHAT RUN STEP: every file from before is there unchanged, the first 8 CSV rows are kept,
# the newest checkpoint is STEP's, it loads, and sample works from it
intact() {
    local what=$1 run=$2 step=$3 why=""
    (cd "$work/$run" && md5sum --quiet -c "$work/$run.md5" >/dev/null 2>&1) || why="files from before the fault changed or vanished"
    [ "$(head -9 "$work/$run/losses.csv")" = "$(cat "$work/$run.csv")" ] || why="$why; losses.csv lost rows"
    "$bin" info --checkpoint "$work/$run" 2>&1 | grep -q "step=$step " || why="$why; newest checkpoint is not step $step"
    "$bin" sample --checkpoint "$work/$run" -n 4 --grid "$work/$run-after.png" >/dev/null 2>&1 && [ -s "$work/$run-after.png" ] ||
        why="$why; sample fails"
    if [ -z "$why" ]; then ok "$what: checkpoint of step $step loads, sample works, nothing lost"; else bad "$what:$why"; fi
}
# ---- disk full (file-size limit) while writing a checkpoint ----
fresh fsize; snapshot fsize
err=$( (ulimit -f 300; "$bin" train --resume "$work/fsize" --steps 20 --checkpoint-every 2 --quiet --threads 2) 2>&1 >/dev/null); rc=$?
one_line_error "file-size limit while checkpointing" "File too large" $rc "$err"
ls "$work/fsize" | grep -q '\.tmp\.' && bad "a temporary file was left behind" || ok "no temporary file is left behind"
intact "file-size limit" fsize 8

# ---- disk full (a full tmpfs) while writing a checkpoint, where mounting is allowed ----
mkdir -p "$work/tmpfs"
if mount -t tmpfs -o size=1400k tmpfs "$work/tmpfs" 2>/dev/null; then
    mkdir -p "$work/tmpfs/run"
    cp "$work/base/losses.csv" "$work/base/real_samples.png" "$work/base/ckpt_00000008.dcgan" "$work/tmpfs/run/"
    (cd "$work/tmpfs/run" && md5sum * | grep -v losses.csv) > "$work/tmpfs-run.md5"
    head -9 "$work/base/losses.csv" > "$work/tmpfs-run.csv"
    err=$("$bin" train --resume "$work/tmpfs/run" --steps 40 --checkpoint-every 2 --keep 100 --quiet --threads 2 2>&1 >/dev/null); rc=$?
    one_line_error "a full disk while checkpointing" "No space left" $rc "$err"
    ln -s "$work/tmpfs/run" "$work/tmpfs-run"
    intact "a full disk" tmpfs-run 8
else
    echo "SKIP a full tmpfs: mounting is not allowed here (the file-size limit above covers the write error)"
fi

# ---- a NaN injected into a step: stop with a clear line, no checkpoint of the bad state ----
fresh nan; snapshot nan
err=$(DCGAN_FAULT_NAN_STEP=11 "$bin" train --resume "$work/nan" --steps 20 --checkpoint-every 2 --quiet --threads 2 2>&1 >/dev/null); rc=$?
one_line_error "a NaN in the loss" "diverged at step 11.*ckpt_00000010.dcgan, is kept" $rc "$err"
intact "a NaN in the loss" nan 10

# ---- a read-only run folder ----
fresh ro; snapshot ro
chmod -R a+rX "$work/ro"; chmod a-w "$work/ro"
if [ "$(id -u)" -eq 0 ]; then as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"; else as_user=""; fi
cp "$bin" "$work/dcgan-copy"; chmod 755 "$work/dcgan-copy"
err=$(DCGAN_CACHE_DIR="$work/ro-cache" $as_user "$work/dcgan-copy" train --resume "$work/ro" --steps 20 --quiet --threads 2 2>&1 >/dev/null); rc=$?
one_line_error "a read-only run folder (resume)" "not writable" $rc "$err"
err=$(DCGAN_CACHE_DIR="$work/ro-cache" $as_user "$work/dcgan-copy" train $T --out "$work/ro/new" --steps 2 2>&1 >/dev/null); rc=$?
one_line_error "a run folder inside a read-only folder" "cannot create the run folder" $rc "$err"
chmod u+w "$work/ro"
intact "a read-only run folder" ro 8

# ---- a batch too big for memory: a clear line at once, not the OOM killer ----
err=$("$bin" train $T --batch 1000000 --size 64 --out "$work/huge" --steps 1 2>&1 >/dev/null); rc=$?
one_line_error "a batch too big for memory" "out of memory.*smaller --batch" $rc "$err"
err=$("$bin" train $T --batch 60000 --gf 64 --df 64 --size 64 --out "$work/huge2" --steps 1 2>&1 >/dev/null); rc=$?
one_line_error "a batch whose tensors together exceed memory" "out of memory.*smaller --batch" $rc "$err"

summary test_faults
