#!/bin/sh
# preStop hook of the server container. Kubernetes sends SIGTERM to all of a pod's containers
# at once; this hook holds mysqld's back until the agent beside it says mysqld may stop: a
# terminating primary first hands its lease to a replica while it still serves (the agent
# writes the file once done, and whenever it exits). A missing agent is waited for at most
# MYSQL_HA_PRE_STOP_LIMIT_SECONDS; keep the pod's terminationGracePeriodSeconds above it plus
# the time mysqld needs to shut down.
set -u
file="${MYSQL_HA_MYSQLD_MAY_STOP_FILE:-/var/run/mysqld/mysqld-may-stop}"
limit="${MYSQL_HA_PRE_STOP_LIMIT_SECONDS:-50}"
ticks=0
while [ ! -e "$file" ]; do
  if [ "$ticks" -ge $((limit * 5)) ]; then
    echo "mysql-ha pre-stop: no word from the agent within ${limit} s; letting mysqld stop" >&2
    exit 0
  fi
  sleep 0.2
  ticks=$((ticks + 1))
done
echo "mysql-ha pre-stop: mysqld may stop ($(cat "$file"))" >&2
