# Shared by bench/run.sh and bench/groups.sh: the private PostgreSQL cluster
# (durable settings: fsync, synchronous_commit and full_page_writes on),
# starting and stopping scimgate and the example receiver, and tidy exits.
# Everything listens on 127.0.0.1, on ports below the kernel's ephemeral range.
# shellcheck shell=bash

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BUILD=${BUILD:-$ROOT/build/bench}
SCIMGATE=$BUILD/scimgate
LOADGEN=$BUILD/bench/scimgate-load
RECEIVER=$BUILD/webhooks/example-receiver/scimgate-receiver

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# bench_port : a free loopback port in 20000..32000 (below ip_local_port_range).
bench_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port"
}

# PIDs started here, stopped in reverse order by bench_cleanup.
BENCH_PIDS=()
BENCH_PGDIR=""

bench_cleanup() {
    local i
    [ -z "${BENCH_CLEANED:-}" ] || return 0
    BENCH_CLEANED=1
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${BENCH_PIDS[i]}" 2>/dev/null || true
    done
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        for _ in $(seq 1 50); do kill -0 "${BENCH_PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${BENCH_PIDS[i]}" 2>/dev/null || true
    done
    BENCH_PIDS=()
    if [ -n "$BENCH_PGDIR" ] && [ -f "$BENCH_PGDIR/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$BENCH_PGDIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [ -n "$BENCH_PGDIR" ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$BENCH_PGDIR"; fi
}

# bench_watchdog SECONDS : ends the run if it is still going after SECONDS:
# SIGTERM to this shell (its trap stops everything it started); if a child
# holds the shell up (bash runs traps only between commands), SIGTERM to this
# shell's children 15 s later.
bench_watchdog() {
    local limit=$1 me=$$
    ( sleep "$limit" && kill -0 "$me" 2>/dev/null &&
        printf 'bench: watchdog: still running after %s s, stopping\n' "$limit" >&2 &&
        kill -TERM "$me" && sleep 15 && kill -0 "$me" 2>/dev/null &&
        pkill -TERM -P "$me" ) &
    BENCH_WATCHDOG=$!
    disown "$BENCH_WATCHDOG" 2>/dev/null || true
}

bench_build() {
    say "building scimgate in ${BUILD#"$ROOT"/} (RelWithDebInfo, -O2, no sanitizers)"
    mkdir -p "$BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCIMGATE_SANITIZE=OFF \
        -DSCIMGATE_TESTS=OFF -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g -DNDEBUG" >"$BUILD/cmake.log" 2>&1 ||
        { cat "$BUILD/cmake.log"; die "cmake failed"; }
    cmake --build "$BUILD" -j"$(nproc)" --target scimgate scimgate-receiver scimgate-load \
        >"$BUILD/build.log" 2>&1 || { tail -n 40 "$BUILD/build.log"; die "build failed"; }
}

# bench_pg_start DIR [postgres -c settings...] : a fresh durable cluster in
# DIR; sets PGPORT_BENCH and DATABASE_URL.
bench_pg_start() {
    local dir=$1; shift
    BENCH_PGDIR=$dir
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    local p=$dir
    while [ "$(id -u)" = 0 ] && [ "$p" != / ]; do
        p=$(dirname "$p")
        runuser -u postgres -- test -x "$p" 2>/dev/null || chmod o+x "$p"
    done
    as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; die "initdb failed"; }
    local opts="-c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on"
    opts+=" -c full_page_writes=on -c max_connections=300 -c shared_buffers=256MB"
    opts+=" -c max_wal_size=2GB -c checkpoint_timeout=30min"
    local extra
    for extra in "$@"; do opts+=" -c $extra"; done
    for _ in 1 2 3 4 5; do
        PGPORT_BENCH=$(bench_port)
        if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $PGPORT_BENCH -k $dir $opts" start >/dev/null; then
            DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT_BENCH/scimgate"
            export DATABASE_URL
            "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT_BENCH" -U postgres scimgate
            return 0
        fi
    done
    tail -n 20 "$dir/server.log"
    die "PostgreSQL did not start"
}

bench_psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$DATABASE_URL" "$@"; }

# bench_orgs N TOKENS_FILE NAME : creates N organizations and one token each
# through the CLI; appends "org_id token" lines.
bench_orgs() {
    local n=$1 file=$2 name=$3 i org tok
    for ((i = 0; i < n; i++)); do
        org=$("$SCIMGATE" org create --name "$name $i" 2>/dev/null |
            sed -n 's/^  "id": "\(org_[^"]*\)".*/\1/p')
        [ -n "$org" ] || die "org create failed"
        tok=$("$SCIMGATE" token issue "$org" --name "Okta - load $i" 2>/dev/null |
            sed -n 's/^  "token": "\([^"]*\)".*/\1/p')
        [ -n "$tok" ] || die "token issue failed"
        echo "$org $tok" >>"$file"
    done
}

# bench_serve LOG [env assignments...] : starts scimgate serve --with-worker
# on a free port; sets SCIM_URL and SERVE_PID; waits for /readyz.
bench_serve() {
    local log=$1; shift
    SERVE_PORT=$(bench_port)
    SCIM_URL="http://127.0.0.1:$SERVE_PORT"
    env SCIMGATE_LISTEN="127.0.0.1:$SERVE_PORT" SCIMGATE_LOG_LEVEL=warn "$@" \
        "$SCIMGATE" serve --with-worker >"$log" 2>&1 &
    SERVE_PID=$!
    BENCH_PIDS+=("$SERVE_PID")
    for _ in $(seq 1 100); do
        curl -sf "$SCIM_URL/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || { tail -n 20 "$log"; die "scimgate exited"; }
        sleep 0.1
    done
    tail -n 20 "$log"
    die "scimgate did not become ready"
}

bench_serve_stop() {
    [ -n "${SERVE_PID:-}" ] || return 0
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    local keep=() p
    for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$SERVE_PID" ] || keep+=("$p"); done
    BENCH_PIDS=("${keep[@]}")
    SERVE_PID=""
}

# vm_kb PID FIELD : VmRSS / VmHWM of a process in kB.
vm_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }

# metric NAME : a counter from /metrics of the running scimgate.
metric() {
    curl -s "$SCIM_URL/metrics" | awk -v n="$1" '$1 == n { print $2 }' | head -n 1
}
