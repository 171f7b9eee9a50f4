#!/usr/bin/env bash
# Install (Debian packages), start on loopback and create a test database for the store tests.
# Prints `export ADVISOR_TEST_POSTGRES_URL=...`; use it as: eval "$(bash scripts/ci-postgres.sh)"
# Diagnostics go to stderr; idempotent (a second run reuses the running server).
set -euo pipefail
PGPORT="${PGPORT:-55432}"
PGDATA="${PGDATA:-/tmp/advisor-ci-pg}"
DB=advisor_test
USER_NAME=advisor
PASSWORD=advisor-ci

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing postgresql (apt)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi
BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"

# PostgreSQL refuses to run as root: run the server as the 'postgres' system user then.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    AS=(runuser -u postgres --)
else
    AS=()
fi

if ! "${AS[@]}" "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        mkdir -p "$PGDATA"
        [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
        "${AS[@]}" "$BIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
    fi
    "${AS[@]}" "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k /tmp -c fsync=off" start >&2
fi
PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [ "$("${PSQL[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$USER_NAME'")" != 1 ]; then
    "${PSQL[@]}" -c "CREATE ROLE $USER_NAME LOGIN PASSWORD '$PASSWORD'" >&2
fi
if [ "$("${PSQL[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$DB'")" != 1 ]; then
    "${PSQL[@]}" -c "CREATE DATABASE $DB OWNER $USER_NAME" >&2
fi
echo "export ADVISOR_TEST_POSTGRES_URL=postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PGPORT/$DB"
