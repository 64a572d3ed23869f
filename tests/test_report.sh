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
    want=$((ngrids + 7 + 1)) # the grids, 7 plots, the real grid
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

summary test_report
