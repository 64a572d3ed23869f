#!/usr/bin/env python3
"""Side-by-side CPU benchmark: `dcgan bench` against PyTorch (bench/torch_dcgan.py), same
architecture, batch, schedule, synthetic data and thread count, alternating runs in one process so
that both see the same machine state. Prints a table of medians and the speed and memory ratios.

usage: /usr/bin/python3 bench/compare_cpu.py [--rounds 3] [--threads 2] [--configs mnist32,dcgan64,seed64,seed128]

PyTorch uses Debian's python3-torch with OpenBLAS as its BLAS. Debian installs OpenBLAS in a
pthread and an OpenMP flavour; PyTorch is run with each and the faster one is kept, so that the
comparison is against PyTorch at its best on this machine.
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
    return ips, rss


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
    a = ap.parse_args()
    blas = [d for d in BLAS_DIRS if os.path.isdir(d)] or [None]
    rows = []
    for name in a.configs.split(","):
        arch, size, ch, gs, steps = CONFIGS[name]
        common = ["--arch", arch, "--size", str(size), "--channels", str(ch), "--g-steps", str(gs),
                  "--batch", str(a.batch), "--threads", str(a.threads), "--steps", str(steps), "--warmup", "1"]
        ours, theirs = [], {d: [] for d in blas}
        for r in range(a.rounds):
            ours.append(run([a.dcgan, "bench"] + common))
            for d in blas:
                env = dict(os.environ)
                if d:
                    env["LD_LIBRARY_PATH"] = d
                theirs[d].append(run(["/usr/bin/python3", os.path.join(HERE, "torch_dcgan.py")] + common, env))
            print("  %s round %d: dcgan %.1f img/s, torch %s" % (
                name, r + 1, ours[-1][0], ", ".join("%.1f (%s)" % (theirs[d][-1][0], os.path.basename(d or "default"))
                                                      for d in blas)), flush=True)
        best = max(blas, key=lambda d: statistics.median(x[0] for x in theirs[d]))
        o_ips = statistics.median(x[0] for x in ours)
        t_ips = statistics.median(x[0] for x in theirs[best])
        o_rss = max(x[1] for x in ours)
        t_rss = max(x[1] for x in theirs[best])
        rows.append((name, o_ips, t_ips, o_rss, t_rss, os.path.basename(best or "default")))
    print()
    print("| config | dcgan images/s | PyTorch images/s | speed ratio | dcgan peak RSS MB | PyTorch peak RSS MB | memory ratio |")
    print("|---|---|---|---|---|---|---|")
    for (name, oi, ti, orss, trss, b) in rows:
        print("| %s | %.1f | %.1f (%s) | %.2fx | %.0f | %.0f | %.2f |" % (name, oi, ti, b, oi / ti, orss, trss, orss / trss))


if __name__ == "__main__":
    main()
