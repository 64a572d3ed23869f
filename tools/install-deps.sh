#!/usr/bin/env bash
# install-deps.sh: installs what dcgan needs to build, train on the default data and run its tests,
# from Debian 12's packages. Run as root (or it uses sudo).
set -euo pipefail
pkgs=(build-essential libopenblas-openmp-dev libdnnl-dev libstb-dev libgif-dev zlib1g-dev dataset-fashion-mnist python3)
# for the tests: clang with libFuzzer and the sanitizer runtimes; headless Chromium and Pillow for
# the report page's browser test
[ "${1:-}" = "--tests" ] && pkgs+=(clang libclang-rt-14-dev chromium python3-pil)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
