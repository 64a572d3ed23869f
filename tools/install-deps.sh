#!/usr/bin/env bash
# install-deps.sh [--tests]: installs what dcgan needs to build and train on the default data, from
# Debian 12's packages (run as root, or it uses sudo). With --tests also what the tests need: clang
# with libFuzzer and the sanitizer runtimes; headless Chromium and Pillow for the report page's
# browser test; PyTorch (Debian's python3-torch) and pkg-config for the interoperability tests; Open
# MPI for the data-parallel tests (make then builds with MPI); and
# .venv-test, a virtual environment over Debian's Python with the PyPI packages those tests read
# our files with (safetensors, onnx, onnxruntime, tensorboard).
set -euo pipefail
tests=0
[ "${1:-}" = "--tests" ] && tests=1
pkgs=(build-essential libopenblas-openmp-dev libdnnl-dev libstb-dev libgif-dev zlib1g-dev dataset-fashion-mnist python3)
[ $tests -eq 1 ] && pkgs+=(clang libclang-rt-14-dev chromium python3-pil python3-torch python3-numpy libopenblas0
                          pkgconf python3-venv python3-pip libopenmpi-dev openmpi-bin)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
    if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
        echo "tools/install-deps.sh: installing ${missing[*]} needs root; run it as root (or install sudo)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ $tests -eq 1 ]; then
    root=$(cd "$(dirname "$0")/.." && pwd)
    venv="$root/.venv-test"
    if ! "$venv/bin/python" -c "import torch, safetensors, onnx, onnxruntime, tensorboard" 2>/dev/null; then
        /usr/bin/python3 -m venv --system-site-packages "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "numpy<2" safetensors==0.8.0 onnx==1.23.2 \
            onnxruntime==1.32.0 tensorboard==2.21.0
    fi
fi
