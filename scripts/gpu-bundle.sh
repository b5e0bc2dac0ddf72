#!/usr/bin/env bash
# Build a static cltrain and pack what a bare GPU machine lacks into .device/ (git-ignored), small
# enough to travel (64 MiB at most, checked below):
#   .device/cltrain-gpu.tar.xz  the stripped binary; the shared libraries it loads that are not part
#                               of the base system (CLBlast, the ocl-icd loader, OpenBLAS with
#                               libgfortran/libquadmath, zlib, libjpeg-turbo, libpng), stripped; gpu-run.sh; the PyTorch
#                               reference scripts
#   .device/gpu-check.sh        unpacks the archive and runs the whole GPU check into
#                               $OUT/gpu-results.txt (see that script)
# usage: bash scripts/gpu-bundle.sh [--no-build]   (--no-build packs the existing release build)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=$((64 << 20))
if [ "${1:-}" != "--no-build" ]; then
    # The product alone: the test-support target imports XCTest, which has no static build.
    swift build -c release --static-swift-stdlib --product cltrain
fi
binary=.build/release/cltrain
[ -x "$binary" ] || { echo "gpu-bundle: no $binary; build it first (without --no-build)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/cltrain-gpu"
mkdir -p "$root/lib"
cp "$binary" "$root/"
for lib in libclblast.so.1 libOpenCL.so.1 libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libz.so.1 libturbojpeg.so.0 libpng16.so.16; do
    path=$(ldd "$binary" | awk -v l="$lib" '$1 == l {print $3}')
    [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
    if [ -n "$path" ]; then cp -L "$path" "$root/lib/"; else echo "gpu-bundle: $lib not found here; not bundled" >&2; fi
done
# Debian's OpenBLAS is found through an alternatives link: copy the real library too.
if [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 ]; then
    cp -L /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 "$root/lib/"
fi
# Symbols and debug sections only: the Swift runtime's metadata sections stay.
strip "$root/cltrain"
strip --strip-unneeded "$root"/lib/*.so*
if [ -d ../shared/reference ]; then cp -r ../shared/reference "$root/reference"; fi
cp scripts/gpu-run.sh scripts/speed_compare.py scripts/memory_compare.py "$root/"

# The stripped binary must still start (it loads its libraries as it will there).
LD_LIBRARY_PATH="$root/lib" "$root/cltrain" --help > /dev/null

rm -rf .device && mkdir -p .device
XZ_OPT="-9 -T2" tar -C "$stage" -cJf .device/cltrain-gpu.tar.xz cltrain-gpu
cp scripts/gpu-check.sh .device/
ls -l .device
archive=$(stat -c %s .device/cltrain-gpu.tar.xz)
total=$(du -sb .device | cut -f1)
echo "gpu-bundle: archive $archive bytes ($((archive >> 20)) MiB) from $(du -sb "$root" | cut -f1) bytes unpacked; .device holds $total bytes"
if [ "$total" -gt "$limit" ]; then
    echo "gpu-bundle: FAILED: .device is $total bytes, over the 64 MiB ($limit bytes) a device call carries" >&2
    exit 1
fi
echo "gpu-bundle: run it there with: bash .device/gpu-check.sh   (results in \$OUT/gpu-results.txt, OUT defaulting to ./gpu-out)"
