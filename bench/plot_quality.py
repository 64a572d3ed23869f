#!/usr/bin/env python3
"""plot_quality.py TABLE OUT.png: draws bench/quality.sh's output (FID-LeNet per epoch for dcgan and
PyTorch, each seed a thin line, the mean a thick one) with Pillow (Debian's python3-pil)."""
import sys
from collections import defaultdict

from PIL import Image, ImageDraw

rows = defaultdict(dict)  # (impl, seed) -> {epoch: fid}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 5 and p[0] in ("dcgan", "pytorch"):
        rows[(p[0], int(p[1]))][int(p[2])] = float(p[3])
W, H, L, R, T, B = 720, 420, 70, 160, 40, 50
img = Image.new("RGB", (W, H), "white")
d = ImageDraw.Draw(img)
epochs = sorted({e for v in rows.values() for e in v})
fids = [f for v in rows.values() for f in v.values()]
ymax = max(fids) * 1.1
emin, emax = min(epochs), max(epochs)
def xy(e, f):
    x = L + (e - emin) / max(emax - emin, 1) * (W - L - R)
    return x, T + (1 - f / ymax) * (H - T - B)
for k in range(6):
    v = ymax * k / 5
    _, y = xy(emin, v)
    d.line([(L, y), (W - R, y)], fill=(225, 225, 225))
    d.text((8, y - 6), f"{v:.0f}", fill="black")
for e in epochs:
    x, _ = xy(e, 0)
    d.text((x - 3, H - B + 8), str(e), fill="black")
d.text((L + (W - L - R) // 2 - 20, H - 22), "epoch", fill="black")
d.text((L, 12), "FID-LeNet of 10000 samples (lower is better)", fill="black")
colors = {"dcgan": (20, 70, 200), "pytorch": (220, 90, 20)}
for impl, col in colors.items():
    seeds = [v for (i, _), v in rows.items() if i == impl]
    for v in seeds:
        pts = [xy(e, v[e]) for e in sorted(v)]
        if len(pts) > 1:
            d.line(pts, fill=tuple(c // 2 + 127 for c in col), width=1)
    mean = [xy(e, sum(v[e] for v in seeds if e in v) / len([v for v in seeds if e in v])) for e in epochs
            if any(e in v for v in seeds)]
    if len(mean) > 1:
        d.line(mean, fill=col, width=3)
    for p in mean:
        d.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=col)
    y = T + 20 + 20 * list(colors).index(impl)
    d.line([(W - R + 15, y), (W - R + 45, y)], fill=col, width=3)
    d.text((W - R + 52, y - 6), f"{impl} ({len(seeds)} seeds)", fill="black")
img.save(sys.argv[2])
