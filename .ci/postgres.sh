#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the test suite, listening only on 127.0.0.1.
#
# Source it (`. .ci/postgres.sh`) to get RETAILRL_TEST_PG_URL exported in the calling shell, or run it
# (`bash .ci/postgres.sh`) to have the URL printed on stdout. Steps:
#   1. install PostgreSQL from the Debian packages when no `initdb` can be found (needs root);
#   2. initdb a cluster in a fresh temp dir (as the `postgres` user when run as root), password auth only;
#   3. start it with pg_ctl on a free port on 127.0.0.1 (no Unix socket outside the temp dir);
#   4. create a role and a database, both named `retailrl`, with a random password;
#   5. export RETAILRL_TEST_PG_URL=postgresql+psycopg://retailrl:PASS@127.0.0.1:PORT/retailrl
# Stop it with: pg_ctl -D "$RETAILRL_PG_DATA" stop   (run as the postgres user when started as root)
# Idempotent within one shell: when RETAILRL_TEST_PG_URL is already set and the server answers, nothing happens.

_retailrl_pg_main() {
    set -euo pipefail

    if [ -n "${RETAILRL_TEST_PG_URL:-}" ] && [ -n "${RETAILRL_PG_DATA:-}" ] && [ -f "${RETAILRL_PG_DATA}/postmaster.pid" ]; then
        echo "$RETAILRL_TEST_PG_URL"
        return 0
    fi

    local pgbin=""
    _find_pgbin() {
        local d
        for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
            if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pgbin="$d"; return 0; fi
        done
        if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
            pgbin="$(dirname "$(command -v initdb)")"; return 0
        fi
        return 1
    }
    if ! _find_pgbin; then
        echo "postgres.sh: PostgreSQL not found; installing it from the Debian packages" >&2
        if [ "$(id -u)" -ne 0 ]; then
            echo "postgres.sh: need root to apt-get install postgresql" >&2
            return 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
        _find_pgbin || { echo "postgres.sh: initdb still not found after install" >&2; return 1; }
    fi

    # Run PostgreSQL's programs as `postgres` when we are root (the server refuses to run as root).
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        as=(runuser -u postgres --)
    fi

    local data port password pwfile
    data="$(mktemp -d "${TMPDIR:-/tmp}/retailrl-pg.XXXXXX")"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    pwfile="$data/.pw"
    printf '%s\n' "$password" >"$pwfile"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$data"
    fi
    chmod 700 "$data"

    "${as[@]}" "$pgbin/initdb" -D "$data/db" -U postgres --auth=scram-sha-256 --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 >"$data/initdb.log" 2>&1 \
        || { cat "$data/initdb.log" >&2; return 1; }
    "${as[@]}" "$pgbin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2 || { cat "$data/server.log" >&2; return 1; }

    PGPASSWORD="$password" psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -p "$port" -U postgres -d postgres >&2 <<SQL
CREATE ROLE retailrl LOGIN PASSWORD '$password' CREATEDB;
CREATE DATABASE retailrl OWNER retailrl;
SQL
    rm -f "$pwfile"

    echo "postgres.sh: PostgreSQL on 127.0.0.1:$port, data in $data/db; stop it with: ${as[*]:+${as[*]} }$pgbin/pg_ctl -D $data/db stop" >&2
    export RETAILRL_PG_DATA="$data/db"
    export RETAILRL_TEST_PG_URL="postgresql+psycopg://retailrl:${password}@127.0.0.1:${port}/retailrl"
    echo "$RETAILRL_TEST_PG_URL"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: keep the caller's shell options; run in the current shell so that the exports stick.
    _retailrl_pg_saved_opts="$(set +o)"
    _retailrl_pg_main
    _retailrl_pg_rc=$?
    eval "$_retailrl_pg_saved_opts"
    unset _retailrl_pg_saved_opts
    [ "$_retailrl_pg_rc" -eq 0 ] || { unset _retailrl_pg_rc; return 1; }
    unset _retailrl_pg_rc
else
    _retailrl_pg_main
fi
