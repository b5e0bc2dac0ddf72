"""Training throughput of cltrain against PyTorch, measured one after the other in this session:
`cltrain bench train` then ../shared/reference/pytorch_speed.py, per model, and their ratio.

usage: /opt/torch/bin/python scripts/speed_compare.py [MODEL ...] [--batch 64] [--steps 20] [--device cpu]
  (default models: densenet-bc-100 densenet-bc-40 drn-c-26; --device cuda runs PyTorch on the
   GPU and cltrain with --device opencl)
Prints a Markdown table: GFLOP/image, cltrain img/s, PyTorch img/s, ratio. Build cltrain first
(swift build -c release); nothing else should run on the machine meanwhile.
"""
import argparse, json, os, re, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("models", nargs="*", default=["densenet-bc-100", "densenet-bc-40", "drn-c-26"])
p.add_argument("--batch", type=int, default=64)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
p.add_argument("--cltrain", default=os.path.join(here, "..", ".build", "release", "cltrain"))
p.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference"))
a = p.parse_args()

print(f"| model | batch | GFLOP/image | cltrain img/s | PyTorch img/s | ratio |")
print("|---|---|---|---|---|---|")
for model in a.models:
    report = json.loads(subprocess.run(
        [a.cltrain, "bench", "train", "--model", model, "--batch-size", str(a.batch), "--steps", str(a.steps),
         "--device", "opencl" if a.device == "cuda" else "cpu", "--json"], check=True, capture_output=True, text=True).stdout)
    line = subprocess.run([sys.executable, os.path.join(a.reference, "pytorch_speed.py"), model, "--batch", str(a.batch),
                           "--steps", str(a.steps), "--device", a.device], check=True, capture_output=True, text=True).stdout
    torch_rate = float(re.search(r"img_per_s=([0-9.]+)", line).group(1))
    ours = report["imagesPerSecond"]
    print(f"| {model} | {a.batch} | {report['gflopPerImage']:.3f} | {ours:.1f} | {torch_rate:.1f} | {ours / torch_rate:.2f}x |",
          flush=True)
