#!/usr/bin/env bash
# The whole GPU check of a bundle (see gpu-bundle.sh), run on the GPU machine (no Swift needed):
#   bash .device/gpu-check.sh
# It unpacks .device/cltrain-gpu.tar.xz into a fresh folder and writes every result into one file,
# $OUT/gpu-results.txt (OUT defaults to ./gpu-out), each step appended as it runs:
#   1. facts: GPU, driver, the OpenCL ICD files and libnvidia-opencl.so found (or that none was),
#      whether python3 imports torch; `cltrain devices`
#   2. `bench kernels --check --device opencl` on an empty kernel cache (its "kernels ready in X s"
#      is the first-start compile time; each convolution's GFLOP/s is against the FP32 peak printed
#      in the facts), then a short bench on the filled cache (the cached start), then every
#      convolution candidate checked against the CPU backend (`--all-candidates`)
#   3. `cltrain tune` for densenet-bc-100 and drn-c-26 at batch 64 (noted, not failed, if this
#      build has no tune command)
#   4. `bench train --json` for densenet-bc-100 and drn-c-26 at batch 64, PyTorch on the same GPU
#      (FP32, TF32 off: reference/pytorch_speed.py), then both at batch 256, and the ratio table
# Each step runs under its own timeout and under a deadline for the whole check (GPU_CHECK_SECONDS,
# default 530 s), so one hang costs its step alone and the check ends inside a 10-minute call.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
results="$OUT/gpu-results.txt"
: > "$results"
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-530}))
work="${GPU_CHECK_DIR:-$(mktemp -d)}"
bundle="$work/cltrain-gpu"
run="$bundle/gpu-run.sh"
steps_dir="$work/reports"

say() { echo "$*" | tee -a "$results"; }

# step NAME SECONDS CMD...: run CMD with stdout and stderr appended to the results (line-buffered,
# so a step killed by its timeout keeps what it printed), under min(SECONDS, time left).
step() {
    local name=$1 limit=$2; shift 2
    local left=$((deadline - SECONDS))
    if [ "$left" -lt 10 ]; then
        say "=== $name: SKIPPED, the check's deadline has passed"
        return 0
    fi
    [ "$limit" -le "$left" ] || limit=$left
    say "=== $name (timeout ${limit}s, $(date -u +%H:%M:%S))"
    local start=$SECONDS rc=0
    PYTHONUNBUFFERED=1 timeout -k 5 "$limit" stdbuf -oL -eL "$@" >> "$results" 2>&1 || rc=$?
    local verdict="ok"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then verdict="TIMED OUT"; elif [ "$rc" -ne 0 ]; then verdict="FAILED"; fi
    say "--- $name: $verdict (rc $rc) in $((SECONDS - start)) s"
    return 0
}

say "cltrain GPU check, $(date -u '+%Y-%m-%d %H:%M:%S') UTC, on $(hostname)"
mkdir -p "$work" "$steps_dir"
if ! tar -C "$work" -xJf "$here/cltrain-gpu.tar.xz"; then
    say "FAILED: could not unpack $here/cltrain-gpu.tar.xz into $work"
    exit 1
fi
rm -rf "$bundle/kernel-cache"   # the first start compiles every kernel
say "unpacked into $bundle ($(du -sh "$bundle" | cut -f1))"

facts() {
    echo "FP32 peak for the GFLOP/s columns: H200 SXM 67 TFLOP/s (NVIDIA's datasheet; TF32 off, no tensor cores)"
    echo "nvidia-smi:"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "  (no nvidia-smi)"
    echo "ICD files in /etc/OpenCL/vendors:"
    for f in /etc/OpenCL/vendors/*.icd; do [ -e "$f" ] && echo "  $f: $(cat "$f")"; done
    echo "libnvidia-opencl.so found (gpu-run.sh takes the first when no ICD file names NVIDIA's):"
    find /usr/lib /usr/lib64 /usr/local/nvidia /usr/lib/x86_64-linux-gnu -name 'libnvidia-opencl.so*' 2>/dev/null | sort | sed 's/^/  /' \
        | grep . || echo "  none"
    if command -v clinfo > /dev/null; then "$run" --exec clinfo -l; else echo "clinfo: not installed"; fi
    echo "python3 -c 'import torch':"
    python3 -c 'import torch; print("  torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
             torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 | tail -n 3 || echo "  no python3"
}
export -f facts
export run steps_dir
step "facts" 60 bash -c facts
step "devices" 30 "$run" devices

step "bench kernels --check, empty cache (first start)" 150 "$run" bench kernels --device opencl --check --seconds 0.1
step "bench kernels, filled cache (cached start)" 40 "$run" bench kernels --device opencl --filter fill --seconds 0.1
step "bench kernels --check --all-candidates (every configuration the tuner may pick, conv ops)" 90 \
    "$run" bench kernels --device opencl --check --all-candidates --filter conv2d --batch-size 16 --seconds 0.02

if "$run" tune --help > /dev/null 2>&1; then
    for model in densenet-bc-100 drn-c-26; do
        step "tune $model batch 64" 60 "$run" tune --model "$model" --batch-size 64 --device opencl
    done
else
    say "=== tune: this build has no tune command (cltrain tune --help failed); skipped"
fi

torch_ok=0
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' > /dev/null 2>&1 && torch_ok=1
for batch in 64 256; do
    for model in densenet-bc-100 drn-c-26; do
        report="$steps_dir/$model-$batch.json"
        step "bench train $model batch $batch" 75 bash -c "'$run' bench train --model $model --batch-size $batch --steps 5 --device opencl --json > '$report'; rc=\$?; cat '$report'; exit \$rc"
    done
    if [ "$torch_ok" = 1 ]; then
        step "PyTorch batch $batch (FP32, TF32 off)" 90 bash -c "set -o pipefail; python3 '$bundle/reference/pytorch_speed.py' densenet-bc-100 drn-c-26 --batch $batch --steps 20 --device cuda | tee '$steps_dir/torch-$batch.txt'"
    else
        say "=== PyTorch batch $batch: skipped, python3 cannot import torch with CUDA"
    fi
done

ratios() {
    python3 - "$steps_dir" <<'EOF'
import json, os, re, sys
d = sys.argv[1]
print("| model | batch | GFLOP/image | cltrain img/s | PyTorch img/s | ratio | launches/step | CLBlast calls/step |")
print("|---|---|---|---|---|---|---|---|")
for batch in (64, 256):
    torch = {}
    path = os.path.join(d, f"torch-{batch}.txt")
    if os.path.exists(path):
        for line in open(path):
            m = re.match(r"(\S+): .*img_per_s=([0-9.]+)", line)
            if m: torch[m.group(1)] = float(m.group(2))
    for model in ("densenet-bc-100", "drn-c-26"):
        try: r = json.load(open(os.path.join(d, f"{model}-{batch}.json")))
        except Exception: print(f"| {model} | {batch} | no cltrain report |"); continue
        ours, theirs = r["imagesPerSecond"], torch.get(model)
        w = r.get("openCLPerStep") or {}
        ratio = f"{ours / theirs:.2f}x" if theirs else "-"
        print(f"| {model} | {batch} | {r['gflopPerImage']:.3f} | {ours:.1f} | {theirs or '-'} | {ratio} | "
              f"{w.get('kernelLaunches', '-')} | {w.get('clblastCalls', '-')} |")
EOF
}
export -f ratios
step "cltrain against PyTorch" 20 bash -c ratios
say "=== done in $SECONDS s"
