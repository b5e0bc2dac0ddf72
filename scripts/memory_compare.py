"""Peak training memory of DenseNet-BC in cltrain against PyTorch's DenseNet, which concatenates
with torch.cat in every layer (torchvision's DenseNet with memory_efficient=False), measured the
same way for both: the growth of the process's resident memory (Linux VmHWM, reset through
/proc/self/clear_refs) over one training step at batch 64, from a fresh process each time.

usage: /opt/torch/bin/python scripts/memory_compare.py [--cltrain .build/release/cltrain] [--batch 64]
Prints a table: cltrain's pool peak (live tensor bytes) and resident growth, PyTorch's resident
growth, their ratio, and the growth from DenseNet-BC-100 to DenseNet-BC-250 (k = 12; 2.56x
the layers): linear memory grows about 2.6x, memory quadratic in depth about 6x.
"""
import argparse, json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--cltrain", default=os.path.join(here, "..", ".build", "release", "cltrain"))
p.add_argument("--batch", type=int, default=64)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference"))
p.add_argument("--torch-child", nargs=1, metavar="DEPTH", help=argparse.SUPPRESS)
a = p.parse_args()


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


if a.torch_child:
    # One PyTorch step in this fresh process; print the resident growth in bytes.
    import gc
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, a.reference)
    from torch_models import densenet_bc
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = densenet_bc(depth=int(a.torch_child[0]), k=12, in_ch=1, classes=10)
    x = torch.randn(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    print(status("VmHWM") - before)
    sys.exit(0)


def mib(b):
    return f"{b / 2**20:.0f} MiB"


rows = []
for depth in (100, 250):
    name = f"densenet-bc-{depth}" if depth == 100 else f"densenet-bc-{depth}-k12"
    out = subprocess.run([a.cltrain, "bench", "train", "--model", name, "--batch-size", str(a.batch), "--steps", "1",
                          "--device", "cpu", "--json"], check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    torch_bytes = int(subprocess.run([sys.executable, __file__, "--torch-child", str(depth), "--batch", str(a.batch),
                                      "--threads", str(a.threads), "--reference", a.reference],
                                     check=True, capture_output=True, text=True).stdout.strip())
    rows.append((name, report["peakBytes"], report["firstStepResidentBytes"], torch_bytes))

print(f"batch {a.batch}, 28x28x1, one SGD step; resident growth = VmHWM - VmRSS before the step")
print("| model | cltrain pool peak | cltrain resident growth | PyTorch torch.cat resident growth | cltrain / PyTorch |")
print("|---|---|---|---|---|")
for name, peak, resident, torch_bytes in rows:
    print(f"| {name} | {mib(peak)} | {mib(resident)} | {mib(torch_bytes)} | {resident / torch_bytes:.2f} |")
(_, p100, r100, t100), (_, p250, r250, t250) = rows
print(f"BC-250 / BC-100 (2.56x the layers): cltrain pool peak {p250 / p100:.2f}x, cltrain resident {r250 / r100:.2f}x, "
      f"PyTorch {t250 / t100:.2f}x")
