#!/usr/bin/env bash
# Build a static cltrain and gather what a bare GPU machine lacks into .device/ (git-ignored):
# the binary, the shared libraries it loads that are not part of the base system (CLBlast, the
# ocl-icd loader, OpenBLAS with libgfortran/libquadmath, zlib), the PyTorch reference scripts,
# and scripts/gpu-run.sh. Then run `bash .device/gpu-run.sh CMD...` on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib
rm -rf .device && mkdir -p .device/lib
cp .build/release/cltrain .device/
for lib in libclblast.so.1 libOpenCL.so.1 libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libz.so.1; do
    path=$(ldd .build/release/cltrain | awk -v l="$lib" '$1 == l {print $3}')
    [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
    if [ -n "$path" ]; then cp -L "$path" .device/lib/; fi
done
# Debian's OpenBLAS is found through an alternatives link: copy the real library too.
if [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 ]; then
    cp -L /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 .device/lib/
fi
if [ -d ../shared/reference ]; then cp -r ../shared/reference .device/reference; fi
cp scripts/gpu-run.sh scripts/speed_compare.py scripts/memory_compare.py .device/
ls -la .device .device/lib
du -sh .device
