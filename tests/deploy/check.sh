#!/usr/bin/env bash
# Usage: tests/deploy/check.sh CHECK
# Offline checks of the deployment files (no Docker engine, no cluster), one per ctest:
#   kustomize       `kubectl kustomize` builds k8s/base and every k8s/overlays/*
#   k8s-schemas     every built object validates against the Kubernetes schemas
#                   (kubernetes-models), has no unknown field, and the objects agree with
#                   each other and with README.md's configuration table (validate-k8s.mjs)
#   yamllint        yamllint --strict on k8s/, docker-compose.yml and alerts-test.yaml (.yamllint)
#   compose         docker-compose.yml against the Compose schema (validate-compose.mjs)
#   dockerfile-lint dockerfile-utils' lint of the Dockerfile, plus the image's must-haves
#   runtime-libs [BINARY]
#                   every library the memoryd binary links ($MEMORYD_BIN, else BINARY, else
#                   build/memoryd) comes from a package that the runtime stage's apt-get
#                   install names, or that debian:bookworm-slim already has
#                   (bookworm-slim.packages)
#   docker-build    replay the Dockerfile's build stage on this tree (its COPYs, honouring
#                   .dockerignore, and its cmake RUN); check that its apt-get install names
#                   the package of every pkg-config module CMakeLists.txt uses; then
#                   runtime-libs on the Release binary it built
#   prometheus-rules [CACHE_DIR]
#                   promtool (Debian's prometheus package, unpacked into CACHE_DIR unless on
#                   PATH) checks the built PrometheusRule and runs alerts-test.yaml, rule unit
#                   tests that show each alert fire after its `for` and not without cause
#   config-env [BINARY]
#                   memoryd ($MEMORYD_BIN, else BINARY) starts with the environment each
#                   build gives its pods (ConfigMap + Secret; the stores' hosts replaced by a
#                   closed loopback port): no value it refuses, but for the example
#                   Secret's CHANGE_ME tokens, which must stop it (naming the variable)
#   healthcheck     the Dockerfile's HEALTHCHECK command, run as is against a real memoryd
#                   ($MEMORYD_URL, from tests/with-memoryd.sh), passes; against a closed port
#                   or a server answering 503 it fails
# The Node checks need tests/deploy/node_modules: scripts/test installs it (npm ci).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DOCKERFILE="$ROOT/Dockerfile"

die() {
    echo "check.sh: $*" >&2
    exit 1
}

TMP=""
# shellcheck disable=SC2317  # invoked via trap
cleanup() { [[ -n "$TMP" ]] && rm -rf "$TMP"; }
trap cleanup EXIT
TMP="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-deploy.XXXXXX")"

# need_tool CMD DEBIAN_PACKAGE: install the package with apt-get when CMD is missing.
need_tool() {
    local cmd="$1" pkg="$2"
    command -v "$cmd" >/dev/null 2>&1 && return 0
    [[ "$(id -u)" == 0 ]] || die "$cmd not found; install the Debian package $pkg"
    echo "check.sh: $cmd not found; installing $pkg" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd still not found after installing $pkg"
}

need_node_modules() {
    [[ -d "$HERE/node_modules/kubernetes-models" && -d "$HERE/node_modules/dockerfile-utils" ]] ||
        die "tests/deploy/node_modules is missing: run scripts/test, or (cd tests/deploy && npm ci)"
}

# The kustomizations: k8s/base, then each overlay, as paths relative to k8s/.
kustomizations() {
    local d
    echo base
    for d in "$ROOT"/k8s/overlays/*/; do
        [[ -f "$d/kustomization.yaml" ]] && echo "overlays/$(basename "$d")"
    done
}

# build_all: kubectl kustomize each one into $TMP/<name with / as _>.yaml.
build_all() {
    need_tool kubectl kubernetes-client
    local k out failed=0
    while read -r k; do
        out="$TMP/${k//\//_}.yaml"
        # kubectl >= 1.27 warns on stderr about commonLabels, bases and patchesStrategicMerge,
        # which the kustomizations keep for kubectl 1.20 (Debian's kubernetes-client).
        if ! kubectl kustomize "$ROOT/k8s/$k" >"$out" 2>"$TMP/stderr"; then
            echo "FAIL kubectl kustomize k8s/$k:" >&2
            cat "$TMP/stderr" >&2
            failed=1
            continue
        fi
        if ! grep -q '^kind: ' "$out"; then
            echo "FAIL kubectl kustomize k8s/$k: no objects" >&2
            failed=1
            continue
        fi
        echo "k8s/$k: $(grep -c '^kind: ' "$out") objects ($(grep '^kind: ' "$out" | sort | uniq -c |
            awk '{printf "%s%s %s", sep, $1, $3; sep=", "}'))"
    done < <(kustomizations)
    return "$failed"
}

check_kustomize() {
    kubectl version --client 2>/dev/null | head -n 1 || true
    build_all
}

check_k8s_schemas() {
    need_node_modules
    build_all >/dev/null
    # The demo and ha overlays bring their own Redis and PostgreSQL: memoryd's hosts must
    # name them.
    local args=(--readme "$ROOT/README.md" --self-contained overlays/demo --self-contained overlays/ha) k
    while read -r k; do
        args+=("$k=$TMP/${k//\//_}.yaml")
    done < <(kustomizations)
    (cd "$HERE" && node validate-k8s.mjs "${args[@]}")
}

check_yamllint() {
    need_tool yamllint yamllint
    (cd "$ROOT" && yamllint --version && yamllint --strict --config-file .yamllint k8s docker-compose.yml \
        tests/deploy/alerts-test.yaml)
    echo "yamllint: k8s/, docker-compose.yml and tests/deploy/alerts-test.yaml clean"
}

check_compose() {
    need_node_modules
    (cd "$HERE" && node validate-compose.mjs "$ROOT/docker-compose.yml" "$ROOT/README.md")
}

check_dockerfile_lint() {
    need_node_modules
    (cd "$HERE" && node dockerfile.mjs lint "$DOCKERFILE")
}

# path_variants FILE: the names dpkg may know FILE by (usrmerge: /lib or /usr/lib; symlinks).
path_variants() {
    local f="$1" c
    for c in "$f" "$(readlink -f "$f")"; do
        printf '%s\n' "$c"
        case "$c" in
            /usr/*) printf '%s\n' "${c#/usr}" ;;
            *) printf '%s\n' "/usr$c" ;;
        esac
    done
}

# runtime_libs BINARY: every package behind `ldd BINARY` is installed by the runtime stage.
runtime_libs() {
    local bin="$1" lib pkg failed=0
    [[ -x "$bin" ]] || die "$bin is not an executable (build memoryd first, or set MEMORYD_BIN)"
    command -v dpkg >/dev/null 2>&1 || die "dpkg not found: this check maps libraries to Debian packages"
    local -A installs=() slim=()
    while read -r pkg; do installs["$pkg"]=1; done < <(cd "$HERE" && node dockerfile.mjs runtime-packages "$DOCKERFILE")
    ((${#installs[@]})) || die "the runtime stage of the Dockerfile installs no package"
    while read -r pkg; do
        [[ -z "$pkg" || "$pkg" == \#* ]] || slim["$pkg"]=1
    done <"$HERE/bookworm-slim.packages"
    echo "runtime stage installs: ${!installs[*]}"
    echo "libraries of $bin:"
    local ldd_out libs=() paths=() line
    ldd_out="$(ldd "$bin")" || die "ldd $bin failed"
    mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out")
    ((${#libs[@]})) || die "ldd listed no library of $bin"
    for lib in "${libs[@]}"; do mapfile -t -O "${#paths[@]}" paths < <(path_variants "$lib"); done
    # One dpkg -S for all: "libssl3:amd64: /usr/lib/x86_64-linux-gnu/libssl.so.3".
    local -A owner=()
    while IFS= read -r line; do
        [[ "$line" == *": /"* ]] || continue
        pkg="${line%%: /*}"
        pkg="${pkg%%,*}" # several owners: the first
        owner["/${line#*: /}"]="${pkg%%:*}"
    done < <(dpkg -S "${paths[@]}" 2>/dev/null || true)
    for lib in "${libs[@]}"; do
        case "$(basename "$lib")" in
            libasan.so* | libubsan.so* | liblsan.so* | libtsan.so*)
                echo "  $lib: sanitizer runtime of a test build (not in a Release build); skipped"
                continue
                ;;
        esac
        pkg=""
        while read -r line; do
            [[ -n "${owner[$line]:-}" ]] && { pkg="${owner[$line]}"; break; }
        done < <(path_variants "$lib")
        if [[ -z "$pkg" ]]; then
            echo "  FAIL $lib: no Debian package owns it"
            failed=1
        elif [[ "$pkg" == libc6 ]]; then
            echo "  $lib: libc6 (in every Debian image)"
        elif [[ -n "${installs[$pkg]:-}" ]]; then
            echo "  $lib: $pkg, installed by the runtime stage"
        elif [[ -n "${slim[$pkg]:-}" ]]; then
            echo "  $lib: $pkg, already in debian:bookworm-slim"
        else
            echo "  FAIL $lib: $pkg is not on the runtime stage's apt-get install line"
            failed=1
        fi
    done
    # With apt's package lists at hand, every package named must exist in this release.
    if apt-cache show libc6 >/dev/null 2>&1; then
        local -A known=()
        while read -r _ pkg; do known["$pkg"]=1; done < <(apt-cache show --no-all-versions \
            "${!installs[@]}" 2>/dev/null | grep '^Package: ')
        for pkg in "${!installs[@]}"; do
            if [[ -z "${known[$pkg]:-}" ]]; then
                echo "  FAIL $pkg (runtime stage): no such package in this Debian release"
                failed=1
            fi
        done
    else
        echo "  (no apt package lists here: not checking that the named packages exist)"
    fi
    if ((failed)); then
        echo "runtime-libs: the runtime stage misses libraries of $bin"
        return 1
    fi
    echo "runtime-libs: every library of $bin is in the runtime image"
}

check_runtime_libs() {
    need_node_modules
    runtime_libs "${MEMORYD_BIN:-${1:-$ROOT/build/memoryd}}"
}

check_docker_build() {
    need_node_modules
    local bin
    echo "replaying the Dockerfile's build stage in $TMP/image"
    bin="$(cd "$HERE" && node dockerfile.mjs build-stage "$DOCKERFILE" "$ROOT" "$TMP/image")" ||
        die "the build stage failed (see above)"
    echo "built $bin"
    build_deps
    runtime_libs "$bin"
}

# build_deps: every pkg-config module CMakeLists.txt asks for comes from a package that the
# build stage's apt-get install names.
build_deps() {
    local -A installs=()
    local pkg mod pc failed=0
    while read -r pkg; do installs["$pkg"]=1; done < <(cd "$HERE" && node dockerfile.mjs build-packages "$DOCKERFILE")
    ((${#installs[@]})) || die "the build stage of the Dockerfile installs no package"
    echo "build stage installs: ${!installs[*]}"
    # pkg_check_modules(PREFIX [REQUIRED] [QUIET] [IMPORTED_TARGET [GLOBAL]] module[>=ver]...)
    while read -r mod; do
        if ! pc="$(pkg-config --path "$mod" 2>/dev/null)"; then
            echo "  FAIL pkg-config module $mod: not found here"
            failed=1
            continue
        fi
        pkg="$(dpkg -S "$pc" 2>/dev/null | head -n 1)" || true
        pkg="${pkg%%: *}"
        pkg="${pkg%%:*}"
        if [[ -z "$pkg" ]]; then
            echo "  FAIL pkg-config module $mod ($pc): no Debian package owns it"
            failed=1
        elif [[ -n "${installs[$pkg]:-}" ]]; then
            echo "  pkg-config module $mod: $pkg, installed by the build stage"
        else
            echo "  FAIL pkg-config module $mod: $pkg is not on the build stage's apt-get install line"
            failed=1
        fi
    done < <(tr '\n' ' ' <"$ROOT/CMakeLists.txt" | grep -o 'pkg_check_modules([^)]*)' |
        sed -e 's/^pkg_check_modules(//' -e 's/)$//' | awk '{
            for (i = 2; i <= NF; i++) {
                if ($i ~ /^(REQUIRED|QUIET|IMPORTED_TARGET|GLOBAL|NO_CMAKE_PATH|NO_CMAKE_ENVIRONMENT_PATH)$/) continue
                sub(/[<>=].*$/, "", $i); print $i
            }
        }')
    return "$failed"
}

# promtool: on PATH, else the one tests/ops unpacked, else unpack Debian's prometheus into
# CACHE_DIR/prometheus-pkg (kept for the next run).
find_promtool() {
    local cache="$1" p
    if p="$(command -v promtool)"; then
        echo "$p"
        return 0
    fi
    for p in "$cache/../../prometheus-pkg/usr/bin/promtool" "$cache/prometheus-pkg/usr/bin/promtool"; do
        [[ -x "$p" ]] && { echo "$p"; return 0; }
    done
    command -v apt-get >/dev/null 2>&1 || die "promtool not found and no apt-get to fetch Debian's prometheus"
    rm -rf "$cache/prometheus-pkg" && mkdir -p "$cache/prometheus-pkg"
    if ! (cd "$cache/prometheus-pkg" && apt-get download prometheus >/dev/null 2>&1); then
        apt-get update -qq >/dev/null && (cd "$cache/prometheus-pkg" && apt-get download prometheus >/dev/null)
    fi
    dpkg -x "$cache"/prometheus-pkg/prometheus_*.deb "$cache/prometheus-pkg"
    echo "$cache/prometheus-pkg/usr/bin/promtool"
}

check_prometheus_rules() {
    need_node_modules
    local cache="${1:-$TMP}" promtool k f failed=0
    mkdir -p "$cache"
    promtool="$(find_promtool "$(cd "$cache" && pwd)")"
    "$promtool" --version 2>&1 | head -n 1
    build_all >/dev/null
    while read -r k; do
        local dir="$TMP/rules-${k//\//_}"
        mkdir -p "$dir"
        while read -r f; do
            echo "k8s/$k: $(basename "$f")"
            "$promtool" check rules "$f" || failed=1
        done < <(cd "$HERE" && node extract.mjs rules "$TMP/${k//\//_}.yaml" "$dir")
        cp "$HERE/alerts-test.yaml" "$dir/"
        "$promtool" test rules "$dir/alerts-test.yaml" || failed=1
    done < <(kustomizations)
    return "$failed"
}

check_config_env() {
    need_node_modules
    local bin="${MEMORYD_BIN:-${1:-$ROOT/build/memoryd}}" k vars=() failed=0
    [[ -x "$bin" ]] || die "$bin is not an executable (build memoryd first, or set MEMORYD_BIN)"
    build_all >/dev/null
    local keep=(PATH="$PATH" HOME="${HOME:-/root}" MEMORYD_BIN="$bin")
    [[ -n "${ASAN_OPTIONS:-}" ]] && keep+=(ASAN_OPTIONS="$ASAN_OPTIONS")
    [[ -n "${UBSAN_OPTIONS:-}" ]] && keep+=(UBSAN_OPTIONS="$UBSAN_OPTIONS")
    # The stores' URLs keep all but host and port, which become a closed loopback port: no
    # other machine is contacted. memoryd starts anyway and answers /healthz (readiness waits
    # for the store); a value it refuses stops it at once. with-memoryd.sh also replaces PORT
    # and BIND_ADDRESS with a free loopback port.
    local closed
    # shellcheck source=scripts/lib.sh
    closed="$(. "$ROOT/scripts/lib.sh" && free_port)"
    while read -r k; do
        mapfile -d '' vars < <(cd "$HERE" && node extract.mjs env "$TMP/${k//\//_}.yaml" "$closed")
        ((${#vars[@]})) || { echo "FAIL k8s/$k: no environment for memoryd"; failed=1; continue; }
        # A token still holding the example's CHANGE_ME placeholder must stop start-up,
        # naming its variable; with the placeholders replaced, memoryd starts.
        local i placeholder=()
        for i in "${!vars[@]}"; do
            case "${vars[i]}" in
                API_TOKENS=*CHANGE_ME* | ADMIN_TOKEN=*CHANGE_ME*)
                    placeholder+=("${vars[i]%%=*}")
                    vars[i]="${vars[i]%%=*}=$(printf 'replaced-%s-0123456789' "${vars[i]%%=*}")"
                    [[ "${vars[i]}" == API_TOKENS=* ]] && vars[i]+=":*"
                    ;;
            esac
        done
        if ((${#placeholder[@]})); then
            local pv=() v
            mapfile -d '' pv < <(cd "$HERE" && node extract.mjs env "$TMP/${k//\//_}.yaml" "$closed")
            if env -i "${keep[@]}" "${pv[@]}" "$ROOT/tests/with-memoryd.sh" true 2>"$TMP/refused.log"; then
                echo "FAIL k8s/$k: memoryd starts with the CHANGE_ME placeholders of ${placeholder[*]}"
                failed=1
            else
                v="$(grep -o '"variable":"[A-Z_]*"' "$TMP/refused.log" | head -n 1)"
                if grep -q placeholder "$TMP/refused.log" && [[ " ${placeholder[*]} " == *" ${v:12:-1} "* ]]; then
                    echo "k8s/$k: memoryd refuses the placeholder of ${v:12:-1} at start-up"
                else
                    echo "FAIL k8s/$k: memoryd stopped, but not for the placeholders of ${placeholder[*]}"
                    cat "$TMP/refused.log"
                    failed=1
                fi
            fi
        fi
        if env -i "${keep[@]}" "${vars[@]}" "$ROOT/tests/with-memoryd.sh" true; then
            echo "k8s/$k: memoryd starts with the pods' ${#vars[@]} variables (${vars[*]%%=*})${placeholder[*]:+, placeholders of ${placeholder[*]} replaced}"
        else
            echo "FAIL k8s/$k: memoryd does not start with the environment its pods get"
            failed=1
        fi
    done < <(kustomizations)
    return "$failed"
}

check_healthcheck() {
    need_node_modules
    [[ -n "${MEMORYD_URL:-}" ]] || die "MEMORYD_URL unset: run under tests/with-memoryd.sh"
    local port="${MEMORYD_URL##*:}" words=()
    port="${port%%/*}"
    mapfile -d '' words < <(cd "$HERE" && node dockerfile.mjs healthcheck "$DOCKERFILE")
    ((${#words[@]})) || die "no HEALTHCHECK command"
    echo "HEALTHCHECK: ${words[*]}"
    # The image runs memoryd on PORT (default 8080); here it is on $port.
    if ! PORT="$port" timeout 5 "${words[@]}"; then
        die "the HEALTHCHECK command fails against a healthy memoryd on port $port"
    fi
    echo "passes against memoryd on port $port"
    # And it must notice when nothing answers, and when something answers but not 200.
    local closed other pid i
    # shellcheck source=scripts/lib.sh
    closed="$(. "$ROOT/scripts/lib.sh" && free_port)"
    if PORT="$closed" timeout 5 "${words[@]}" 2>/dev/null; then
        die "the HEALTHCHECK command passes with nothing listening on port $closed"
    fi
    echo "fails with nothing on port $closed"
    command -v python3 >/dev/null 2>&1 || die "python3 not found (for a server that answers 503)"
    # shellcheck source=scripts/lib.sh
    other="$(. "$ROOT/scripts/lib.sh" && free_port)"
    timeout 30 python3 - "$other" <<'PY' &
import http.server, sys
class Unhealthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.end_headers()
        self.wfile.write(b"unhealthy\n")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Unhealthy).serve_forever()
PY
    pid=$!
    for ((i = 0; i < 50; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$other") 2>/dev/null && break
        sleep 0.1
    done
    local passed=0
    PORT="$other" timeout 5 "${words[@]}" 2>/dev/null && passed=1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    ((passed == 0)) || die "the HEALTHCHECK command passes against a server answering 503 (port $other)"
    echo "fails against a server answering 503 on port $other"
}

case "${1:-}" in
    kustomize) check_kustomize ;;
    k8s-schemas) check_k8s_schemas ;;
    yamllint) check_yamllint ;;
    compose) check_compose ;;
    dockerfile-lint) check_dockerfile_lint ;;
    runtime-libs) check_runtime_libs "${2:-}" ;;
    docker-build) check_docker_build ;;
    prometheus-rules) check_prometheus_rules "${2:-}" ;;
    config-env) check_config_env "${2:-}" ;;
    healthcheck) check_healthcheck ;;
    *)
        echo "usage: $0 kustomize|k8s-schemas|yamllint|compose|dockerfile-lint|runtime-libs [BINARY]|docker-build|\
prometheus-rules [CACHE_DIR]|config-env [BINARY]|healthcheck" >&2
        exit 2
        ;;
esac
