#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the store tests and benchmark.
#
#   scripts/postgres-test-server.sh start   start one (unless already running); print its URL
#   scripts/postgres-test-server.sh url     print the running server's URL (exit 1 if none)
#   scripts/postgres-test-server.sh stop    stop it and remove its files (no-op if none)
#
# Installs Debian's postgresql package if no server binaries are found (apt-get; as root, or
# through sudo). The cluster lives in a fresh temp dir (initdb as the postgres user when run as
# root, since the server refuses to run as root), listens only on 127.0.0.1 on a free port,
# trusts local connections (nothing else can reach it) and holds one database, w3msg_test.
# The state file (W3MSG_PG_STATE, default ${TMPDIR:-/tmp}/w3msg-postgres-test.state) records the
# cluster dir and port: sessions that set different state files run separate servers.
# Progress goes to stderr; stdout carries only the URL.
set -euo pipefail

STATE=${W3MSG_PG_STATE:-${TMPDIR:-/tmp}/w3msg-postgres-test.state}
DB=w3msg_test

log() { echo "postgres-test-server: $*" >&2; }
die() { log "$*"; exit 1; }

bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

install_postgres() {
  bindir >/dev/null && return 0
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "PostgreSQL is not installed and this is not root (no sudo)"
    sudo=sudo
  fi
  log "installing Debian's postgresql package"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
  bindir >/dev/null || die "postgresql installed but no server binaries under /usr/lib/postgresql"
}

# Run a command as the cluster owner: the postgres user when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

read_state() {  # sets DIR and PORT; fails if there is no state
  [ -f "$STATE" ] || return 1
  DIR=$(sed -n 1p "$STATE")
  PORT=$(sed -n 2p "$STATE")
  [ -n "$DIR" ] && [ -n "$PORT" ]
}

url() { echo "postgresql://postgres@127.0.0.1:$PORT/$DB"; }

running() {
  read_state || return 1
  local bin
  bin=$(bindir) || return 1
  # Accepting connections, not merely a live-looking pid: a killed server can linger unreaped.
  [ -d "$DIR/data" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d "$DB" -U postgres -t 5
}

start() {
  if running; then
    url
    return 0
  fi
  [ -f "$STATE" ] && stop  # a stale state (server died, files left): clean it first
  install_postgres
  local bin
  bin=$(bindir)
  DIR=$(mktemp -d "${TMPDIR:-/tmp}/w3msg-pg.XXXXXX")
  chmod 755 "$DIR"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$DIR"; fi
  printf '%s\n' "$DIR" > "$STATE"  # from here on `stop` can clean up whatever happens
  as_owner "$bin/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$DIR/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$DIR/initdb.log")"
  local attempt
  for attempt in 1 2 3; do  # the free port may be taken before the server binds it
    PORT=$(free_port)
    if as_owner "$bin/pg_ctl" start -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=100" >/dev/null 2>&1; then
      printf '%s\n%s\n' "$DIR" "$PORT" > "$STATE"
      as_owner "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" \
        || die "createdb failed"
      log "started on 127.0.0.1:$PORT (cluster in $DIR)"
      url
      return 0
    fi
    log "start attempt $attempt on port $PORT failed: $(tail -n 3 "$DIR/server.log" 2>/dev/null)"
  done
  die "could not start PostgreSQL; see $DIR/server.log"
}

stop() {
  if [ ! -f "$STATE" ]; then
    return 0
  fi
  DIR=$(sed -n 1p "$STATE")
  local bin
  if [ -n "$DIR" ] && [ -d "$DIR/data" ] && bin=$(bindir); then
    as_owner "$bin/pg_ctl" stop -D "$DIR/data" -m fast -w -t 15 >/dev/null 2>&1 || true
  fi
  case "$DIR" in
    "${TMPDIR:-/tmp}"/w3msg-pg.*) rm -rf "$DIR" ;;
    *) [ -z "$DIR" ] || log "not removing unexpected directory $DIR" ;;
  esac
  rm -f "$STATE"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) running || die "no server running (state file $STATE)"; url ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
