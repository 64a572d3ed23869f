#!/usr/bin/env bash
# test_scripts.sh: the project's scripts that only other machines run (bench/gpu's on a GPU machine,
# bench's beside PyTorch, tools/) at least parse: `bash -n` on every shell script and Python's
# compile() on every Python file, so that a GPU session's one call is not lost to a typo (run
# there, a syntax error costs the whole call). Each file is one check. And that the Makefile rebuilds
# what a change of configuration touches.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$here/lib.sh"

shopt -s nullglob
for f in "$root"/bench/*.sh "$root"/bench/gpu/*.sh "$root"/tools/*.sh "$root"/tests/*.sh "$root"/.ci/run; do
    err=$(bash -n "$f" 2>&1) && ok "bash -n ${f#$root/}" || bad "bash -n ${f#$root/}: $err"
done
py=$(command -v python3)
for f in "$root"/bench/*.py "$root"/bench/gpu/*.py "$root"/tests/*.py "$root"/tests/fixtures/*.py; do
    err=$("$py" -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' "$f" 2>&1) &&
        ok "python compiles ${f#$root/}" || bad "python compiles ${f#$root/}: $err"
done

# The Makefile keeps the build's configuration in $(BUILD)/config: an object is compiled once, not
# again while nothing changed, and again when the flags change (as when oneDNN is installed after a
# first build). Checked on one small file in a build folder of its own.
cfg_build=$(mktemp -d)
compiles() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -C "$root" BUILD="$cfg_build" "$@" "$cfg_build/src/core/rng.o" 2>&1 | grep -c -- ' -c -o '; }
n1=$(compiles); n2=$(compiles); n3=$(compiles OPT=-O1); n4=$(compiles OPT=-O1)
if [ "$n1 $n2 $n3 $n4" = "1 0 1 0" ] && grep -q -- '-O1' "$cfg_build/config"; then
    ok "Makefile: an object is rebuilt when the configuration changes, and only then"
else bad "Makefile: compiles of one object (first, again, OPT changed, again): $n1 $n2 $n3 $n4, expected 1 0 1 0"; fi

# A CUDA toolkit without cuDNN, or older than the backend needs, builds the CPU program alone with one
# line saying why (make -n against a stand-in toolkit: an nvcc that only tells its release)
fake=$cfg_build/toolkit
mkdir -p "$fake/bin" "$fake/include"
plan() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -n -C "$root" BUILD="$cfg_build/b" CUDA_HOME="$fake" all 2>&1; }
toolkit() { printf '#!/bin/sh\necho "Cuda compilation tools, release %s, V%s.0"\n' "$1" "$1" >"$fake/bin/nvcc"; chmod +x "$fake/bin/nvcc"; }
toolkit 13.0
for case in "no cuDNN (cudnn_version.h)" "cuDNN 8, older than 9" "CUDA 11, older than 12" "built"; do
    case $case in
    "cuDNN 8"*) printf '#define CUDNN_MAJOR 8\n' >"$fake/include/cudnn_version.h" ;;
    "CUDA 11"*) printf '#define CUDNN_MAJOR 9\n' >"$fake/include/cudnn_version.h"; toolkit 11.8 ;;
    built) toolkit 13.0 ;;
    esac
    out=$(plan)
    if [ "$case" = built ]; then
        if printf '%s' "$out" | grep -q -- "-o libdcgan-cuda.so" && ! printf '%s' "$out" | grep -q "without the CUDA backend"; then
            ok "Makefile: CUDA 13 with cuDNN 9 builds the CUDA backend"
        else bad "Makefile: CUDA 13 with cuDNN 9 does not plan libdcgan-cuda.so: $(printf '%s' "$out" | head -n 2)"; fi
    elif [ "$(printf '%s\n' "$out" | grep -c "without the CUDA backend.*$case")" = 1 ] &&
        ! printf '%s' "$out" | grep -q -- "-o libdcgan-cuda.so"; then
        ok "Makefile: a toolkit with $case builds without the CUDA backend, saying so"
    else bad "Makefile: a toolkit with $case: $(printf '%s' "$out" | head -n 2)"; fi
done
rm -rf "$cfg_build"
summary test_scripts
