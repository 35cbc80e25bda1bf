#!/bin/sh
# crash_stress.sh — the crash test with many rounds (make stress).
#
# Runs the Check "crash" suite (test/check_crash.c): a child appends with an
# fsync per append and reports acknowledged offsets, the parent SIGKILLs it
# at a random moment, reopens and checks that every acknowledged record is
# present and intact in a gap-free prefix. KLOG_STRESS_ROUNDS rounds
# (default 1000); KLOG_TEST_SEED=<n> replays a failing run's choices.
#
#   KLOG_BUILD=build KLOG_STRESS_ROUNDS=1000 sh test/stress/crash_stress.sh
set -eu
: "${KLOG_BUILD:=build}"
: "${KLOG_STRESS_ROUNDS:=1000}"
bin="$KLOG_BUILD/test/check_klog"
if [ ! -x "$bin" ]; then
    echo "crash_stress: $bin not built (make $bin)" >&2
    exit 1
fi
export KLOG_STRESS_ROUNDS
# The suite sets its own timeout from the round count; fork mode stays on
# so a crash of the checker itself is reported, not fatal.
echo "crash_stress: $KLOG_STRESS_ROUNDS rounds (seed ${KLOG_TEST_SEED:-random})"
KLOG_TEST_VERBOSE=1 "$bin" crash
