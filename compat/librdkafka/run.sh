#!/usr/bin/env bash
# librdkafka's own test suite against a real `weir serve`, in full mode (no -Q).
#
# The suite ships inside the rdkafka-sys crate the workspace already depends on
# (its bundled librdkafka/, tests/ included): this copies it to
# target/librdkafka-suite once, builds the library and tests/test-runner there
# (about a minute on two cores; nothing is downloaded), starts weir serve on
# 127.0.0.1:0 with a fresh data directory, and runs every test but those listed
# in compat/librdkafka/excluded.txt (each with the reason), four at a time. A
# test that fails is run once more alone: on a loaded two-core machine some of
# the suite's timing assertions miss by themselves, and a test that passes on
# its own is reported as flaky rather than failed. It prints the runner's
# summary and the counts, and exits non-zero if any test failed twice.
#
#   compat/librdkafka/run.sh                 # the whole suite
#   TESTS=0081 compat/librdkafka/run.sh      # one test (the runner's TESTS)
#
# WEIR_BIN names the weir binary (default target/debug/weir); RDK_PARALLEL the
# tests run at once (default 4).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
suite="$root/target/librdkafka-suite"
weir="${WEIR_BIN:-$root/target/debug/weir}"

if [ ! -x "$suite/tests/test-runner" ]; then
    echo "== building librdkafka's test runner from the rdkafka-sys crate's sources"
    manifest=$(cd "$root" && cargo metadata --format-version 1 | python3 -c '
import json, sys
packages = json.load(sys.stdin)["packages"]
print(next(p["manifest_path"] for p in packages if p["name"] == "rdkafka-sys"))')
    rm -rf "$suite"
    mkdir -p "$suite"
    cp -r "$(dirname "$manifest")/librdkafka/." "$suite/"
    # The build logs are named build-*.log: mklove's configure loads every
    # configure.* file in its directory as a module, so a configure.log there
    # fails the build with "Module log not found".
    # (errexit does not apply inside an if's condition, hence the &&.)
    if ! (
        cd "$suite" &&
            ./configure --disable-ssl --disable-gssapi --disable-sasl --disable-curl \
                --disable-zstd --disable-lz4-ext >build-configure.log 2>&1 &&
            make -j2 libs >build-libs.log 2>&1 &&
            make -C tests -j2 build >build-tests.log 2>&1
    ); then
        for f in "$suite"/build-*.log; do
            echo "== $f (last lines)" >&2
            tail -25 "$f" >&2
        done
        echo "building librdkafka's test runner failed: the logs above are in $suite" >&2
        exit 1
    fi
fi

work=$(mktemp -d)
# Four partitions by default, as the clusters the suite is written for (trivup).
"$weir" serve --data-dir "$work/data" --kafka-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
    --default-partitions 4 \
    >"$work/weir.out" 2>"$work/weir.log" &
weir_pid=$!
cleanup() {
    kill "$weir_pid" 2>/dev/null || true
    wait "$weir_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
addr=
for _ in $(seq 1 300); do
    addr=$(sed -n 's/^kafka listening on //p' "$work/weir.out" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$weir_pid" 2>/dev/null || { cat "$work/weir.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { echo "weir serve did not start: see $work/weir.log" >&2; exit 1; }
echo "== weir serve on $addr"
printf 'metadata.broker.list=%s\n' "$addr" >"$work/test.conf"

skip=$(grep -v '^\s*#' "$here/excluded.txt" | awk 'NF {print $1}' | paste -sd, -)
log="$suite/last-run.log"
cd "$suite/tests"
status=0
# A write to a socket the broker closed must be an error, not a SIGPIPE that
# kills the whole runner: the runner inherits the ignored signal.
trap '' PIPE
RDKAFKA_TEST_CONF="$work/test.conf" TEST_KAFKA_VERSION=3.0.0 TESTS_SKIP="$skip" \
    LD_LIBRARY_PATH=../src:../src-cpp ./test-runner "-p${RDK_PARALLEL:-4}" \
    >"$log" 2>&1 || status=$?
summary=$(sed 's/\x1b\[[0-9;]*m//g; s/(B//g' "$log" | sed -n '/SUMMARY/,$p')
echo "$summary"
passed=$(echo "$summary" | grep -c 'PASSED |' || true)
skipped=$(echo "$summary" | grep -c 'SKIPPED |' || true)
# The tests that failed (or never finished), by number, each run once more alone:
# from the summary table, and from the failure lines themselves (a failed test's
# leftover threads may log into the table and garble it).
from_table=$(echo "$summary" | grep -E 'FAILED \||RUNNING \|' | grep -oE '^\| [0-9]{4}' | awk '{print $2}' || true)
from_lines=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE '^### Test "[0-9]{4}' | grep -oE '[0-9]{4}' || true)
again=$(printf '%s\n%s\n' "$from_table" "$from_lines" | awk 'NF' | sort -u)
failed=0
flaky=
for t in $again; do
    if RDKAFKA_TEST_CONF="$work/test.conf" TEST_KAFKA_VERSION=3.0.0 TESTS="$t" \
        LD_LIBRARY_PATH=../src:../src-cpp ./test-runner -p1 >"$suite/retry-$t.log" 2>&1; then
        flaky="$flaky $t"
    else
        failed=$((failed + 1))
        echo "== $t failed again alone: $suite/retry-$t.log" >&2
        tail -20 "$suite/retry-$t.log" >&2
    fi
done
trap - PIPE
if [ -n "$again" ] && [ "$failed" -eq 0 ]; then
    # Every failure passed alone; the first run's status was theirs (or <MAIN>'s
    # count of their leftover threads).
    status=0
fi
if [ -n "$flaky" ]; then
    echo "== passed only when run alone (flaky under load):$flaky"
fi
excluded=$(grep -v '^\s*#' "$here/excluded.txt" | awk 'NF' | wc -l)
echo "== librdkafka suite: $passed passed (with <MAIN>), $failed failed, $skipped skipped by the runner, $excluded excluded (excluded.txt)"
if [ "$failed" -ne 0 ]; then
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "== the runner exited with $status; its output: $log" >&2
    tail -40 "$log" >&2
    echo "== weir's log tail" >&2
    tail -30 "$work/weir.log" >&2
fi
exit "$status"
