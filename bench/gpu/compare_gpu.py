#!/usr/bin/env python3
"""Side-by-side GPU benchmark: `dcgan bench --device cuda` against PyTorch on the same GPU, same
architecture, batch, schedule and synthetic data, alternating rounds in one run.

PyTorch runs as its users run it on a GPU: cudnn.benchmark on, TF32 on, eager, and for the
configurations named in --compile also torch.compile(mode="reduce-overhead") (CUDA graphs).
Prints a markdown table of medians and the speed ratios; --out FILE also writes it there.

usage: python3 bench/gpu/compare_gpu.py --dcgan ./dcgan [--rounds 2] [--configs dcgan64-b64,...]
       [--compile dcgan64-b64] [--variants tf32,bf16,fp32,nograph]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import torch  # noqa: E402
from torch_dcgan import bench as torch_bench  # noqa: E402

# name: (arch, size, channels, g_steps, batch, our steps, torch steps); targets from issue 4
CONFIGS = {
    "dcgan64-b64": ("dcgan", 64, 3, 1, 64, 600, 150),
    "dcgan64-b256": ("dcgan", 64, 3, 1, 256, 200, 60),
    "seed128-b64": ("seed", 128, 3, 2, 64, 200, 50),
    "mnist32-b64": ("dcgan", 32, 1, 1, 64, 600, 150),
    "seed64-b64": ("seed", 64, 3, 2, 64, 400, 100),
}
TARGETS = {"dcgan64-b64": (3.0, 2.5), "dcgan64-b256": (1.5, None), "seed128-b64": (2.0, None)}


def ours(dcgan, cfg, variant, algos=""):
    """images/s of dcgan bench; with algos (a folder), the convolution algorithms that this
    configuration's first run timed and chose are kept there and taken by its later runs"""
    arch, size, ch, gs, batch, steps, _ = CONFIGS[cfg]
    cmd = [dcgan, "bench", "--device", "cuda", "--arch", arch, "--size", str(size), "--channels", str(ch),
           "--g-steps", str(gs), "--batch", str(batch), "--steps", str(steps), "--warmup", "20"]
    if variant in ("tf32", "bf16", "fp32"):
        cmd += ["--precision", variant]
    elif variant == "nograph":
        cmd += ["--no-graph"]
    env = dict(os.environ)
    if algos:
        env["DCGAN_CUDA_ALGOS"] = os.path.join(os.path.abspath(algos), "algos-%s.txt" % cfg)
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if p.returncode != 0:
        print("FAILED: %s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr), flush=True)
        return None
    m = re.search(r"images_per_s=([0-9.]+)", p.stdout)
    return float(m.group(1)) if m else None


def theirs(cfg, mode=""):
    arch, size, ch, gs, batch, _, steps = CONFIGS[cfg]
    try:
        r = torch_bench(arch, size, ch, 100, 64, 64, batch, gs, steps, 10 if not mode else 15, "cuda", mode)
        return r["images_per_s"]
    except Exception as e:  # a compile failure is reported, not fatal
        print("FAILED: torch %s %s: %s" % (cfg, mode or "eager", e), flush=True)
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, batch):
    return "-" if x is None else "%.0f (%.2f ms)" % (x, 1000.0 * batch / x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dcgan", default=os.path.join(ROOT, "dcgan"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", default="dcgan64-b64,dcgan64-b256,seed128-b64,mnist32-b64")
    ap.add_argument("--compile", default="dcgan64-b64")
    ap.add_argument("--variants", default="tf32,bf16,nograph")
    ap.add_argument("--out", default="")
    ap.add_argument("--algos", default="", help="folder where each configuration keeps the algorithms its first "
                    "run chose (DCGAN_CUDA_ALGOS), so that later rounds skip the search")
    ap.add_argument("--budget", type=float, default=0, help="seconds this run may take (0: no limit): a round "
                    "after the first starts only if one more round as long as the slowest so far still fits")
    a = ap.parse_args()
    gpu = torch.cuda.get_device_name(0)
    configs = a.configs.split(",")
    variants = a.variants.split(",")
    res = {c: {v: [] for v in variants + ["eager", "compile"]} for c in configs}
    t0 = time.time()
    rounds_run, slowest = 0, 0.0

    def compile_runs():
        for c in a.compile.split(","):
            if c and c in res:
                res[c]["compile"].append(theirs(c, "reduce-overhead"))
                print("%s torch.compile reduce-overhead: %s  (%.0f s)" % (c, res[c]["compile"][-1], time.time() - t0),
                      flush=True)

    for r in range(a.rounds):
        if r > 0 and a.budget > 0 and time.time() - t0 + slowest > a.budget:
            print("round %d left out: %.0f s of the %.0f s budget used, a round takes up to %.0f s" % (
                r + 1, time.time() - t0, a.budget, slowest), flush=True)
            break
        tr = time.time()
        for c in configs:
            for v in variants:
                res[c][v].append(ours(a.dcgan, c, v, a.algos))
            res[c]["eager"].append(theirs(c))
            print("round %d %s: %s, torch eager %s  (%.0f s)" % (
                r + 1, c, ", ".join("%s %s" % (v, res[c][v][-1]) for v in variants), res[c]["eager"][-1],
                time.time() - t0), flush=True)
        rounds_run += 1
        slowest = max(slowest, time.time() - tr)
        if r == 0:  # torch.compile once, after the first round: the later rounds are what the budget cuts
            compile_runs()
    lines = ["GPU: %s; PyTorch %s (cuDNN %s), cudnn.benchmark on, TF32 on; images/s (ms per iteration), %s"
             % (gpu, torch.__version__, torch.backends.cudnn.version(),
                "one round" if rounds_run == 1 else "median of %d rounds" % rounds_run), "",
             "| config | batch | " + " | ".join("dcgan %s" % v for v in variants) +
             " | PyTorch eager | torch.compile reduce-overhead | dcgan %s / eager | dcgan %s / compile | target |" % (variants[0], variants[0]),
             "|---|---|" + "---|" * (len(variants) + 5)]
    for c in configs:
        batch = CONFIGS[c][4]
        m = {k: med(v) for k, v in res[c].items()}
        o = m[variants[0]]
        rat_e = "%.2fx" % (o / m["eager"]) if o and m["eager"] else "-"
        rat_c = "%.2fx" % (o / m["compile"]) if o and m["compile"] else "-"
        tg = TARGETS.get(c)
        tgs = "-" if not tg else ">= %.1fx eager%s" % (tg[0], "" if tg[1] is None else ", >= %.1fx compile" % tg[1])
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
            c.split("-")[0], batch, " | ".join(fmt(m[v], batch) for v in variants), fmt(m["eager"], batch),
            fmt(m["compile"], batch), rat_e, rat_c, tgs))
    text = "\n".join(lines)
    print()
    print(text, flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
