#!/usr/bin/env bash
# d_ranking.sh: does keeping the samples D likes best help? (The original DCGAN code sorted its
# samples by D's score.) Samples 40000 images from a run's checkpoint, scores each with that
# checkpoint's D (PyTorch, from `dcgan export --net D`, batch norm on its running statistics), and
# scores with `dcgan eval` 10000 plain samples, the best 10000 of the first 20000 and of all 40000
# by D's logit, and the worst 10000 of the first 20000, all as 8-bit images.
# Needs the test virtualenv (tools/install-deps.sh --tests: torch and safetensors).
# usage: bench/d_ranking.sh RUN_DIR (a dcgan-family run, e.g. the README's runs/fashion)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: bench/d_ranking.sh RUN_DIR}
py=.venv-test/bin/python
[ -x "$py" ] || { echo "d_ranking.sh: no $py; run tools/install-deps.sh --tests" >&2; exit 1; }
out=$(mktemp -d /tmp/dcgan-d-ranking.XXXXXX)
trap 'rm -rf "$out"' EXIT
./dcgan sample --checkpoint "$run" -n 40000 --raw "$out/s.npy" --out "$out/png" >/dev/null
./dcgan export --checkpoint "$run" --net D --out "$out/d.safetensors" >/dev/null
cfg=$(./dcgan info --checkpoint "$run" | grep -o 'arch=.*' | head -1)
get() { printf '%s' "$cfg" | sed -nE "s/.*(^| )$1=([^ ]+).*/\2/p"; }
[ "$(get channels)" = 1 ] || { echo "d_ranking.sh: grey runs only (the ranked sets are written as IDX files)" >&2; exit 1; }
"$py" - "$out" "$(get arch)" "$(get size)" "$(get channels)" "$(get nz)" "$(get gf)" "$(get df)" <<'EOF'
import struct, sys
import numpy as np, torch
sys.path.insert(0, "bench"); sys.path.insert(0, "tests/fixtures")
from torch_dcgan import build
from make_fixtures import tables
from safetensors.torch import load_file
out, arch = sys.argv[1], sys.argv[2]
S, C, nz, gf, df = (int(v) for v in sys.argv[3:8])
_, dt = tables(arch, S, C, nz, gf, df)
D = build(dt)
state = {k[len("main."):] if k.startswith("main.") else k: v for k, v in load_file(out + "/d.safetensors").items()}
D.load_state_dict(state)
D.eval()
x = torch.from_numpy(np.load(out + "/s.npy"))
with torch.no_grad():
    logit = torch.cat([D(x[i:i + 1000]).reshape(-1) for i in range(0, len(x), 1000)])
print("D's logits on the 40000 samples: mean %.3f, sd %.3f" % (logit.mean(), logit.std()))
def idx(name, imgs):  # 8-bit, as dcgan eval --images reads them (grey: IDX; colour: not here)
    u = np.clip(np.round((imgs + 1) * 127.5), 0, 255).astype(np.uint8)
    with open(out + "/" + name, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(u), S, S) + u[:, 0].tobytes())
n = 10000
idx("plain", x[:n].numpy())
idx("best-of-20000", x[torch.argsort(logit[:2 * n], descending=True)[:n]].numpy())
idx("best-of-40000", x[torch.argsort(logit, descending=True)[:n]].numpy())
idx("worst-of-20000", x[torch.argsort(logit[:2 * n])[:n]].numpy())
EOF
printf '%-16s %s\n' samples "dcgan eval"
for s in plain best-of-20000 best-of-40000 worst-of-20000; do
    printf '%-16s %s\n' "$s" "$(./dcgan eval --images "$out/$s" --json | tail -1)"
done
