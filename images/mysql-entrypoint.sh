#!/bin/sh
# Entrypoint of the mysql-ha server image (Dockerfile.mysql), for MySQL and MariaDB alike.
#
# It replaces the official images' entrypoint: that one sets the server up through a
# temporary server, which cannot work with the cnf `mysql-ha-agent stage` writes
# (super_read_only=ON from the first start). This one only creates the system tables on
# an empty data directory, then runs the server with the staged cnf. The agent's account
# comes from that cnf's init_file; everything else is the agent's job.
#
# Arguments are passed on to the server, which runs as this script's child (see the end).
# MYSQL_HA_DATADIR, MYSQL_HA_CNF and MYSQL_HA_RUNDIR override the data directory, the cnf and
# the socket's directory (the manifests use the defaults).
set -eu

datadir="${MYSQL_HA_DATADIR:-/var/lib/mysql}"
cnf="${MYSQL_HA_CNF:-/etc/mysql-ha/conf.d/mysql-ha.cnf}"

log() {
  echo "mysql-ha-entrypoint: $*" >&2
}

fail() {
  log "$*"
  exit 1
}

# MariaDB images may also carry a mysqld link, so look for mariadbd first.
if command -v mariadbd >/dev/null 2>&1; then
  flavor=mariadb
  server=mariadbd
elif command -v mysqld >/dev/null 2>&1; then
  flavor=mysql
  server=mysqld
else
  fail "neither mariadbd nor mysqld is on PATH ($PATH): build this image FROM a mysql or mariadb image"
fi

if [ ! -f "$cnf" ]; then
  fail "$cnf does not exist. It is written by the init container (mysql-ha-agent stage --conf-dir $(dirname "$cnf")): check that it ran, and that this container mounts the same volume at $(dirname "$cnf")"
fi

# Started as root (docker run without --user), the server must be told to drop to mysql.
as_user=""
if [ "$(id -u)" = 0 ]; then
  id mysql >/dev/null 2>&1 || fail "running as root, but the image has no mysql user to run the server as"
  as_user="--user=mysql"
fi

if [ ! -d "$datadir/mysql" ]; then
  # A new filesystem's lost+found would make the server refuse to initialise the directory.
  if [ -d "$datadir/lost+found" ]; then
    rmdir "$datadir/lost+found" 2>/dev/null || true
  fi
  if [ -n "$(ls -A "$datadir" 2>/dev/null)" ]; then
    fail "$datadir holds files but no mysql/ system schema (an interrupted first start, or other data). Nothing was changed: inspect the volume, and empty it to have it initialised"
  fi
  if [ -n "$as_user" ]; then
    mkdir -p "$datadir"
    chown mysql:mysql "$datadir"
  fi
  log "initialising the $flavor data directory $datadir"
  if [ "$flavor" = mariadb ]; then
    mariadb-install-db ${as_user:+"$as_user"} --datadir="$datadir" --auth-root-authentication-method=socket --skip-test-db
  else
    mysqld --initialize-insecure ${as_user:+"$as_user"} --datadir="$datadir"
  fi
fi

# This shell stays as the server's supervisor, as mysqld_safe and systemd are: a clone (the
# agent rebuilding this node from the primary) ends with mysqld exiting 16 to be started
# again on the new data; a streamed copy holds it stopped while its data is swapped. The signals the container gets (SIGTERM when the pod stops) are
# passed on to the server.
export MYSQLD_PARENT_PID=$$
child=
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
# The socket's lock file names the pid of the server that made it. In a restarted container
# that number is reused, often as one of the new server's own threads, and MySQL then refuses
# to start ("Another process with pid N is using unix socket file"). The run directory is
# this pod's alone and no server of it runs now: the lock is stale.
rundir="${MYSQL_HA_RUNDIR:-/var/run/mysqld}"
while :; do
  rm -f "$rundir"/*.sock.lock
  log "starting $server with $cnf"
  # --defaults-extra-file must come first: the server only honours it as its first option.
  "$server" --defaults-extra-file="$cnf" ${as_user:+"$as_user"} --datadir="$datadir" "$@" &
  child=$!
  status=0
  wait "$child" || status=$?
  # A signal ends wait early, while the server is still shutting down: wait for the server itself.
  while kill -0 "$child" 2>/dev/null; do
    status=0
    wait "$child" || status=$?
  done
  # The agent stopped the server on purpose (a restart asked for, or a streamed copy to swap in,
  # MariaDB's reinit), and removes mysql-ha.hold once it may start again.
  # mysql-ha.held tells the agent the server is down and held.
  if [ -e "$rundir/mysql-ha.hold" ]; then
    log "holding $server stopped for the agent ($rundir/mysql-ha.hold)"
    : > "$rundir/mysql-ha.held"
    while [ -e "$rundir/mysql-ha.hold" ]; do sleep 0.2; done
    rm -f "$rundir/mysql-ha.held"
    continue
  fi
  [ "$status" -eq 16 ] || exit "$status"
  log "$server asked to be started again (exit status 16, after a clone)"
done
