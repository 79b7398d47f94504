# Shared by scripts/run and scripts/test: installing what is missing from
# Debian's packages, building, and the project-local PostgreSQL cluster.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
JOBS=$(nproc 2>/dev/null || echo 2)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "root (or sudo) is needed to install packages: $*"; fi
}

# ensure_packages PKG... : installs the Debian packages that are not installed.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
        as_root apt-get update -q >/dev/null
        as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
            die "could not install ${missing[*]}"
    fi
}

BUILD_PACKAGES=(gcc make cmake pkg-config libevent-dev libjansson-dev libpq-dev libssl-dev
                check postgresql-15 postgresql-client-15 openssl ca-certificates curl)

ensure_build_deps() { ensure_packages "${BUILD_PACKAGES[@]}" "$@"; }

# build DIR [cmake options...] : configures and builds everything in DIR.
build() {
    local dir=$1; shift
    say "building in ${dir#"$ROOT"/}"
    cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$JOBS" >"$dir/build.log" 2>&1 || { tail -n 60 "$dir/build.log"; die "build failed"; }
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((15000 + RANDOM % 17000))  # below the ephemeral range (32768-)
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}

# The postgres user must be able to reach the cluster directory. When the
# project lives somewhere it cannot traverse (e.g. under /root), grant it
# traverse-only permission on the parent directories.
grant_traverse() {
    local d=$1
    [ "$(id -u)" = 0 ] || return 0
    runuser -u postgres -- test -x "$d" 2>/dev/null && return 0
    local p=$d
    while [ "$p" != / ]; do
        p=$(dirname "$p")
        if ! runuser -u postgres -- test -x "$p" 2>/dev/null; then
            say "letting the postgres user traverse $p (chmod o+x)"
            chmod o+x "$p"
        fi
    done
}

# local_pg_start DIR : initialises (once) and starts the project-local cluster,
# prints its port.
local_pg_start() {
    local dir=$1 port
    mkdir -p "$dir"
    grant_traverse "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        say "creating a PostgreSQL cluster in ${dir#"$ROOT"/}"
        as_postgres "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; die "initdb failed"; }
    fi
    if as_postgres "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        cat "$dir/port"
        return 0
    fi
    port=$(cat "$dir/port" 2>/dev/null || true)
    if [ -z "$port" ] || port_in_use "$port"; then port=$(free_port); fi
    say "starting PostgreSQL on 127.0.0.1:$port"
    as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null ||
        { tail -n 20 "$dir/server.log"; die "PostgreSQL did not start"; }
    echo "$port" >"$dir/port"
    echo "$port"
}
