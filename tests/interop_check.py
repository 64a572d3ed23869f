"""interop_check.py: the PyTorch / ONNX side of tests/test_interop.sh.

  interop_check.py torch-sample G.safetensors Z.npy OUT.npy   PyTorch's pytorch/examples-style
        Generator loads the state_dict strictly and writes its eval-mode images for z
  interop_check.py torch-make G.safetensors Z.npy OUT.npy NZ GF NC SIZE   makes a random Generator
        (random running statistics too), saves it with safetensors.torch and writes its images
  interop_check.py onnx MODEL.onnx Z.npy OUT.npy               onnxruntime's images for z
  interop_check.py compare A.npy B.npy TOL                     max |a - b| <= TOL, else exit 1
  interop_check.py st-equal A.safetensors B.safetensors         the same float tensors, bit for bit
  interop_check.py st-close A.safetensors B.safetensors TOL      every float tensor within TOL relative
        (||a - b|| / ||b||)
  interop_check.py ckpt-close A.dcgan B.dcgan TOL GP DP GB DB PARTS   blocks of two dcgan checkpoints
        (PARTS: comma-separated of Gp Gm Gv Gbuf Dp Dm Dv Dbuf: parameters, Adam m and v, batch-norm
        buffers; sizes GP DP GB DB from `dcgan info`) within TOL relative
  interop_check.py tensorboard DIR STEPS GRIDS                  tensorboard's reader finds the 7 scalars
        at every step and the sample grids as images; every record's masked CRC-32C is right
"""
import sys

import numpy as np


def generator(nz, gf, nc, size):
    """pytorch/examples' DCGAN Generator, for any size 4 * 2^k (64 gives the example's own)."""
    import torch.nn as nn
    ch, s, layers = gf * (size // 8), 4, [nn.ConvTranspose2d(nz, gf * (size // 8), 4, 1, 0, bias=False),
                                           nn.BatchNorm2d(gf * (size // 8)), nn.ReLU(True)]
    while s * 2 < size:
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch, s = ch // 2, s * 2
    layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
    g = nn.Module()
    g.main = nn.Sequential(*layers)
    g.forward = lambda x: g.main(x)
    return g


def torch_images(g, z):
    import torch
    g.eval()
    with torch.no_grad():
        return g(torch.from_numpy(z).reshape(z.shape[0], z.shape[1], 1, 1)).numpy()


def crc32c(data):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 255] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def tensorboard(run, steps, grids):
    import glob
    import struct
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    files = glob.glob(run + "/events.out.tfevents.*")
    records = 0
    for path in files:  # the framing, independently of tensorboard's reader
        data = open(path, "rb").read()
        at = 0
        while at < len(data):
            (n,) = struct.unpack_from("<Q", data, at)
            (lc,) = struct.unpack_from("<I", data, at + 8)
            rec = data[at + 12:at + 12 + n]
            (dc,) = struct.unpack_from("<I", data, at + 12 + n)
            mask = lambda c: (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
            if mask(crc32c(data[at:at + 8])) != lc or mask(crc32c(rec)) != dc:
                sys.exit(f"  bad CRC in record {records} of {path}")
            at += 16 + n
            records += 1
    ea = EventAccumulator(run, size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    tags = ea.Tags()
    want = ["d_loss_real", "d_loss_fake", "d_loss", "g_loss", "d_x", "d_g_z", "images_per_s"]
    missing = [t for t in want if t not in tags["scalars"] or len(ea.Scalars(t)) != steps]
    images = ea.Images("samples") if "samples" in tags["images"] else []
    ok = files and not missing and len(images) == grids and all(i.width > 0 and i.encoded_image_string[:4] == b"\x89PNG" for i in images)
    print(f"  {len(files)} event file(s), {records} records with good CRCs; scalars {tags['scalars']}; "
          f"{len(images)} images; missing or short: {missing}")
    sys.exit(0 if ok else 1)


def main():
    cmd = sys.argv[1]
    if cmd == "torch-sample":
        import torch
        from safetensors.torch import load_file
        sd = load_file(sys.argv[2])
        w0, n = sd["main.0.weight"], 1
        while f"main.{3 * n}.weight" in sd:
            n += 1
        size = 4 << (n - 1)
        g = generator(w0.shape[0], w0.shape[1] // (size // 8), sd[f"main.{3 * (n - 1)}.weight"].shape[1], size)
        g.load_state_dict(sd, strict=True)  # every name and shape must match
        np.save(sys.argv[4], torch_images(g, np.load(sys.argv[3])))
    elif cmd == "torch-make":
        import torch
        from safetensors.torch import save_file
        nz, gf, nc, size = map(int, sys.argv[5:9])
        torch.manual_seed(7)
        g = generator(nz, gf, nc, size)
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                with torch.no_grad():
                    m.weight.normal_(1.0, 0.2); m.bias.normal_(0.0, 0.2)
                    m.running_mean.normal_(0.0, 0.5); m.running_var.uniform_(0.5, 2.0)
            elif isinstance(m, torch.nn.ConvTranspose2d):
                torch.nn.init.normal_(m.weight, 0.0, 0.05)
        save_file(g.state_dict(), sys.argv[2])  # the README's two lines
        np.save(sys.argv[4], torch_images(g, np.load(sys.argv[3])))
    elif cmd == "onnx":
        import onnx
        import onnxruntime as ort
        onnx.checker.check_model(onnx.load(sys.argv[2]))
        sess = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
        np.save(sys.argv[4], sess.run(["images"], {"z": np.load(sys.argv[3])})[0])
    elif cmd == "compare":
        a, b, tol = np.load(sys.argv[2]), np.load(sys.argv[3]), float(sys.argv[4])
        if a.shape != b.shape:
            print(f"  shapes differ: {a.shape} vs {b.shape}")
            sys.exit(1)
        d = np.abs(a.astype(np.float64) - b)
        i = np.unravel_index(np.argmax(d), d.shape)
        print(f"  {a.shape}: max |difference| {d.max():.3g} at {tuple(int(x) for x in i)} (tolerance {tol:g})")
        sys.exit(0 if d.max() <= tol else 1)
    elif cmd == "st-equal":
        from safetensors.numpy import load_file
        a, b = load_file(sys.argv[2]), load_file(sys.argv[3])
        fa = {k for k, v in a.items() if v.dtype == np.float32}
        fb = {k for k, v in b.items() if v.dtype == np.float32}
        bad = sorted(k for k in fa | fb if k not in fa or k not in fb or a[k].tobytes() != b[k].tobytes())
        print(f"  {len(fa)} float tensors; differing: {bad[:5]}")
        sys.exit(0 if not bad and fa else 1)
    elif cmd == "st-close":
        from safetensors.numpy import load_file
        a, b, tol = load_file(sys.argv[2]), load_file(sys.argv[3]), float(sys.argv[4])
        worst, name = 0.0, ""
        for k, v in b.items():
            if v.dtype != np.float32:
                continue
            x, y = a[k].astype(np.float64), v.astype(np.float64)
            rel = np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30)
            if rel > worst:
                worst, name = rel, k
        print(f"  worst relative difference {worst:.3g} in {name} (tolerance {tol:g})")
        sys.exit(0 if worst <= tol and set(a) == set(b) else 1)
    elif cmd == "ckpt-close":
        import struct
        tol = float(sys.argv[4])
        gp, dp, gb, db = map(int, sys.argv[5:9])
        names = ["Gp", "Gm", "Gv", "Gbuf", "Dp", "Dm", "Dv", "Dbuf"]
        sizes = [gp, gp, gp, gb, dp, dp, dp, db]

        def blocks(path):
            b = open(path, "rb").read()
            (hl,) = struct.unpack_from("<I", b, 12)
            flat = np.frombuffer(b, dtype=np.float32, count=sum(sizes), offset=16 + hl).astype(np.float64)
            return dict(zip(names, np.split(flat, np.cumsum(sizes)[:-1])))
        a, b = blocks(sys.argv[2]), blocks(sys.argv[3])
        rel = {k: np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(b[k]), 1e-30) for k in sys.argv[9].split(",")}
        print("  " + ", ".join(f"{k} {v:.2g}" for k, v in rel.items()) + f" (tolerance {tol:g})")
        sys.exit(0 if max(rel.values()) <= tol else 1)
    elif cmd == "tensorboard":
        tensorboard(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
