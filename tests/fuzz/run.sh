#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS NAME...: runs each libFuzzer target for SECONDS from a copy of its seed
# corpus; prints a PASS/FAIL line each and "N passed, M failed"; a crash or sanitizer report fails.
set -u
build=$(realpath "$1"); secs=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
passed=0; failed=0
for name in "$@"; do
    work=$(mktemp -d /tmp/dcgan-fuzz.XXXXXX)
    cp -r "$here/corpus/$name/." "$work/" 2>/dev/null || true
    if (cd "$work" && ASAN_OPTIONS=detect_leaks=1 "$build/$name" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 \
            -max_len=65536 "$work" > "$work.log" 2>&1); then
        echo "PASS $name: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$work.log")"
        passed=$((passed + 1))
    else
        echo "FAIL $name:"; tail -40 "$work.log"; failed=$((failed + 1))
    fi
    rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
