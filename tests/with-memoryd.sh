#!/usr/bin/env bash
# Usage: tests/with-memoryd.sh CMD [ARGS...]
# Starts "$MEMORYD_BIN" on a free loopback port (the current environment is passed through, so
# REDIS_URL etc. can be overridden per test), waits for GET /healthz, exports
#   MEMORYD_URL=http://127.0.0.1:PORT   MEMORYD_PID   MEMORYD_LOG (memoryd's stderr/stdout)
# runs CMD, then stops memoryd with SIGTERM (SIGKILL after MEMORYD_STOP_TIMEOUT, default 10s).
# Exit status: CMD's status; non-zero also if memoryd logged a sanitizer error, crashed, exited
# with a status other than 0/143 after SIGTERM, or had to be killed.
# The log is printed on failure and deleted afterwards (MEMORYD_KEEP_LOG=1 keeps it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

if (($# == 0)); then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
if [[ -z "${MEMORYD_BIN:-}" || ! -x "${MEMORYD_BIN}" ]]; then
    echo "with-memoryd: MEMORYD_BIN is not set or not executable (${MEMORYD_BIN:-unset})" >&2
    exit 2
fi

STARTUP_TIMEOUT="${MEMORYD_STARTUP_TIMEOUT:-15}"
STOP_TIMEOUT="${MEMORYD_STOP_TIMEOUT:-10}"
SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error:|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)'

LOG="$(mktemp "${TMPDIR:-/tmp}/memoryd-log.XXXXXX")"
PID=""

now_ms() {
    local t="${EPOCHREALTIME//[.,]/}" # microseconds
    printf '%s\n' "$((10#$t / 1000))"
}

show_log() {
    local what="$1" n="${2:-60}"
    echo "---- memoryd log ($what) ----" >&2
    tail -n "$n" "$LOG" >&2 || true
    echo "---- end of memoryd log ----" >&2
}

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    if [[ -n "$PID" ]] && pid_alive "$PID"; then
        kill -KILL "$PID" 2>/dev/null || true
    fi
    [[ -n "$PID" ]] && { wait "$PID" 2>/dev/null || true; }
    if [[ "${MEMORYD_KEEP_LOG:-0}" == 1 ]]; then
        echo "with-memoryd: log kept at $LOG" >&2
    else
        rm -f "$LOG"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Start memoryd; retry on another port if the chosen one was taken in the meantime.
started=0
for attempt in 1 2 3; do
    port="$(free_port)"
    : >"$LOG"
    PORT="$port" BIND_ADDRESS=127.0.0.1 "$MEMORYD_BIN" >"$LOG" 2>&1 </dev/null &
    PID=$!
    deadline=$(($(now_ms) + STARTUP_TIMEOUT * 1000))
    while (($(now_ms) < deadline)); do
        if ! pid_alive "$PID"; then
            break
        fi
        if curl -fsS -o /dev/null -m 1 "http://127.0.0.1:$port/healthz" 2>/dev/null; then
            started=1
            break
        fi
        sleep 0.1
    done
    ((started)) && break
    if ! pid_alive "$PID"; then
        st=0
        wait "$PID" 2>/dev/null || st=$?
        PID=""
        if grep -qi 'address already in use' "$LOG" && ((attempt < 3)); then
            echo "with-memoryd: port $port in use, retrying" >&2
            continue
        fi
        echo "with-memoryd: memoryd exited during startup (status $st)" >&2
        show_log "startup" 200
        exit 1
    fi
    echo "with-memoryd: memoryd not healthy on port $port within ${STARTUP_TIMEOUT}s" >&2
    show_log "startup" 200
    exit 1
done

export MEMORYD_URL="http://127.0.0.1:$port"
export MEMORYD_PID="$PID"
export MEMORYD_LOG="$LOG"

cmd_rc=0
"$@" || cmd_rc=$?

# Stop memoryd gracefully.
mem_rc=0
killed=0
crashed=0
if pid_alive "$PID"; then
    kill -TERM "$PID" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        pid_alive "$PID" || break
        sleep 0.1
    done
    if pid_alive "$PID"; then
        kill -KILL "$PID" 2>/dev/null || true
        killed=1
    fi
else
    crashed=1
fi
wait "$PID" 2>/dev/null || mem_rc=$?
PID=""

rc=$cmd_rc
if grep -Eq "$SANITIZER_RE" "$LOG"; then
    echo "with-memoryd: sanitizer error in memoryd's log" >&2
    echo "---- memoryd log ----" >&2
    cat "$LOG" >&2
    echo "---- end of memoryd log ----" >&2
    exit 1
fi
if ((crashed)); then
    echo "with-memoryd: memoryd exited while the test was running (status $mem_rc)" >&2
    rc=1
elif ((killed)); then
    echo "with-memoryd: memoryd did not exit within ${STOP_TIMEOUT}s of SIGTERM; killed" >&2
    rc=1
elif ((mem_rc != 0 && mem_rc != 143)); then
    echo "with-memoryd: memoryd exited with status $mem_rc after SIGTERM" >&2
    rc=1
fi
if ((rc != 0)); then
    ((cmd_rc != 0)) && echo "with-memoryd: command failed with status $cmd_rc: $*" >&2
    show_log "tail"
    ((cmd_rc != 0)) && rc=$cmd_rc
fi
exit "$rc"
