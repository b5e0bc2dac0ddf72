"""Training speed of cltrain's CPU backend against PyTorch at its best on this CPU.

For each model (and input size), one round runs, one after the other: `cltrain bench train`, then
PyTorch eager (NCHW), PyTorch with channels_last, and PyTorch with torch.compile (default mode,
NCHW), each in its own process, then `cltrain bench train` again: cltrain's value for the round is
the mean of the two, measured around PyTorch's (a shared machine's speed drifts over minutes, and
one cltrain run before PyTorch's three would take a slow or fast stretch alone). After all rounds it
prints the medians (img/s), the ratio of cltrain to PyTorch's eager mode and to PyTorch's best mode
(of the medians), the median of each round's own ratio to its best mode, and the issue's target
for the ratio.

usage: /work/venv/bin/python scripts/cpu_speed_vs_pytorch.py [MODEL[@SIZE] ...] [--rounds 3] [--steps 10]
         [--batch 64] [--threads 2] [--modes eager,channels_last,compile] [--cltrain PATH] [--json FILE]
  default models: densenet-bc-100@28 densenet-bc-40@28 drn-c-26@28 densenet-121@64 resnet-18@64
  (1 input channel, 10 classes, SGD Nesterov with weight decay, as `cltrain train`).

Build cltrain first (`swift build -c release --product cltrain`: the portable build users get) and
run nothing else on the machine meanwhile: its numbers are only meaningful as ratios measured in
the same run. PyTorch runs with as many threads as cltrain uses (--threads, default 2).
"""
import argparse, json, os, statistics, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODELS = ["densenet-bc-100@28", "densenet-bc-40@28", "drn-c-26@28", "densenet-121@64", "resnet-18@64"]
# Ratio to PyTorch's best mode that issue 17 asks for.
TARGETS = {"densenet-bc-100": 2.0, "densenet-bc-40": 1.6, "drn-c-26": 1.3, "densenet-121": 1.2, "resnet-18": 1.0}
MODES = ["eager", "channels_last", "compile"]


def resnet18(in_ch, classes):
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) with `in_ch` input channels: the network
    `cltrain`'s resnet-18 is, written here so that the script needs no torchvision."""
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    layers = [nn.Conv2d(in_ch, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


def torch_worker(a):
    """One PyTorch measurement in this process: prints `img_per_s=...`."""
    import importlib.util, torch, torch.nn.functional as F
    # torch_models imports torchvision, whose compiled ops may not match this torch: the converter
    # script's import_torchvision() imports it anyway (its models need none of those ops).
    spec = importlib.util.spec_from_file_location("converter", os.path.join(here, "torchvision-to-safetensors.py"))
    converter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(converter)
    converter.import_torchvision()
    sys.path.insert(0, a.reference)
    from torch_models import MODELS
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = resnet18(1, 10) if a.model == "resnet-18" else MODELS[a.model](in_ch=1, classes=10)
    x = torch.randn(a.batch, 1, a.size, a.size)
    y = torch.randint(0, 10, (a.batch,))
    if a.mode == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    forward = torch.compile(model) if a.mode == "compile" else model

    def step():
        opt.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        opt.step()

    started = time.perf_counter()
    for _ in range(3):  # warm-up (and, for compile, compilation)
        step()
    warm = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = (time.perf_counter() - started) / a.steps
    print(f"img_per_s={a.batch / seconds:.3f} warmup_s={warm:.1f}", flush=True)


def run_torch(a, model, size, mode):
    out = subprocess.run([sys.executable, __file__, "--torch-worker", "--model", model, "--size", str(size), "--mode", mode,
                          "--batch", str(a.batch), "--steps", str(a.steps), "--threads", str(a.threads),
                          "--reference", a.reference], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("img_per_s="):
            fields = dict(f.split("=") for f in line.split())
            return float(fields["img_per_s"]), float(fields["warmup_s"])
    tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
    print(f"  PyTorch {mode} on {model}@{size} failed: {tail}", file=sys.stderr, flush=True)
    return None, None


def run_cltrain(a, model, size):
    out = subprocess.run([a.cltrain, "bench", "train", "--model", model, "--size", str(size), "--batch-size", str(a.batch),
                          "--steps", str(a.steps), "--device", "cpu", "--tune", a.tune, "--json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"cltrain bench train --model {model} failed: {out.stderr.strip()}")
    report = json.loads(out.stdout)
    return report["imagesPerSecond"], report


def main():
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--tune", default="cached", help="cltrain's --tune (cached: the first round tunes, later ones reuse)")
    p.add_argument("--cltrain", default=os.path.join(here, "..", ".build", "release", "cltrain"))
    p.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference"))
    p.add_argument("--json", help="also write every measurement to this file")
    # The worker's own arguments.
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=28, help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.torch_worker:
        return torch_worker(a)
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            sys.exit(f"unknown PyTorch mode '{m}': use {', '.join(MODES)}")
    if not os.access(a.cltrain, os.X_OK):
        sys.exit(f"no cltrain at {a.cltrain}: build it with `swift build -c release --product cltrain` or pass --cltrain")
    problems = []
    for spec in a.models:
        name, _, size = spec.partition("@")
        problems.append((name, int(size) if size else 28))

    samples = {(name, size, who): [] for name, size in problems for who in ["cltrain"] + modes}
    ratios = {problem: [] for problem in problems}
    log = []
    for round_ in range(1, a.rounds + 1):
        for name, size in problems:
            before, report = run_cltrain(a, name, size)
            log.append({"round": round_, "model": name, "size": size, "who": "cltrain", "img_per_s": before,
                        "seconds_by_family": report.get("secondsByFamily")})
            line = [f"round {round_} {name}@{size}: cltrain {before:.1f}"]
            best = None
            for mode in modes:
                rate, warm = run_torch(a, name, size, mode)
                if rate is not None:
                    samples[(name, size, mode)].append(rate)
                    log.append({"round": round_, "model": name, "size": size, "who": mode, "img_per_s": rate, "warmup_s": warm})
                    line.append(f"{mode} {rate:.1f}")
                    best = rate if best is None else max(best, rate)
            after, report = run_cltrain(a, name, size)
            log.append({"round": round_, "model": name, "size": size, "who": "cltrain", "img_per_s": after,
                        "seconds_by_family": report.get("secondsByFamily")})
            ours = (before + after) / 2
            samples[(name, size, "cltrain")].append(ours)
            if best is not None:
                ratios[(name, size)].append(ours / best)
            line.append(f"cltrain again {after:.1f}")
            print(", ".join(line) + " img/s", file=sys.stderr, flush=True)

    median = lambda xs: statistics.median(xs) if xs else None
    fmt = lambda v: "-" if v is None else f"{v:.1f}"
    print(f"\nbatch {a.batch}, 1 input channel, {a.threads} threads, medians of {a.rounds} rounds (img/s):\n")
    print("| model | size | cltrain | " + " | ".join(f"PyTorch {m}" for m in modes) +
          " | vs eager | vs best | rounds' own ratios (median) | target |")
    print("|---|---|---|" + "---|" * len(modes) + "---|---|---|---|")
    for name, size in problems:
        ours = median(samples[(name, size, "cltrain")])
        theirs = {m: median(samples[(name, size, m)]) for m in modes}
        measured = {m: v for m, v in theirs.items() if v is not None}
        best_mode = max(measured, key=measured.get) if measured else None
        vs_eager = f"{ours / theirs['eager']:.2f}x" if theirs.get("eager") else "-"
        vs_best = f"{ours / measured[best_mode]:.2f}x ({best_mode})" if best_mode else "-"
        target = TARGETS.get(name)
        verdict = "-" if target is None or not best_mode else (
            f"{target:.1f}x {'met' if ours / measured[best_mode] >= target else 'not met'}")
        own = median(ratios[(name, size)])
        print(f"| {name} | {size} | {fmt(ours)} | " + " | ".join(fmt(theirs[m]) for m in modes) +
              f" | {vs_eager} | {vs_best} | {'-' if own is None else f'{own:.2f}x'} | {verdict} |", flush=True)
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(log, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
