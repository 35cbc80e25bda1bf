#!/bin/sh
# crash_stress.sh — the crash test with many rounds (make stress).
#
# Runs the Check suites "crash" (test/check_crash.c: a child appends with an
# fsync per append and reports acknowledged offsets, the parent SIGKILLs it
# at a random moment, reopens and checks that every acknowledged record is
# present and intact in a gap-free prefix) and "crashmulti"
# (test/check_crash_multi.c: the same over 2 topics x 3 partitions with
# per-append fsync on one topic and periodic klog_flush on the other,
# retention, DeleteRecords and two concurrent reader threads) and
# "crashtxn" (test/check_crash_txn.c: idempotent and transactional appends;
# after every kill the producer state, LSO, aborted transactions and epoch
# cache must equal a rebuild from the log alone), each KLOG_STRESS_ROUNDS
# rounds (default 1000); KLOG_TEST_SEED=<n> replays a failing run's choices.
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
echo "crash_stress: $KLOG_STRESS_ROUNDS rounds per suite (seed ${KLOG_TEST_SEED:-random})"
rc=0
for suite in crash_suite crashmulti crashtxn; do
    # "crash_suite" selects only the single-partition suite (the runner
    # matches a substring of the suite function's name).
    start=$(date +%s)
    KLOG_TEST_VERBOSE=1 "$bin" "$suite" || rc=1
    echo "crash_stress: $suite took $(($(date +%s) - start)) s"
done
exit $rc
