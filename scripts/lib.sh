# shellcheck shell=bash
# Shared shell helpers for memoryd scripts (scripts/run, scripts/test, tests/with-memoryd.sh).
#
# Source this file from a bash script running with `set -euo pipefail`:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Functions:
#   ensure_deps                      install missing Debian packages (apt-get only if something is missing)
#   ensure_pkgs PKG...               install those of PKG... that are missing
#   ensure_venv DIR REQ...           Python virtual environment in DIR with the pinned requirements
#                                    files REQ... installed (again only when one of them changed)
#   free_port                        print a free loopback TCP port
#   free_cluster_port                print a free loopback TCP port whose bus port (+10000) is free too
#   pid_alive PID                    true if PID exists and is not a zombie
#   start_redis DIR PORT [--tls] [--password PW] [--aof]
#                                    throwaway redis-server bound to 127.0.0.1; sets STARTED_REDIS_URL;
#                                    --tls also exports REDIS_TLS_CA_FILE (CA of a throwaway PKI in DIR);
#                                    --aof: appendonly, fsync always (survives SIGKILL; restart in DIR)
#   start_redis_cluster DIR          throwaway Redis Cluster on loopback: 3 primaries with a replica each,
#                                    one redis-server per DIR/<port>; exports REDIS_CLUSTER_NODES
#                                    (host:port,... of all six) once every node says cluster_state:ok;
#                                    sets STARTED_REDIS_CLUSTER_PORTS and STARTED_REDIS_CLUSTER_PIDS
#   start_redis_cluster_node DIR PORT one cluster-enabled redis-server in DIR/PORT, in no cluster yet
#                                    (as start_redis_cluster's); sets STARTED_REDIS_PID
#   start_postgres DIR PORT          throwaway PostgreSQL cluster in DIR/data with database "memoryd";
#                                    sets STARTED_DATABASE_URL
#   stop_all                         stop everything started above (idempotent; use in a trap)
#
# start_* must be called in the current shell (not inside $(...) or a pipeline), so that the
# recorded pids are children of the shell that later calls stop_all.

# ---------------------------------------------------------------------------------------------
# Internal state
# ---------------------------------------------------------------------------------------------
# Entries: "redis <pid> <dir>" or "pg <runuser-or-postgres-pid> <datadir>"
_MEMORYD_STARTED=()
# Results of the last start_redis / start_postgres, for the caller.
# shellcheck disable=SC2034
STARTED_REDIS_URL="" STARTED_REDIS_PID="" STARTED_DATABASE_URL="" STARTED_PG_PID=""
STARTED_REDIS_CLUSTER_PORTS=() STARTED_REDIS_CLUSTER_PIDS=()

_lib_log() { printf '[memoryd-scripts] %s\n' "$*" >&2; }
_lib_die() { _lib_log "ERROR: $*"; return 1; }

# Root directory of the repository (parent of scripts/).
MEMORYD_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MEMORYD_REPO_ROOT

# ---------------------------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------------------------
_pkg_installed() {
    local status
    status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]]
}

ensure_deps() {
    local pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libhiredis-dev libpq-dev
        libjansson-dev libssl-dev check libsubunit-dev libcurl4-openssl-dev redis-server
        redis-tools postgresql-15 postgresql-client-15 openssl curl clang wrk iproute2 procps
        ca-certificates libclang-rt-14-dev yamllint python3 python3-venv jq tzdata)
    if ! command -v node >/dev/null 2>&1; then
        pkgs+=(nodejs npm)
    fi
    # kubectl (for `kubectl kustomize`): Debian's kubernetes-client, unless a
    # kubectl is already there (another package may ship /usr/bin/kubectl).
    if ! command -v kubectl >/dev/null 2>&1; then
        pkgs+=(kubernetes-client)
    fi
    ensure_pkgs "${pkgs[@]}"
}

# ensure_pkgs PKG...: install those of the Debian packages that are missing.
ensure_pkgs() {
    local pkgs=("$@") missing=() p
    if ! command -v dpkg-query >/dev/null 2>&1; then
        _lib_log "dpkg-query not found; skipping dependency check (not a Debian system?)"
        return 0
    fi
    for p in "${pkgs[@]}"; do
        _pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    _lib_log "installing missing packages: ${missing[*]}"
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || _lib_die "not root and sudo unavailable; install: ${missing[*]}" || return 1
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv DIR REQ...: a virtual environment in DIR (under a build tree) holding exactly the
# pinned requirements files REQ..., which must list every dependency (pip install --no-deps -r
# each, in order, then pip check).
# Reinstalled from scratch when the files change (a stamp of their sha256 in DIR).
ensure_venv() {
    local dir="$1"
    shift
    local want have py
    want="$(cat "$@" | sha256sum | cut -d' ' -f1)"
    have="$(cat "$dir/.memoryd-venv-stamp" 2>/dev/null || true)"
    if [[ -x "$dir/bin/python" && "$want" == "$have" ]]; then
        return 0
    fi
    # Debian's python3 (ensure_deps installs it with python3-venv), else the first on PATH.
    py=/usr/bin/python3
    [[ -x "$py" ]] || py="$(command -v python3)"
    _lib_log "creating Python environment $dir from $*"
    rm -rf "$dir"
    "$py" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
    local req
    # --no-deps: exactly the pinned versions, nothing resolved on the day;
    # pip check then fails when a pin list misses a dependency.
    for req in "$@"; do
        "$dir/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$req"
    done
    "$dir/bin/python" -m pip check >&2 || _lib_die "$* miss a dependency (pip check above)" || return 1
    echo "$want" >"$dir/.memoryd-venv-stamp"
}

# ---------------------------------------------------------------------------------------------
# Processes and ports
# ---------------------------------------------------------------------------------------------

# pid_alive PID: process exists and is not a zombie (a dead child stays a zombie until waited).
pid_alive() {
    local pid="$1" stat
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"          # drop "pid (comm) "; comm may contain spaces/parens
    [[ "${stat%% *}" != Z ]]
}

# _port_in_use PORT: true if anything on this host uses the TCP port (any state, any address).
_port_in_use() {
    local port="$1"
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]] && return 0
        return 1
    fi
    # Fallback: try to connect on loopback.
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    return 1
}

# free_port: print a TCP port that is currently unused on loopback.
# Picks randomly from 15000..32767 (below the Linux ephemeral range, so outgoing connections
# will not grab it), and, when python3 is available, proves it by binding it.
free_port() {
    local tries=0 port py=""
    if [[ -x /usr/bin/python3 ]]; then
        py=/usr/bin/python3
    elif command -v python3 >/dev/null 2>&1; then
        py=python3
    fi
    while ((tries < 200)); do
        tries=$((tries + 1))
        port=$((15000 + (RANDOM * 32768 + RANDOM) % 17768))
        _port_free "$port" "$py" || continue
        printf '%s\n' "$port"
        return 0
    done
    _lib_die "free_port: no free port found"
}

# _port_free PORT [PYTHON]: nothing uses PORT, and (with a python) it can be bound on loopback.
_port_free() {
    local port="$1" py="${2:-}"
    _port_in_use "$port" && return 1
    if [[ -n "$py" ]]; then
        "$py" - "$port" <<'PY' 2>/dev/null || return 1
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()
PY
    fi
    return 0
}

# free_cluster_port: a free port whose cluster bus port (port + 10000) is free too. free_port's
# ports are below 32768, so the bus port stays below 65536.
free_cluster_port() {
    local tries=0 port py=""
    [[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
    while ((tries < 200)); do
        tries=$((tries + 1))
        port="$(free_port)" || return 1
        ((port + 10000 <= 65535)) || continue
        _port_free $((port + 10000)) "$py" || continue
        printf '%s\n' "$port"
        return 0
    done
    _lib_die "free_cluster_port: no free port pair found"
}

# _stop_pid PID [TIMEOUT_S]: SIGTERM, wait (bounded), then SIGKILL; reap if it is our child.
_stop_pid() {
    local pid="$1" timeout="${2:-10}" i
    [[ -n "$pid" ]] || return 0
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < timeout * 10; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        if pid_alive "$pid"; then
            _lib_log "pid $pid did not exit after ${timeout}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                pid_alive "$pid" || break
                sleep 0.1
            done
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------

# _make_tls_pki DIR: throwaway CA + server cert for 127.0.0.1/localhost in DIR.
_make_tls_pki() {
    local dir="$1"
    (
        set -e
        cd "$dir"
        openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 2 \
            -keyout ca.key -out ca.crt -subj "/CN=memoryd-test-ca" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
        openssl req -new -nodes -newkey rsa:2048 -sha256 \
            -keyout server.key -out server.csr -subj "/CN=localhost" >/dev/null 2>&1
        cat >server.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out server.crt -days 2 -sha256 -extfile server.ext >/dev/null 2>&1
        chmod 600 ca.key server.key
    ) || _lib_die "failed to create TLS certificates in $dir"
}

# start_redis DIR PORT [--tls] [--password PW]
start_redis() {
    (($# >= 2)) || { _lib_die "usage: start_redis DIR PORT [--tls] [--password PW] [--aof]"; return 1; }
    local dir="$1" port="$2" tls=0 password="" aof=no
    shift 2
    while (($#)); do
        case "$1" in
            --tls) tls=1 ;;
            --aof) aof=yes ;;
            --password) password="${2:?--password needs a value}"; shift ;;
            *) _lib_die "start_redis: unknown option $1"; return 1 ;;
        esac
        shift
    done
    command -v redis-server >/dev/null 2>&1 || { _lib_die "redis-server not installed"; return 1; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"

    local args=(--bind 127.0.0.1 --save '' --appendonly "$aof" --appendfsync always --dir "$dir" --daemonize no
        --logfile '' --databases 16)
    local cli=(redis-cli -h 127.0.0.1 -p "$port")
    local scheme=redis
    if ((tls)); then
        _make_tls_pki "$dir" || return 1
        args+=(--port 0 --tls-port "$port" --tls-cert-file "$dir/server.crt"
            --tls-key-file "$dir/server.key" --tls-ca-cert-file "$dir/ca.crt"
            --tls-auth-clients no)
        cli+=(--tls --cacert "$dir/ca.crt")
        scheme=rediss
        export REDIS_TLS_CA_FILE="$dir/ca.crt"
    else
        args+=(--port "$port")
    fi
    local auth=""
    if [[ -n "$password" ]]; then
        args+=(--requirepass "$password")
        cli+=(-a "$password" --no-auth-warning)
        auth=":${password}@"
    fi

    local log="$dir/redis.log"
    redis-server "${args[@]}" >"$log" 2>&1 </dev/null &
    local pid=$!
    _MEMORYD_STARTED+=("redis $pid $dir")

    local i
    for ((i = 0; i < 100; i++)); do
        if ! pid_alive "$pid"; then
            _lib_log "redis-server exited early (port $port); log follows:"
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        if [[ "$("${cli[@]}" ping 2>/dev/null)" == PONG ]]; then
            # shellcheck disable=SC2034
            STARTED_REDIS_URL="${scheme}://${auth}127.0.0.1:${port}/0"
            # shellcheck disable=SC2034
            STARTED_REDIS_PID="$pid"
            _lib_log "redis ($scheme) ready on 127.0.0.1:$port (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    _lib_log "redis-server did not answer PING within 10s; log follows:"
    tail -n 30 "$log" >&2 || true
    return 1
}

# start_redis_cluster_node DIR PORT: one cluster-enabled redis-server on PORT in DIR/PORT (in the
# foreground, recorded for stop_all; cluster-node-timeout 2000), not yet part of any cluster;
# sets STARTED_REDIS_PID. start_redis_cluster's nodes, or one more (redis-cli --cluster add-node).
start_redis_cluster_node() {
    local dir="$1" port="$2"
    mkdir -p "$dir/$port"
    redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
        --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 2000 \
        --save '' --appendonly no --dir "$dir/$port" --daemonize no --logfile '' \
        --repl-diskless-sync-delay 0 --repl-ping-replica-period 1 \
        >"$dir/$port/redis.log" 2>&1 </dev/null &
    STARTED_REDIS_PID=$!
    _MEMORYD_STARTED+=("redis $STARTED_REDIS_PID $dir/$port")
}

# start_redis_cluster DIR: six cluster-enabled redis-servers on free loopback ports (each in
# DIR/<port>, in the foreground, recorded for stop_all like start_redis's), formed by
# `redis-cli --cluster create` into 3 primaries with a replica each. Returns once every node
# says cluster_state:ok, sees all six nodes in their roles, lists them all in CLUSTER SLOTS, and
# every replica's link to its primary is up.
# A node that misses its peers for 2 s is failed over (cluster-node-timeout 2000).
start_redis_cluster() {
    (($# == 1)) || { _lib_die "usage: start_redis_cluster DIR"; return 1; }
    local dir="$1" ports=() pids=() port i
    command -v redis-server >/dev/null 2>&1 || { _lib_die "redis-server not installed"; return 1; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    while ((${#ports[@]} < 6)); do
        port="$(free_cluster_port)" || return 1
        [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
    done
    for port in "${ports[@]}"; do
        start_redis_cluster_node "$dir" "$port"
        pids+=("$STARTED_REDIS_PID")
    done
    for ((i = 0; i < 6; i++)); do
        if ! _redis_cluster_until 100 "${pids[i]}" "$dir/${ports[i]}/redis.log" \
            _redis_answers "${ports[i]}"; then
            _lib_log "cluster node on port ${ports[i]} did not answer PING within 10 s"
            return 1
        fi
    done
    local nodes=() create_log="$dir/create.log"
    for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
    if ! redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
        >"$create_log" 2>&1 </dev/null; then
        _lib_log "redis-cli --cluster create failed; its output follows:"
        tail -n 30 "$create_log" >&2 || true
        return 1
    fi
    for ((i = 0; i < 6; i++)); do
        if ! _redis_cluster_until 300 "${pids[i]}" "$dir/${ports[i]}/redis.log" \
            _redis_cluster_node_ready "${ports[i]}"; then
            _lib_log "cluster node on port ${ports[i]} not ready within 30 s (state, peers or" \
                "replication link); CLUSTER INFO follows:"
            redis-cli -h 127.0.0.1 -p "${ports[i]}" CLUSTER INFO >&2 || true
            return 1
        fi
    done
    REDIS_CLUSTER_NODES="$(IFS=,; printf '%s' "${nodes[*]}")"
    export REDIS_CLUSTER_NODES
    # shellcheck disable=SC2034
    STARTED_REDIS_CLUSTER_PORTS=("${ports[@]}")
    # shellcheck disable=SC2034
    STARTED_REDIS_CLUSTER_PIDS=("${pids[@]}")
    _lib_log "redis cluster ready: $REDIS_CLUSTER_NODES (pids ${pids[*]})"
}

_redis_answers() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }

# A node is ready when it says cluster_state:ok, knows all six nodes and which three are
# replicas (gossip brings the roles redis-cli set a little later), and, as a replica, has its
# link to the primary up (so a failover test starts from replicas in sync).
_redis_cluster_node_ready() {
    local info role
    info="$(redis-cli -h 127.0.0.1 -p "$1" CLUSTER INFO 2>/dev/null | tr -d '\r')" || return 1
    [[ "$info" == *cluster_state:ok* && "$info" == *cluster_known_nodes:6* ]] || return 1
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" CLUSTER NODES 2>/dev/null |
        awk '$3 ~ /slave/' | wc -l)" == 3 ]] || return 1
    # CLUSTER SLOTS leaves out a replica whose replication offset it has not heard of yet
    # (Redis 7.0: offset 0); the primaries' pings every second (repl-ping-replica-period 1)
    # move it: ready when all six node ids are listed.
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" CLUSTER SLOTS 2>/dev/null |
        grep -cxE '[0-9a-f]{40}')" == 6 ]] || return 1
    role="$(redis-cli -h 127.0.0.1 -p "$1" INFO replication 2>/dev/null | tr -d '\r')" || return 1
    [[ "$role" == *role:master* || "$role" == *master_link_status:up* ]]
}

# _redis_cluster_until N PID LOG CMD...: CMD every 0.1 s, at most N times, while PID lives.
_redis_cluster_until() {
    local n="$1" pid="$2" log="$3" i
    shift 3
    for ((i = 0; i < n; i++)); do
        if ! pid_alive "$pid"; then
            _lib_log "redis-server (pid $pid) exited; log follows:"
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
_pg_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        printf '%s\n' "$PG_BINDIR"
    elif [[ -x /usr/lib/postgresql/15/bin/postgres ]]; then
        printf '%s\n' /usr/lib/postgresql/15/bin
    else
        local d
        for d in /usr/lib/postgresql/*/bin; do
            [[ -x "$d/postgres" ]] && { printf '%s\n' "$d"; return 0; }
        done
        command -v pg_config >/dev/null 2>&1 && { pg_config --bindir; return 0; }
        return 1
    fi
}

# _as_pg CMD...: run as the postgres user when we are root (initdb/postgres refuse root).
_as_pg() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# start_postgres DIR PORT: cluster in DIR/data, log DIR/postgres.log, unix socket in DIR.
start_postgres() {
    (($# == 2)) || { _lib_die "usage: start_postgres DIR PORT"; return 1; }
    local dir="$1" port="$2" bindir
    bindir="$(_pg_bindir)" || { _lib_die "PostgreSQL server binaries not found"; return 1; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    local data="$dir/data" log="$dir/postgres.log"
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres:postgres "$dir"
        chmod 700 "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            _lib_die "postgres user cannot write $dir (a parent directory is not traversable?)"
            return 1
        fi
    fi

    if [[ ! -f "$data/PG_VERSION" ]]; then
        if ! _as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C \
            --no-sync >"$dir/initdb.log" 2>&1; then
            _lib_log "initdb failed; log follows:"
            tail -n 30 "$dir/initdb.log" >&2 || true
            return 1
        fi
    fi

    # Unix socket paths are limited to ~107 bytes; disable the socket if DIR is too long.
    local sockdir="$dir"
    if ((${#dir} > 80)); then
        sockdir=""
    fi
    : >"$log"
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres:postgres "$log"
    fi
    local as_pg=()
    [[ "$(id -u)" == 0 ]] && as_pg=(runuser -u postgres --)
    # Not via _as_pg: a backgrounded function would be a subshell and $! would not be the server.
    "${as_pg[@]}" "$bindir/postgres" -D "$data" -p "$port" -k "$sockdir" \
        -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off >>"$log" 2>&1 </dev/null &
    local pid=$!
    _MEMORYD_STARTED+=("pg $pid $data")

    local i pg_isready=pg_isready
    [[ -x "$bindir/pg_isready" ]] && pg_isready="$bindir/pg_isready"
    for ((i = 0; i < 300; i++)); do
        if ! pid_alive "$pid"; then
            _lib_log "postgres exited early (port $port); log follows:"
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        if "$pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -t 1 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if ((i >= 300)); then
        _lib_log "postgres not ready within 30s; log follows:"
        tail -n 30 "$log" >&2 || true
        return 1
    fi
    local exists
    exists="$(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtq \
        -c "SELECT 1 FROM pg_database WHERE datname = 'memoryd'")" || {
        _lib_die "cannot query postgres on port $port"
        return 1
    }
    if [[ "$exists" != 1 ]]; then
        psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtq \
            -c "CREATE DATABASE memoryd" >/dev/null || { _lib_die "CREATE DATABASE failed"; return 1; }
    fi
    # shellcheck disable=SC2034
    STARTED_DATABASE_URL="postgresql://postgres@127.0.0.1:${port}/memoryd"
    # shellcheck disable=SC2034
    STARTED_PG_PID="$pid"
    _lib_log "postgres ready on 127.0.0.1:$port (pid $pid)"
}

_stop_postgres() {
    local pid="$1" data="$2" bindir postmaster="" i
    if [[ -f "$data/postmaster.pid" ]]; then
        postmaster="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
    fi
    if [[ -n "$postmaster" ]] && pid_alive "$postmaster"; then
        if bindir="$(_pg_bindir)"; then
            _as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null 2>&1 || true
        fi
        if pid_alive "$postmaster"; then
            kill -INT "$postmaster" 2>/dev/null || true # fast shutdown
            for ((i = 0; i < 100; i++)); do
                pid_alive "$postmaster" || break
                sleep 0.1
            done
            if pid_alive "$postmaster"; then
                kill -KILL "$postmaster" 2>/dev/null || true
            fi
        fi
    fi
    # Reap our child (runuser wrapper or postgres itself).
    for ((i = 0; i < 50; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# stop_all: stop everything started by start_redis/start_postgres, newest first. Idempotent.
# ---------------------------------------------------------------------------------------------
stop_all() {
    local n=${#_MEMORYD_STARTED[@]} i kind pid path
    for ((i = n - 1; i >= 0; i--)); do
        read -r kind pid path <<<"${_MEMORYD_STARTED[i]}"
        case "$kind" in
            redis) _stop_pid "$pid" 10 ;;
            pg) _stop_postgres "$pid" "$path" ;;
        esac
    done
    _MEMORYD_STARTED=()
    return 0
}
