#!/usr/bin/env python3
"""Side-by-side CPU benchmark: `dcgan bench` against PyTorch (bench/torch_dcgan.py), same
architecture, batch, schedule, synthetic data and thread count, alternating runs in one process so
that both see the same machine state. Prints a table of medians and the speed and memory ratios.

usage: /usr/bin/python3 bench/compare_cpu.py [--rounds 3] [--threads 2] [--configs mnist32,dcgan64,seed64,seed128] [--bf16]

PyTorch uses Debian's python3-torch with OpenBLAS as its BLAS. Debian installs OpenBLAS in a
pthread and an OpenMP flavour; PyTorch is run with each that is installed and the faster one is
kept, so that the comparison is against PyTorch at its best on this machine.

--bf16 adds, in the same rounds, `dcgan bench --precision bf16` (oneDNN's convolutions in bf16) and
PyTorch under torch.autocast(bfloat16), and a second table for them.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIGS = {  # name: (arch, size, channels, g_steps, steps)
    "mnist32": ("dcgan", 32, 1, 1, 10),
    "dcgan64": ("dcgan", 64, 3, 1, 4),
    "seed64": ("seed", 64, 3, 2, 3),
    "seed128": ("seed", 128, 3, 2, 2),
}
BLAS_DIRS = ["/usr/lib/x86_64-linux-gnu/openblas-pthread", "/usr/lib/x86_64-linux-gnu/openblas-openmp"]


def parse(out):
    ips = float(re.search(r"images_per_s=([0-9.]+)", out).group(1))
    rss = float(re.search(r"peak_rss_mb=([0-9.]+)", out).group(1))
    g = re.search(r"gflops=([0-9.]+)", out)
    return ips, rss, float(g.group(1)) if g else 0.0


def blas_env(d):
    """The environment that makes PyTorch load the OpenBLAS of folder d (None: the system's)."""
    env = dict(os.environ)
    if d:
        env["LD_LIBRARY_PATH"] = d
    return env


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    return parse(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--configs", default="mnist32,dcgan64,seed64,seed128")
    ap.add_argument("--dcgan", default=os.path.join(ROOT, "dcgan"))
    ap.add_argument("--bf16", action="store_true", help="also bf16: ours with --precision bf16, PyTorch under autocast")
    a = ap.parse_args()
    blas = [d for d in BLAS_DIRS if os.path.isdir(d)] or [None]
    rows = []
    rows16 = []
    peaks = []
    for name in a.configs.split(","):
        arch, size, ch, gs, steps = CONFIGS[name]
        common = ["--arch", arch, "--size", str(size), "--channels", str(ch), "--g-steps", str(gs),
                  "--batch", str(a.batch), "--threads", str(a.threads), "--steps", str(steps), "--warmup", "1"]
        ours, theirs = [], {d: [] for d in blas}
        ours16, theirs16 = [], []
        for r in range(a.rounds):
            p = subprocess.run([a.dcgan, "bench", "--sgemm", "2048", "--threads", str(a.threads)], capture_output=True,
                               text=True, cwd=ROOT)
            peaks.append(float(re.search(r"gflops=([0-9.]+)", p.stdout).group(1)))
            ours.append(run([a.dcgan, "bench"] + common))
            for d in blas:
                theirs[d].append(run(["/usr/bin/python3", os.path.join(HERE, "torch_dcgan.py")] + common, blas_env(d)))
            print("  %s round %d: dcgan %.1f img/s, torch %s" % (
                name, r + 1, ours[-1][0], ", ".join("%.1f (%s)" % (theirs[d][-1][0], os.path.basename(d or "default"))
                                                      for d in blas)), flush=True)
            if a.bf16:
                ours16.append(run([a.dcgan, "bench", "--precision", "bf16"] + common))
                theirs16.append(run(["/usr/bin/python3", os.path.join(HERE, "torch_dcgan.py"), "--autocast", "bf16"] + common,
                                    blas_env(blas[-1])))
                print("  %s round %d, bf16: dcgan %.1f img/s, torch autocast %.1f" % (name, r + 1, ours16[-1][0],
                                                                                     theirs16[-1][0]), flush=True)
        best = max(blas, key=lambda d: statistics.median(x[0] for x in theirs[d]))
        o_ips = statistics.median(x[0] for x in ours)
        t_ips = statistics.median(x[0] for x in theirs[best])
        o_rss = max(x[1] for x in ours)
        t_rss = max(x[1] for x in theirs[best])
        o_gf = statistics.median(x[2] for x in ours)
        worst = min(blas, key=lambda d: statistics.median(x[0] for x in theirs[d]))
        w_ips = statistics.median(x[0] for x in theirs[worst])
        rows.append((name, o_ips, t_ips, o_rss, t_rss, os.path.basename(best or "default"), o_gf, w_ips,
                     os.path.basename(worst or "default")))
        if a.bf16:
            rows16.append((name, statistics.median(x[0] for x in ours16), statistics.median(x[0] for x in theirs16),
                           t_ips, o_ips, statistics.median(x[2] for x in ours16)))
    peak = statistics.median(peaks)
    print()
    print("| config | dcgan images/s | PyTorch images/s (best BLAS) | speed ratio | PyTorch, other BLAS | dcgan GFLOP/s (of sgemm peak) | dcgan peak RSS MB | PyTorch peak RSS MB | memory ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, oi, ti, orss, trss, b, gf, wi, wb) in rows:
        other = "%.1f (%s): %.2fx" % (wi, wb, oi / wi) if len(blas) > 1 else "- (one OpenBLAS installed)"
        print("| %s | %.1f | %.1f (%s) | %.2fx | %s | %.0f (%.0f%%) | %.0f | %.0f | %.2f |" % (
            name, oi, ti, b, oi / ti, other, gf, 100 * gf / peak, orss, trss, orss / trss))
    print()
    print("OpenBLAS sgemm 2048^3 with %d threads on this machine: %.1f GFLOP/s (median of the rounds)" % (a.threads, peak))
    if rows16:
        print()
        print("| config | dcgan bf16 images/s | PyTorch autocast bf16 images/s | bf16 ratio | dcgan bf16 / PyTorch fp32 (best BLAS) | dcgan bf16 / dcgan fp32 | dcgan bf16 GFLOP/s |")
        print("|---|---|---|---|---|---|---|")
        for (name, o16, t16, t32, o32, gf16) in rows16:
            print("| %s | %.1f | %.1f | %.2fx | %.2fx | %.2fx | %.0f |" % (name, o16, t16, o16 / t16, o16 / t32, o16 / o32, gf16))


if __name__ == "__main__":
    main()
