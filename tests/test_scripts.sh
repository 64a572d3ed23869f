#!/usr/bin/env bash
# test_scripts.sh: the project's scripts that only other machines run (bench/gpu's on a GPU machine,
# bench's beside PyTorch, tools/) at least parse: `bash -n` on every shell script and Python's
# compile() on every Python file, so that a GPU session's one call is not lost to a typo (run
# there, a syntax error costs the whole call). Each file is one check.
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
summary test_scripts
