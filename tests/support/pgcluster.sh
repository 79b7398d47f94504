#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the test suite.
#   pgcluster.sh start DIR SCIMGATE_BIN   initdb into DIR/data, start on a free
#                                         loopback port (written to DIR/port),
#                                         create and migrate the template database
#   pgcluster.sh stop DIR                 stop it and remove DIR
# initdb refuses to run as root, so as root the cluster runs as `postgres`.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?start|stop}
dir=${2:?directory}

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop() {
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
}

case "$cmd" in
start)
    bin=${3:?scimgate binary}
    stop
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; exit 1; }
    for _ in $(seq 1 50); do
        port=$((15000 + RANDOM % 17000))  # below the ephemeral range
        port_in_use "$port" && continue
        if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 \
                -c shared_buffers=64MB" start >/dev/null; then
            break
        fi
        port=""
    done
    [ -n "${port:-}" ] || { echo "pgcluster: could not start PostgreSQL"; cat "$dir/server.log"; exit 1; }
    echo "$port" >"$dir/port"
    url="postgres://postgres@127.0.0.1:$port"
    "$PGBIN/psql" -q -X -v ON_ERROR_STOP=1 "$url/postgres" -c "CREATE DATABASE scimgate_template"
    DATABASE_URL="$url/scimgate_template" "$bin" migrate 2>"$dir/migrate.log" ||
        { cat "$dir/migrate.log"; exit 1; }
    "$PGBIN/psql" -q -X -v ON_ERROR_STOP=1 "$url/postgres" \
        -c "ALTER DATABASE scimgate_template WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
    echo "pgcluster: PostgreSQL on 127.0.0.1:$port ($dir)"
    ;;
stop)
    stop
    rm -rf "$dir"
    echo "pgcluster: stopped"
    ;;
*)
    echo "usage: $0 start DIR SCIMGATE_BIN | stop DIR" >&2
    exit 2
    ;;
esac
