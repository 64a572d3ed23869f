#!/usr/bin/env bash
# test_report.sh DCGAN_BIN: what a run shows a person. The run folder's index.html loads in headless
# Chromium with no console message, every image in it loads, and its screenshot is not blank;
# training.gif holds the sample grids; interp's endpoints are the images `dcgan sample` makes for
# the same seeds; arith and report write what they say.
set -u
bin=$(realpath "${1:-./dcgan}")
work=$(mktemp -d /tmp/dcgan-report-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DCGAN_CACHE_DIR="$work/cache"
source "$(dirname "$0")/lib.sh"
py=/usr/bin/python3 # Debian's, with python3-pil

make_idx "$work/idx" 128
run="$work/run"
"$bin" train --data "$work/idx" --gf 8 --df 8 --batch 16 --threads 2 --quiet --out "$run" --steps 24 --sample-every 4 ||
    { echo "FAIL training run"; exit 1; }
ngrids=$(ls "$run"/samples_*.png | wc -l)

# ---- the report page in a real browser ----
[ -s "$run/index.html" ] && ok "the run folder has index.html" || bad "no index.html"
grep -q 'src="http\|src="//\|href="http' "$run/index.html" && bad "index.html refers to the network" || ok "index.html needs no network"
if ! command -v chromium >/dev/null; then
    bad "chromium is not installed (tools/install-deps.sh --tests installs it)"
else
    browse() { chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 \
                   --user-data-dir="$work/chrome" --virtual-time-budget=5000 "$@" "file://$run/index.html"; }
    browse --dump-dom > "$work/dom.html" 2> "$work/chrome.log"
    want=$((ngrids + 8 + 1)) # the grids, 8 plots (the 7 of the log and the samples' spread), the real grid
    if grep -q "<p id=\"imgcheck\">all $want images loaded" "$work/dom.html"; then ok "Chromium loads all $want images and plots"
    else bad "images in Chromium: $(grep -o '<p id="imgcheck">[^<]*' "$work/dom.html") (want all $want)"; fi
    if grep -q 'CONSOLE' "$work/chrome.log"; then bad "console messages: $(grep CONSOLE "$work/chrome.log" | head -3)"
    else ok "no console message or script error"; fi
    browse --screenshot="$work/shot.png" --window-size=390,2200 >/dev/null 2>&1 # a phone's width
    if [ -s "$work/shot.png" ] && $py - "$work/shot.png" <<'PY'
import sys
from PIL import Image, ImageStat
im = Image.open(sys.argv[1]).convert("RGB")
colors = im.getcolors(1 << 24)
std = ImageStat.Stat(im.convert("L")).stddev[0]
print(f"  screenshot {im.size[0]}x{im.size[1]}: {len(colors)} colours, stddev {std:.1f}")
sys.exit(0 if len(colors) > 100 and std > 10 else 1)
PY
    then ok "the screenshot at a phone's width is not blank"; else bad "blank or missing screenshot"; fi
fi

# ---- training.gif: one frame per sample grid ----
if $py - "$run/training.gif" "$ngrids" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1])
print(f"  training.gif: {im.n_frames} frames of {im.size[0]}x{im.size[1]}, loop {im.info.get('loop')}")
sys.exit(0 if im.format == "GIF" and im.n_frames == int(sys.argv[2]) and im.info.get("loop") == 0 else 1)
PY
then ok "training.gif animates all $ngrids sample grids, looping"; else bad "training.gif"; fi

# ---- interp: endpoints are the sample images of the two seeds, bit for bit ----
"$bin" interp --checkpoint "$run" --steps 7 --rows 3 --seed 11 --to 12 --slerp --out "$work/walk.png" --gif "$work/walk.gif" \
    --raw "$work/walk.npy" --threads 2 >/dev/null &&
"$bin" sample --checkpoint "$run" -n 3 --seed 11 --raw "$work/a.npy" --threads 2 >/dev/null &&
"$bin" sample --checkpoint "$run" -n 3 --seed 12 --raw "$work/b.npy" --threads 2 >/dev/null
if $py - "$work" <<'PY'
import sys
w = sys.argv[1]
def images(p, n):
    d = open(p, "rb").read()
    body = d[128:]
    per = len(body) // n
    return [body[i * per:(i + 1) * per] for i in range(n)]
walk, a, b = images(w + "/walk.npy", 21), images(w + "/a.npy", 3), images(w + "/b.npy", 3)
bad = [r for r in range(3) if walk[r * 7] != a[r] or walk[r * 7 + 6] != b[r]]
middle_differs = all(walk[r * 7 + 3] not in (a[r], b[r]) for r in range(3))
print(f"  rows whose endpoints differ from dcgan sample: {bad}; middles differ from both ends: {middle_differs}")
sys.exit(0 if not bad and middle_differs else 1)
PY
then ok "interp endpoints equal dcgan sample's images for the same seeds (3 rows, slerp)"; else bad "interp endpoints"; fi
if $py - "$work/walk.png" "$work/walk.gif" <<'PY'
import sys
from PIL import Image
png, gif = Image.open(sys.argv[1]), Image.open(sys.argv[2])
ok = png.size == (7 * 34 + 2, 3 * 34 + 2) and gif.n_frames == 12
print(f"  walk.png {png.size}, walk.gif {gif.n_frames} frames")
sys.exit(0 if ok else 1)
PY
then ok "interp writes a 3 x 7 grid and a there-and-back GIF"; else bad "interp outputs"; fi

# ---- arith ----
out=$("$bin" arith --checkpoint "$run" --seed 5 -a 1,2,3 -b 4,5 -c 6 --out "$work/arith.png" --threads 2)
if [ $? -eq 0 ] && $py -c "
import sys
from PIL import Image
sys.exit(0 if Image.open('$work/arith.png').size == (8 * 34 + 2, 4 * 34 + 2) else 1)"; then
    ok "arith writes rows A, B, C and the result with 7 variants: $out"
else bad "arith: $out"; fi
expect_fail "an arith index outside the grid" "outside the grid" arith --checkpoint "$run" -a 1 -b 99 -c 2 --out "$work/x.png"
expect_fail "a malformed arith list" "not a list of indices" arith --checkpoint "$run" -a 1,x -b 2 -c 3 --out "$work/x.png"
expect_fail "interp with nowhere to write" "say where" interp --checkpoint "$run"

# ---- report rebuilds the page from the folder ----
rm "$run/index.html" "$run/training.gif"
if "$bin" report --run "$run" >/dev/null && [ -s "$run/index.html" ] && [ -s "$run/training.gif" ]; then
    ok "dcgan report rebuilds index.html and training.gif"
else bad "dcgan report"; fi
expect_fail "report on a folder that is not a run" "no losses.csv" report --run "$work/idx"

# ---- training health (src/train/health.h): a healthy short run, then the same folder made to fail ----
if grep -q '<h2 id="health">Training health' "$run/index.html" && grep -q 'wins</b>.*not seen (the run is shorter than one window)' "$run/index.html" &&
   ! grep -q 'class="warn"' "$run/index.html"; then
    ok "the report's training health: D's win not seen in 24 iterations, no warning"
else bad "training health of the short run: $(grep -A2 "<h2 id=\"health\">" "$run/index.html" | cut -c1-400)"; fi
sick="$work/sick"
cp -r "$run" "$sick"
# 300 iterations whose last 250 have D sure of everything, and at step 300 a grid of 64 copies of
# the first real image
if $py - "$sick" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
with open(d + "/losses.csv") as f:
    header = f.readline()
with open(d + "/losses.csv", "w") as f:
    f.write(header)
    for s in range(1, 301):
        dl, dgz = (0.004, 0.002) if s > 50 else (1.3, 0.45)
        f.write(f"{s},0,{dl / 2},{dl / 2},{dl},7.5,0.998,{dgz},100.0,{s / 10}\n")
real = Image.open(d + "/real_samples.png")
tile = real.crop((2, 2, 34, 34))
grid = Image.new(real.mode, real.size, 40 if real.mode == "L" else (40, 40, 40))
for i in range(64):
    grid.paste(tile, (2 + i % 8 * 34, 2 + i // 8 * 34))
grid.save(d + "/samples_00000300.png")
PY
then
    "$bin" report --run "$sick" >/dev/null
    if grep -q 'class="warn"' "$sick/index.html" &&
       grep -q 'wins</b>.*<b>yes</b>, at steps 243-300; at step 300 the last 200 iterations. mean d_loss is 0.0040 and D(G(z)) 0.0020' "$sick/index.html" &&
       grep -q 'look alike</b>.*<b>yes</b>: at step 300 the samples. spread is 0.000 of the real images' "$sick/index.html"; then
        ok "the report of a failed run warns at the top, and says D won from step 243 (the first window with 7 or fewer of the healthy rows) and the samples are alike"
    else bad "training health of the failed run: $(grep -A2 "<h2 id=\"health\">" "$sick/index.html" | cut -c1-400)"; fi
else bad "could not make the failed run's files"; fi
# the trainer says so as it happens: 200 iterations, their losses made D's win, one more resumed
"$bin" train --data "$work/idx" --gf 4 --df 4 --batch 16 --threads 2 --out "$work/long" --steps 200 --sample-every 0 \
    --no-tensorboard > "$work/long.log" 2>&1 || bad "the 200-iteration run failed: $(tail -2 "$work/long.log")"
grep -q "discriminator wins" "$work/long.log" && bad "a healthy run warned: $(grep wins "$work/long.log")" ||
    ok "no warning in a healthy 200-iteration run"
$py - "$work/long/losses.csv" <<'PY'
import sys
rows = open(sys.argv[1]).read().splitlines()
out = [rows[0]]
for r in rows[1:]:
    f = r.split(",")
    f[2], f[3], f[4], f[7] = "0.0005", "0.0005", "0.001", "0.001"
    out.append(",".join(f))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
"$bin" train --resume "$work/long" --steps 201 --threads 2 > "$work/resume.log" 2>&1
line=$(grep "discriminator wins" "$work/resume.log")
if [ $? -eq 0 ] && echo "$line" | grep -q "^dcgan: warning: at step 201 the discriminator wins (mean d_loss 0.0"; then
    ok "the trainer warns once D has won for 200 iterations: $line"
else bad "no warning from the resumed run: $(tail -3 "$work/resume.log")"; fi
"$bin" train --resume "$work/long" --steps 202 --threads 2 --quiet > "$work/quiet.log" 2>&1
[ -s "$work/quiet.log" ] && bad "--quiet printed: $(head -2 "$work/quiet.log")" || ok "--quiet keeps the warning to the report"

summary test_report
