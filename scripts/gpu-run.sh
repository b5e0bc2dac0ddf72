#!/usr/bin/env bash
# Run a bundled cltrain (see gpu-bundle.sh) on a machine with an NVIDIA GPU and no Swift:
# point the loader at the bundled libraries and the ocl-icd loader at NVIDIA's OpenCL driver,
# writing an ICD file when the machine has none. Usage: bash .device/gpu-run.sh devices
# (any cltrain command), or bash .device/gpu-run.sh --exec CMD... to run another command (the
# PyTorch comparisons) in the same environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "${OCL_ICD_VENDORS:-}" ] && ! grep -qsl nvidia /etc/OpenCL/vendors/*.icd; then
    driver=$(find /usr/lib /usr/lib64 /usr/local/nvidia /usr/lib/x86_64-linux-gnu -name 'libnvidia-opencl.so*' 2>/dev/null | sort | head -n 1 || true)
    if [ -n "$driver" ]; then
        mkdir -p "$here/vendors"
        echo "$driver" > "$here/vendors/nvidia.icd"
        export OCL_ICD_VENDORS="$here/vendors"
        echo "gpu-run: using NVIDIA OpenCL driver $driver" >&2
    else
        echo "gpu-run: no libnvidia-opencl.so found; OpenCL will see no GPU" >&2
    fi
fi
export CLTRAIN_CACHE_DIR="${CLTRAIN_CACHE_DIR:-$here/kernel-cache}"
if [ "${1:-}" = "--exec" ]; then
    shift
    exec "$@"
fi
exec "$here/cltrain" "$@"
