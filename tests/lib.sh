# shellcheck shell=bash
# Helpers for the shell tests that run a memoryd of their own (tests/ops/*.sh,
# tests/integration/*.sh). Source after scripts/lib.sh:
#   mt_init NAME               work directory $MT_WORK; on exit memoryd is killed, every
#                              server scripts/lib.sh started is stopped, $MT_WORK removed
#   mt_fail MSG                "NAME: FAIL: MSG", memoryd's log tail, exit 1
#   mt_start_memoryd PROBE [VAR=VALUE...]
#                              memoryd on a free port with those settings (env -u
#                              DATABASE_URL unless given); waits for PROBE (/healthz or
#                              /readyz); sets MT_PID, MT_URL; its log is $MT_WORK/log
#   mt_stop_memoryd            SIGTERM; fails unless it exits 0 with a clean sanitizer log
MT_NAME="" MT_WORK="" MT_PID="" MT_URL=""

_mt_cleanup() {
    local rc=$?
    if [[ -n "$MT_PID" ]] && pid_alive "$MT_PID"; then kill -9 "$MT_PID" 2>/dev/null || true; fi
    stop_all
    [[ -n "$MT_WORK" ]] && rm -rf "$MT_WORK"
    exit "$rc"
}

mt_init() {
    MT_NAME="$1"
    MT_WORK="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-$MT_NAME.XXXXXX")"
    trap _mt_cleanup EXIT
}

mt_fail() {
    echo "$MT_NAME: FAIL: $*" >&2
    tail -n 20 "$MT_WORK/log" >&2 || true
    exit 1
}

# mt_until N CMD...: run CMD every 0.1 s, at most N times, until it succeeds;
# 1 when it never did.
mt_until() {
    local n="$1" i
    shift
    for ((i = 0; i < n; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

mt_start_memoryd() {
    local probe="$1" port i
    shift
    port="$(free_port)"
    env -u DATABASE_URL PORT="$port" BIND_ADDRESS=127.0.0.1 "$@" "${MEMORYD_BIN:?}" \
        2>"$MT_WORK/log" </dev/null &
    MT_PID=$!
    MT_URL="http://127.0.0.1:$port"
    for ((i = 0; i < 100; i++)); do
        curl -sf "$MT_URL$probe" >/dev/null 2>&1 && return 0
        pid_alive "$MT_PID" || mt_fail "memoryd exited at start-up"
        sleep 0.1
    done
    mt_fail "memoryd did not answer $probe within 10 s"
}

mt_stop_memoryd() {
    local st=0
    kill -TERM "$MT_PID"
    wait "$MT_PID" || st=$?
    MT_PID=""
    ((st == 0)) || mt_fail "memoryd exited $st on SIGTERM"
    if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$MT_WORK/log"; then
        mt_fail "sanitizer error in memoryd's log"
    fi
}
