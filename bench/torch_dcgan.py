#!/usr/bin/env python3
"""PyTorch twin of `dcgan bench`: the same architectures, schedule and synthetic data, timed the same way.

Run with Debian's PyTorch (/usr/bin/python3) on the CPU, or any PyTorch with --device cuda (then
cudnn.benchmark and TF32 are on, as PyTorch users run it; --compile MODE wraps G and D in
torch.compile). Prints one line with images_per_s and peak_rss_mb.
The models are built the idiomatic pytorch/examples way (nn.Sequential, in-place activations),
from the same layer tables as src/models/model.c; the step is the one in the PyTorch example
(fake batch reused by the first G step; extra G steps re-run G on the same z).
"""
import argparse
import os
import resource
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from make_fixtures import tables  # noqa: E402  (the layer tables shared with the C fixtures)


class View(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def build(table):
    mods = []
    for (kind, cin, hin, cout, hout, k, s, p, bias, bn, act) in table:
        if kind == "linear":
            mods += [nn.Flatten(), nn.Linear(cin * hin * hin, cout * hout * hout, bias=bias), View(cout, hout, hout)]
        elif kind == "conv":
            mods.append(nn.Conv2d(cin, cout, k, s, p, bias=bias))
        else:
            mods.append(nn.ConvTranspose2d(cin, cout, k, s, p, output_padding=1 if (k == 5 and s == 2) else 0, bias=bias))
        if bn:
            mods.append(nn.BatchNorm2d(cout))
        mods.append({"relu": nn.ReLU(True), "lrelu": nn.LeakyReLU(0.2, True), "tanh": nn.Tanh(),
                     "none": nn.Identity()}[act])
    return nn.Sequential(*mods)


def init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def make_gan(arch, size, channels, nz, gf, df, device="cpu"):
    """G and D from the shared layer tables with DCGAN init, their Adam optimizers (2e-4, beta1 0.5)
    and the loss."""
    gt, dt = tables(arch, size, channels, nz, gf, df)
    G, D = build(gt), build(dt)
    G.apply(init)
    D.apply(init)
    G, D = G.to(device), D.to(device)
    oG = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    oD = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    return G, D, oG, oD, nn.BCEWithLogitsLoss()


def gan_step(G, D, oG, oD, bce, real, z, g_steps):
    """One iteration of the PyTorch example: a D step on real and fake, then g_steps G steps (the first
    reuses the fake batch). Returns (d_loss, g_loss)."""
    ones = torch.ones(real.shape[0], device=real.device)
    zeros = torch.zeros(real.shape[0], device=real.device)
    fake = G(z)
    oD.zero_grad(set_to_none=True)
    err_real = bce(D(real).view(-1), ones)
    err_real.backward()
    err_fake = bce(D(fake.detach()).view(-1), zeros)
    err_fake.backward()
    oD.step()
    for k in range(g_steps):
        if k > 0:
            fake = G(z)
        oG.zero_grad(set_to_none=True)
        err_g = bce(D(fake).view(-1), ones)
        err_g.backward()
        oG.step()
    return err_real + err_fake, err_g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="dcgan")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--nz", type=int, default=100)
    ap.add_argument("--gf", type=int, default=64)
    ap.add_argument("--df", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--g-steps", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compile", default="", help="torch.compile mode for G and D, e.g. reduce-overhead")
    ap.add_argument("--autocast", default="", choices=["", "bf16"], help="bf16: the steps under torch.autocast(bfloat16)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    r = bench(a.arch, a.size, a.channels, a.nz, a.gf, a.df, a.batch, a.g_steps, a.steps, a.warmup, a.device, a.compile,
              a.autocast)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("torch=%s arch=%s size=%d channels=%d batch=%d g_steps=%d steps=%d threads=%d device=%s mode=%s autocast=%s step_ms=%.3f "
          "images_per_s=%.2f peak_rss_mb=%.1f peak_gpu_mb=%.1f d_loss=%.4f g_loss=%.4f"
          % (torch.__version__, a.arch, a.size, a.channels, a.batch, a.g_steps, a.steps, a.threads, a.device,
             a.compile or "eager", a.autocast or "off", r["step_ms"], r["images_per_s"], rss, r["peak_gpu_mb"], r["d_loss"], r["g_loss"]),
          flush=True)


def bench(arch, size, channels, nz, gf, df, B, g_steps, steps, warmup, device="cpu", compile_mode="", autocast=""):
    """Times `steps` training iterations after `warmup` untimed ones (synchronizing the GPU around the
    timed loop only, as a training loop that logs every N steps would). autocast="bf16" runs each
    step under torch.autocast with bfloat16 (mixed precision: convolutions and matrix products in
    bf16, the loss in fp32, the weights and Adam's state fp32)."""
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(1)
    G, D, oG, oD, bce = make_gan(arch, size, channels, nz, gf, df, device)
    if compile_mode:
        G, D = torch.compile(G, mode=compile_mode), torch.compile(D, mode=compile_mode)
    real = torch.randn(B, channels, size, size, device=device).tanh()

    def step():
        if compile_mode and cuda:
            torch.compiler.cudagraph_mark_step_begin()
        z = torch.randn(B, nz, device=device)
        zin = z.view(B, nz, 1, 1) if arch == "dcgan" else z
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
            return gan_step(G, D, oG, oD, bce, real, zin, g_steps)

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        d, g = step()
    if cuda:
        torch.cuda.synchronize()
    dt_ = time.perf_counter() - t0
    return {"step_ms": 1000 * dt_ / steps, "images_per_s": B * steps / dt_, "d_loss": d.item(), "g_loss": g.item(),
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 1e6 if cuda else 0.0}


if __name__ == "__main__":
    main()
