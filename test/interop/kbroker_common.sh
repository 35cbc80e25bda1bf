# kbroker_common.sh — shared helpers for the test/t_kbroker*.sh scripts
# (sourced, POSIX sh). Starts build/kbroker on an ephemeral loopback port,
# stops it, and cleans up through an EXIT trap. Every client call in the
# tests is wrapped in `timeout`.
#
# After sourcing: $KB (broker binary), $TMP (scratch dir), $PY (python,
# the one with kafka-python when any has it; $PY_WHY says why not).
# start_broker [ARGS...] sets $BPID, $PORT and $B (127.0.0.1:PORT).
# stop_broker fails the test unless the broker exits 0 on SIGTERM.

cd "$(dirname "$0")/.." || exit 1
KLOG_BUILD=${KLOG_BUILD:-build}
# The interpreter with kafka-python when there is one (t_kbroker_clients.sh
# checks again and says why it skips that part); any python3 otherwise.
. test/interop/python.sh
pick_python kafka || true
KB=$KLOG_BUILD/kbroker
BPID=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kbroker-test.XXXXXX") || exit 1
LOGDIR=$TMP/log

cleanup() {
    if [ -n "$BPID" ]; then
        kill -KILL "$BPID" 2>/dev/null
        wait "$BPID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

skip() {
    echo "$1"
    exit 77
}

fail() {
    echo "FAIL: $*"
    if [ -f "$TMP/broker.err" ]; then
        echo "--- broker stderr (last 20 lines)"
        tail -20 "$TMP/broker.err"
    fi
    exit 1
}

ok() {
    echo "ok: $*"
}

[ -x "$KB" ] || skip "$KB not built (make $KB)"

start_broker() {
    : > "$TMP/broker.out"
    "$KB" -d "$LOGDIR" -l 127.0.0.1:0 ${KB_VERBOSE:+-v} "$@" > "$TMP/broker.out" 2>> "$TMP/broker.err" &
    BPID=$!
    i=0
    while [ $i -lt 200 ]; do
        PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/broker.out")
        [ -n "$PORT" ] && break
        kill -0 "$BPID" 2>/dev/null || fail "broker exited at start"
        sleep 0.05
        i=$((i + 1))
    done
    [ -n "$PORT" ] || fail "broker did not print its port"
    B=127.0.0.1:$PORT
}

stop_broker() {
    kill -TERM "$BPID" 2>/dev/null
    i=0
    while kill -0 "$BPID" 2>/dev/null && [ $i -lt 600 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    wait "$BPID"
    rc=$?
    BPID=
    [ $rc -eq 0 ] || fail "broker exited with status $rc on SIGTERM"
    if grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$TMP/broker.err"; then
        fail "sanitizer report from the broker"
    fi
}

# kcat with the options every test wants: fail fast, quick EOF.
kc_produce() {
    timeout 120 kcat -b "$B" -P -X message.timeout.ms=20000 "$@"
}
kc_consume() {
    timeout 120 kcat -b "$B" -C -e -q -X fetch.wait.max.ms=50 "$@"
}

# values_of FILE...: the record values group members printed ("rec P O V"),
# sorted.
values_of() {
    cat "$@" | sed -n 's/^rec [0-9]* [0-9]* //p' | sort
}
# once_or_uncommitted WANT FILE...: the members' outputs ("rec P O VALUE" and
# "uncommitted P O VALUE ..." lines) read every value of WANT (sorted), each
# once, except records a member could not commit (a rebalance overtook the
# commit), which may be read again.
once_or_uncommitted() {
    want=$1
    shift
    cat "$@" | sed -n 's/^uncommitted [0-9]* [0-9]* \([^ ]*\) .*/\1/p' | sort -u > "$TMP/unc"
    values_of "$@" > "$TMP/got"
    sort -u "$TMP/got" > "$TMP/got.u"
    cmp -s "$TMP/got.u" "$want" || { diff "$want" "$TMP/got.u" | head; return 1; }
    uniq -d "$TMP/got" > "$TMP/dups"
    [ -z "$(comm -23 "$TMP/dups" "$TMP/unc")" ] || { echo "read twice though committed:"; comm -23 "$TMP/dups" "$TMP/unc" | head; return 1; }
}
