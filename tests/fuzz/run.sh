#!/usr/bin/env bash
# Build one libFuzzer target with clang (-fsanitize=fuzzer,address,undefined) into build-fuzz/
# and run it for a bounded time on a copy of its seed corpus. Fails on any crash, broken
# invariant, leak, timeout or out-of-memory, and prints the reproducer.
#
#   tests/fuzz/run.sh <target>          target: json_scan checkpoint_bodies ids b64 redis_url
#                                       database_url tokens conversation_bodies memory_bodies
#                                       cluster
#
# FUZZ_SECONDS (default 20) bounds the run; 0 runs the seed corpus once and stops.
# FUZZ_CC (default clang) is the compiler. ctest runs one target per test (tests/fuzz/CMakeLists.txt).
# Reproduce a failure:  build-fuzz/fuzz_<target> build-fuzz/artifacts/<target>/crash-...
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/build-fuzz"
CC="${FUZZ_CC:-clang}"
SECONDS_BUDGET="${FUZZ_SECONDS:-20}"

die() {
    echo "tests/fuzz/run.sh: $*" >&2
    exit 1
}

(($# == 1)) || die "usage: tests/fuzz/run.sh <target>"
TARGET="$1"
[[ "$SECONDS_BUDGET" =~ ^[0-9]+$ ]] || die "FUZZ_SECONDS must be a whole number of seconds"

# What each target links (only what it needs, so unrelated dependencies of common/ never
# reach a fuzz build), the largest input worth trying, and whether it needs jansson
# (for differential checks, not for the code under test).
common=(common/buf.c common/error.c common/xalloc.c)
jansson=0 pkgs=() # pkgs: pkg-config names the code under test links
case "$TARGET" in
json_scan)
    srcs=(common/json_scan.c common/ids.c)
    max_len=4096 jansson=1 dicts=(json.dict)
    ;;
checkpoint_bodies)
    srcs=(api/body.c common/json_scan.c common/b64.c common/ids.c)
    max_len=65536 jansson=1 dicts=(json.dict checkpoint_bodies.dict)
    ;;
ids)
    srcs=(common/ids.c common/json_scan.c common/log.c)
    max_len=1024 dicts=()
    ;;
b64)
    srcs=(common/b64.c)
    max_len=4096 dicts=()
    ;;
redis_url)
    srcs=(common/redis_url.c common/ids.c)
    max_len=512 dicts=(redis_url.dict)
    ;;
database_url)
    srcs=(service/pg/url.c)
    max_len=512 dicts=(database_url.dict) pkgs=(libpq)
    ;;
tokens)
    srcs=(common/tokens.c)
    max_len=512 dicts=() pkgs=(openssl)
    ;;
conversation_bodies)
    srcs=(api/conv_body.c api/body.c common/b64.c common/json_scan.c common/ids.c common/log.c
        service/conversation.c)
    max_len=16384 jansson=1 dicts=(json.dict conversation_bodies.dict)
    ;;
memory_bodies)
    srcs=(api/memory_body.c api/body.c common/b64.c common/json_scan.c common/ids.c common/log.c
        service/memory.c)
    max_len=16384 jansson=1 dicts=(json.dict memory_bodies.dict)
    ;;
cluster)
    srcs=(service/redis/cluster.c)
    max_len=4096 dicts=(cluster.dict) pkgs=(hiredis)
    ;;
*)
    die "unknown target '$TARGET' (json_scan checkpoint_bodies ids b64 redis_url database_url tokens conversation_bodies memory_bodies cluster)"
    ;;
esac
srcs=("${common[@]}" "${srcs[@]}" "tests/fuzz/fuzz_$TARGET.c")

command -v "$CC" >/dev/null 2>&1 ||
    die "$CC not found: install clang and libclang-rt-14-dev (scripts/lib.sh ensure_deps does)"
cflags=(-std=gnu11 -g -O1 -fno-omit-frame-pointer "-fsanitize=fuzzer,address,undefined"
    -fno-sanitize-recover=all -Wall -Wextra -Wshadow)
libs=()
if ((jansson)); then
    read -r -a jflags <<<"$(pkg-config --cflags jansson)"
    read -r -a libs <<<"$(pkg-config --libs jansson)"
    cflags+=("${jflags[@]}")
fi
for pkg in "${pkgs[@]}"; do
    read -r -a pflags <<<"$(pkg-config --cflags "$pkg")"
    read -r -a plibs <<<"$(pkg-config --libs "$pkg")"
    cflags+=("${pflags[@]}")
    libs+=("${plibs[@]}")
done

# (1) Build, once per change of the sources, headers, flags or compiler. A lock per target
# keeps concurrent runs (ctest -j, two checkouts' ctest) from racing on one binary.
mkdir -p "$OUT"
bin="$OUT/fuzz_$TARGET"
exec 9>"$OUT/.fuzz_$TARGET.lock"
flock 9
stamp="$(
    cd "$ROOT"
    {
        "$CC" --version
        echo "${cflags[*]} ${libs[*]}"
        cat "${srcs[@]}" common/*.h api/*.h service/*.h service/redis/*.h tests/fuzz/fuzz.h
    } | sha256sum | cut -d' ' -f1
)"
if [[ ! -x "$bin" || "$(cat "$bin.stamp" 2>/dev/null || true)" != "$stamp" ]]; then
    echo "tests/fuzz/run.sh: building $bin" >&2
    (cd "$ROOT" && "$CC" "${cflags[@]}" "${srcs[@]}" "${libs[@]}" -o "$bin.tmp")
    mv -f "$bin.tmp" "$bin"
    echo "$stamp" >"$bin.stamp"
fi
flock -u 9

# (2) Run on a copy of the seed corpus, so the run never grows the checked-in one.
work="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-fuzz-$TARGET.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp -R "$HERE/corpus/$TARGET/." "$work/corpus/"
args=(-max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$work/artifacts/")
if ((SECONDS_BUDGET > 0)); then
    args+=(-max_total_time="$SECONDS_BUDGET")
else
    args+=(-runs=0)
fi
if ((${#dicts[@]})); then
    for d in "${dicts[@]}"; do cat "$HERE/$d"; done >"$work/dict"
    args+=(-dict="$work/dict")
fi

echo "tests/fuzz/run.sh: fuzz_$TARGET for ${SECONDS_BUDGET}s, max_len $max_len" >&2
rc=0
"$bin" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || rc=$?

shopt -s nullglob
found=("$work"/artifacts/*)
if ((rc == 0 && ${#found[@]} == 0)); then
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)' \
        "$work/log" >&2 || true
    echo "tests/fuzz/run.sh: fuzz_$TARGET passed" >&2
    exit 0
fi

# A failure: show what libFuzzer said, keep the reproducer, say how to replay it.
grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$work/log" | tail -n 80 >&2
keep="$OUT/artifacts/$TARGET"
mkdir -p "$keep"
for f in "${found[@]}"; do
    cp "$f" "$keep/"
    echo "--- reproducer $keep/$(basename "$f") ($(wc -c <"$f") bytes), base64:" >&2
    base64 -w 76 "$f" | head -n 40 >&2
done
echo "tests/fuzz/run.sh: fuzz_$TARGET FAILED (libFuzzer exit $rc). Replay with:" >&2
for f in "${found[@]}"; do
    echo "  $bin $keep/$(basename "$f")" >&2
done
exit 1
