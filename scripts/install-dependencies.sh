#!/usr/bin/env bash
# Install the system libraries cltrain builds against (Debian/Ubuntu): OpenCL headers and the
# ICD loader, CLBlast, OpenBLAS, zlib, PoCL (an OpenCL device on the CPU, for tests), clinfo, Open MPI
# (the library cltrain links and the mpirun that starts several ranks), and the Fashion-MNIST data set
# (the default data of `cltrain train`). pkg-config gives SwiftPM the include folder of Open MPI.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends \
    ocl-icd-opencl-dev opencl-headers libclblast-dev pocl-opencl-icd clinfo libopenblas-dev zlib1g-dev libturbojpeg0-dev libpng-dev libopenmpi-dev openmpi-bin pkg-config dataset-fashion-mnist python3-venv
