# Starts a throwaway PostgreSQL cluster on 127.0.0.1 for the test suite and
# prints nothing but errors. Sets NIMBUS_TEST_DATABASE_URL to a role that may
# create databases (each test makes its own).

NIMBUS_PG_PORT=${NIMBUS_PG_PORT:-54329}
NIMBUS_PG_DIR=${NIMBUS_PG_DIR:-/tmp/nimbus-pg-$NIMBUS_PG_PORT}

nimbus_pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] || { echo "PostgreSQL is not installed" >&2; return 1; }
    echo "$d"
}

# PostgreSQL refuses to run as root: run it as the postgres user then.
nimbus_pg_run() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

nimbus_postgres_start() {
    local bin
    bin=$(nimbus_pg_bin) || return 1
    if ! nimbus_pg_run "$bin/pg_ctl" -D "$NIMBUS_PG_DIR" status >/dev/null 2>&1; then
        if [ ! -f "$NIMBUS_PG_DIR/PG_VERSION" ]; then
            mkdir -p "$NIMBUS_PG_DIR"
            [ "$(id -u)" = 0 ] && chown postgres: "$NIMBUS_PG_DIR"
            nimbus_pg_run "$bin/initdb" -D "$NIMBUS_PG_DIR" -U nimbus --auth=trust >/dev/null
        fi
        nimbus_pg_run "$bin/pg_ctl" -D "$NIMBUS_PG_DIR" -l "$NIMBUS_PG_DIR/log" -w \
            -o "-h 127.0.0.1 -p $NIMBUS_PG_PORT -k $NIMBUS_PG_DIR -c max_connections=300 -c fsync=off" \
            start >/dev/null
    fi
    export NIMBUS_TEST_DATABASE_URL="postgres://nimbus@127.0.0.1:$NIMBUS_PG_PORT/postgres"
}

nimbus_postgres_stop() {
    local bin
    bin=$(nimbus_pg_bin) || return 0
    nimbus_pg_run "$bin/pg_ctl" -D "$NIMBUS_PG_DIR" -m fast stop >/dev/null 2>&1 || true
}
