#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for tests: trust auth, 127.0.0.1 only, database pbx_test.
#
#   scripts/pg-test-cluster.sh start DIR PORT   # initdb on first use, then start (waits)
#   scripts/pg-test-cluster.sh stop  DIR PORT   # fast shutdown; DIR stays for a restart
#   scripts/pg-test-cluster.sh url   DIR PORT   # print the SQLAlchemy URL
#
# initdb refuses to run as root, so as root everything runs as the `postgres` user
# (override with PG_USER), and DIR is handed to that user. PG_BIN overrides where the
# binaries are (default: the newest /usr/lib/postgresql/*/bin, else PATH).
# Tests run it with fsync off (nothing there needs to survive a power cut); the
# benchmark sets PG_DURABLE=1 so that a commit is as durable as in production.
set -euo pipefail

usage() { echo "usage: $0 start|stop|url DIR PORT" >&2; exit 2; }
[ $# -eq 3 ] || usage
action=$1 dir=$2 port=$3
[[ $port =~ ^[0-9]+$ ]] || usage

url="postgresql+psycopg://postgres@127.0.0.1:${port}/pbx_test"
if [ "$action" = url ]; then echo "$url"; exit 0; fi

bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)}
if [ -z "$bin" ]; then
  bin=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
fi
if [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "PostgreSQL binaries not found (looked in ${bin}); install them: apt-get install -y postgresql" >&2
  exit 3
fi

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "${PG_USER:-postgres}" -- "$@"; else "$@"; fi
}

data="$dir/data"
log="$dir/postgres.log"

case "$action" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown "${PG_USER:-postgres}:" "$dir"; chmod 700 "$dir"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    durability="-c fsync=off -c full_page_writes=off"
    [ "${PG_DURABLE:-0}" = 1 ] && durability="-c fsync=on -c synchronous_commit=on"
    as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir $durability" \
      start >/dev/null || { tail -n 20 "$log" >&2; exit 1; }
    if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname='pbx_test'" | grep -q 1; then
      as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres pbx_test
    fi
    echo "$url"
    ;;
  stop)
    if [ -f "$data/postmaster.pid" ]; then
      as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null
    fi
    ;;
  *) usage ;;
esac
