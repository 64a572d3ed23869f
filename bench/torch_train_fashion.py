#!/usr/bin/env python3
"""PyTorch side of bench/quality.sh: trains the `dcgan` architecture at 32x32 on Fashion-MNIST with
the schedule of pytorch/examples (Adam 2e-4, beta1 0.5, one D step then g_steps G steps, batch 64,
the last incomplete batch dropped), and after each epoch writes 10000 samples (batch norm in
inference mode, as `dcgan eval --checkpoint` samples) as an IDX file for `dcgan eval --images`.
Prints one line per epoch with the training wall time (sample writing excluded).
Run with Debian's PyTorch (/usr/bin/python3)."""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_dcgan import gan_step, make_gan  # noqa: E402


def load_fashion(path):
    raw = gzip.open(os.path.join(path, "train-images-idx3-ubyte.gz")).read()
    n, h, w = struct.unpack(">III", raw[4:16])
    x = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w).astype(np.float32))
    x = F.interpolate(x / 127.5 - 1.0, size=(32, 32), mode="bicubic", align_corners=False).clamp_(-1, 1)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--gf", type=int, default=32)
    ap.add_argument("--df", type=int, default=32)
    ap.add_argument("--g-steps", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only (a smoke test)")
    ap.add_argument("--out", required=True, help="folder for samples_epochN-images-idx3-ubyte")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    data = load_fashion(a.data)
    if a.limit:
        data = data[:a.limit]
    G, D, oG, oD, bce = make_gan("dcgan", 32, 1, 100, a.gf, a.df)
    B = 64
    fixed = torch.Generator().manual_seed(1000 + a.seed)
    train_s = 0.0
    for epoch in range(1, a.epochs + 1):
        G.train()
        D.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(data))
        for b in range(len(data) // B):
            real = data[perm[b * B:(b + 1) * B]]
            d_loss, g_loss = gan_step(G, D, oG, oD, bce, real, torch.randn(B, 100, 1, 1), a.g_steps)
        train_s += time.perf_counter() - t0
        G.eval()
        with torch.no_grad():
            imgs = torch.cat([G(torch.randn(500, 100, 1, 1, generator=fixed)) for _ in range(20)])
        u8 = ((imgs[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        path = os.path.join(a.out, f"samples_epoch{epoch}-images-idx3-ubyte")
        with open(path, "wb") as f:
            f.write(struct.pack(">IIII", 0x803, len(u8), 32, 32) + u8.tobytes())
        print(f"epoch={epoch} train_s={train_s:.1f} d_loss={d_loss.item():.4f} "
              f"g_loss={g_loss.item():.4f} samples={path}", flush=True)


if __name__ == "__main__":
    main()
