#!/usr/bin/env bash
# Run a command (the test suite) with a real PostgreSQL and a real Redis.
#
# TEST_DATABASE_URL / TEST_REDIS_URL, when set, name running servers to use. Otherwise this
# starts throwaway servers from the system's binaries on free ports, in a temporary folder,
# and stops and deletes them when the command ends. No Docker needed.
set -euo pipefail

workdir=""
pg_bindir=""
cleanup() {
    if [[ -n "$workdir" ]]; then
        if [[ -f "$workdir/redis.pid" ]]; then kill "$(cat "$workdir/redis.pid")" 2>/dev/null || true; fi
        if [[ -n "$pg_bindir" && -f "$workdir/pg/postmaster.pid" ]]; then
            as_pg "$pg_bindir/pg_ctl" -D "$workdir/pg" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$workdir"
    fi
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# initdb refuses to run as root: as root, run the server as the postgres user.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_workdir() {
    if [[ -z "$workdir" ]]; then
        # Under /tmp: the postgres user cannot enter /root.
        workdir=$(mktemp -d /tmp/crm-test-services.XXXXXX)
        chmod 755 "$workdir"
    fi
}

if [[ -z "${TEST_DATABASE_URL:-}" ]]; then
    for candidate in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
        if [[ -n "$candidate" && -x "$candidate/initdb" ]]; then pg_bindir="$candidate"; fi
    done
    if [[ -z "$pg_bindir" ]]; then
        echo "PostgreSQL server binaries not found (Debian: apt-get install postgresql), or set TEST_DATABASE_URL." >&2
        exit 1
    fi
    ensure_workdir
    port=$(free_port)
    if [[ $(id -u) -eq 0 ]]; then chown postgres "$workdir"; fi
    as_pg "$pg_bindir/initdb" -D "$workdir/pg" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$workdir/initdb.log" 2>&1 \
        || { cat "$workdir/initdb.log" >&2; exit 1; }
    as_pg "$pg_bindir/pg_ctl" -D "$workdir/pg" -l "$workdir/pg.log" -w \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $workdir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { cat "$workdir/pg.log" >&2; exit 1; }
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/crm"
    echo "Started a throwaway PostgreSQL on port $port"
fi

if [[ -z "${TEST_REDIS_URL:-}" ]]; then
    if ! command -v redis-server >/dev/null; then
        echo "redis-server not found (Debian: apt-get install redis-server), or set TEST_REDIS_URL." >&2
        exit 1
    fi
    ensure_workdir
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$workdir/redis.pid" \
        --logfile "$workdir/redis.log" --save '' --appendonly no --dir "$workdir"
    for _ in $(seq 50); do
        [[ -f "$workdir/redis.pid" ]] && break
        sleep 0.1
    done
    export TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    echo "Started a throwaway Redis on port $port"
fi

status=0
"$@" || status=$?
exit "$status"
