#!/usr/bin/env bash
# Local infrastructure without Docker: a single-node Apache Kafka (KRaft) from Maven Central jars and a
# throwaway PostgreSQL cluster from Debian's packages, both on 127.0.0.1.
#
#   deploy/local/infra.sh up     [kafka|postgres|all]   start (idempotent) and wait until ready
#   deploy/local/infra.sh down   [kafka|postgres|all]   stop cleanly, leave no process behind
#   deploy/local/infra.sh status [kafka|postgres|all]   versions, ports, readiness; exit 1 when not ready
#   deploy/local/infra.sh crash  [kafka|postgres|all]   fail hard (kill -9 Kafka; PostgreSQL stop -m immediate)
#   deploy/local/infra.sh fetch                         download the Kafka jars into the cache only
#   deploy/local/infra.sh env                           print the settings in use
#
# Every setting can be overridden from the environment (see `env`), so tests can run a second broker on
# other ports and another data folder.
#
# Ports: the defaults (Kafka 19092/19093, PostgreSQL 15432) lie below Linux's ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 by default), from which the kernel picks the local port of
# every outgoing connection. A server port inside that range can be taken by any client for a while (a
# client connecting to 127.0.0.1 may even connect to itself on it while the server is down), and the
# server then fails to restart with "Address already in use": that happened with the old 55432. A bind
# failure that remains is retried (SIGNAALPUNT_BIND_RETRIES times, 2 s apart) before `up` gives up.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

state_dir="${SIGNAALPUNT_STATE_DIR:-$repo/.local}"
cache_dir="${SIGNAALPUNT_CACHE_DIR:-$repo/.cache}"

kafka_version="${SIGNAALPUNT_KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")}"
kafka_host=127.0.0.1
kafka_port="${SIGNAALPUNT_KAFKA_PORT:-19092}"
kafka_controller_port="${SIGNAALPUNT_KAFKA_CONTROLLER_PORT:-19093}"
# a second client listener with TLS (SASL_SSL, as in production), its certificate from a local
# CA made at the first `up` (deploy/local/kafka_tls.py): clients choose it with
# SIGNAALPUNT_KAFKA_SECURITY_PROTOCOL=SASL_SSL and SIGNAALPUNT_KAFKA_SSL_CAFILE=<tls dir>/ca.pem.
# Plain SASL stays the default locally: loopback only, and the tests' many short-lived clients
# would pay a TLS handshake each.
kafka_tls_port="${SIGNAALPUNT_KAFKA_TLS_PORT:-$((kafka_port + 2))}"
kafka_dir="${SIGNAALPUNT_KAFKA_DIR:-$state_dir/kafka}"
kafka_heap="${SIGNAALPUNT_KAFKA_HEAP:-512m}"
kafka_jars="$cache_dir/kafka-$kafka_version"
kafka_tls_dir="$kafka_dir/tls"
# Kafka is a trust boundary locally too: SASL/SCRAM on the client listener, PLAIN (a static
# JAAS user) on the controller listener (KRaft keeps SCRAM credentials in its metadata, which the
# controller listener cannot wait for), and the StandardAuthorizer: nothing without an ACL.
# The admin principal is created when the storage is formatted; the services' and partners'
# principals and their ACLs come from the topic registry (signaalpunt-topics acls, make topics).
kafka_admin="${SIGNAALPUNT_KAFKA_ADMIN_USERNAME:-signaalpunt-admin}"
kafka_admin_password="${SIGNAALPUNT_KAFKA_ADMIN_PASSWORD:-signaalpunt-dev-admin}"
kafka_controller_password="${SIGNAALPUNT_KAFKA_CONTROLLER_PASSWORD:-signaalpunt-dev-controller}"

pg_port="${SIGNAALPUNT_PG_PORT:-15432}"
pg_dir="${SIGNAALPUNT_PG_DIR:-$state_dir/postgres}"
# As root, PostgreSQL runs as the 'postgres' user, which may not be able to enter a checkout under a
# private home folder: then its data goes to a folder of its own, one per checkout.
if [ -z "${SIGNAALPUNT_PG_DIR:-}" ] && [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 \
  && ! runuser -u postgres -- test -x "$repo" 2>/dev/null; then
  # one per state folder: a parallel test worker's own PostgreSQL (SIGNAALPUNT_STATE_DIR) beside
  # the checkout's
  pg_key="$repo"
  [ -n "${SIGNAALPUNT_STATE_DIR:-}" ] && pg_key="$state_dir"
  pg_dir="/var/lib/signaalpunt-local/$(printf '%s' "$pg_key" | cksum | cut -d' ' -f1)/postgres"
fi
pg_user="${SIGNAALPUNT_PG_USER:-signaalpunt}"
pg_password="${SIGNAALPUNT_PG_PASSWORD:-signaalpunt}"
pg_database="${SIGNAALPUNT_PG_DATABASE:-signaalpunt}"

python="${SIGNAALPUNT_PYTHON:-$repo/.venv/bin/python}"
ready_timeout="${SIGNAALPUNT_READY_TIMEOUT:-90}"
bind_retries="${SIGNAALPUNT_BIND_RETRIES:-15}"

log() { printf '%s %s\n' "[infra]" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_python() {
  [ -x "$python" ] || die "no Python environment at $python: run 'make setup' first (or set SIGNAALPUNT_PYTHON)"
}

probe() { # probe.py does the real readiness checks: a Kafka metadata request and a SQL query
  need_python
  SIGNAALPUNT_KAFKA_ADMIN_PASSWORD="$kafka_admin_password" "$python" "$here/probe.py" "$@"
}

# ---------------------------------------------------------------- Kafka

kafka_fetch() {
  if [ -f "$kafka_jars/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars: apt-get install -y maven"
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka: apt-get install -y openjdk-17-jre-headless"
  log "fetching Apache Kafka $kafka_version jars from Maven Central into $kafka_jars"
  rm -rf "$kafka_jars.tmp"
  mkdir -p "$kafka_jars.tmp"
  mvn -B -q -f "$here/pom.xml" -Dkafka.version="$kafka_version" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$kafka_jars.tmp"
  [ -f "$kafka_jars.tmp/kafka_2.13-$kafka_version.jar" ] || die "Maven did not deliver kafka_2.13-$kafka_version.jar"
  touch "$kafka_jars.tmp/.complete"
  rm -rf "$kafka_jars"
  mv "$kafka_jars.tmp" "$kafka_jars"
}

kafka_pid() {
  local pidfile="$kafka_dir/kafka.pid"
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka.Kafka'; then
    echo "$pid"
    return 0
  fi
  return 1
}

kafka_write_config() {
  mkdir -p "$kafka_dir/data" "$kafka_dir/logs"
  cat >"$kafka_dir/server.properties" <<EOF
# Written by deploy/local/infra.sh: a single-node KRaft broker for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$kafka_host:$kafka_controller_port
listeners=SASL_PLAINTEXT://$kafka_host:$kafka_port,SASL_SSL://$kafka_host:$kafka_tls_port,CONTROLLER://$kafka_host:$kafka_controller_port
advertised.listeners=SASL_PLAINTEXT://$kafka_host:$kafka_port,SASL_SSL://$kafka_host:$kafka_tls_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
# TLS on the SASL_SSL listener: a PEM keystore (key and chain) signed by the local CA
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$kafka_tls_dir/broker.pem
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$kafka_admin" password="$kafka_admin_password" user_$kafka_admin="$kafka_admin_password";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$kafka_admin" password="$kafka_admin_password";
# every client authenticates (SCRAM); no anonymous principal exists on any listener
# PLAIN too, for the admin only (a static JAAS user): Debian's kcat (librdkafka 2.0.2) fails
# SCRAM against Kafka 4 ("invalid credentials"), and the partner guide's test runs kcat
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$kafka_admin" password="$kafka_admin_password" user_$kafka_admin="$kafka_admin_password";
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$kafka_admin" password="$kafka_admin_password";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$kafka_controller_password" user_controller="$kafka_controller_password";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$kafka_admin;User:controller
log.dirs=$kafka_dir/data
# Topics come only from the registry (make topics); a typo must fail, not create a topic.
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
EOF
}

kafka_up() {
  kafka_fetch
  if kafka_pid >/dev/null && [ ! -f "$kafka_dir/sasl" ]; then
    # started by an infra.sh from before SASL: no client of today's code could talk to it
    log "the running Kafka has no SASL yet: restarting it with SASL and ACLs"
    kafka_down
  fi
  if kafka_pid >/dev/null && ! grep -q '^listeners=.*SASL_SSL' "$kafka_dir/server.properties"; then
    # started by an infra.sh from before the TLS listener
    log "the running Kafka has no TLS listener yet: restarting it"
    kafka_down
  fi
  if pid="$(kafka_pid)"; then
    log "Kafka already running (pid $pid) on $kafka_host:$kafka_port"
  else
    # the local CA and the broker's certificate, made once (never committed: .local/)
    "$python" "$here/kafka_tls.py" "$kafka_tls_dir" || die "making the broker's TLS certificate failed"
    kafka_write_config
    if [ -f "$kafka_dir/data/meta.properties" ] && [ ! -f "$kafka_dir/sasl" ]; then
      # formatted before Kafka had SASL here: its admin principal can only be created by a new
      # format, and local data is throwaway
      log "Kafka storage in $kafka_dir/data predates SASL: formatting it anew"
      rm -rf "$kafka_dir/data"
      mkdir -p "$kafka_dir/data"
    fi
    if [ ! -f "$kafka_dir/data/meta.properties" ]; then
      local cluster_id
      if [ -f "$kafka_dir/cluster.id" ]; then
        cluster_id="$(cat "$kafka_dir/cluster.id")"
      else
        # a KRaft cluster id is 16 random bytes in url-safe base64 without padding (22 characters)
        # (drawn again when it starts with '-': kafka-storage would take it for an option)
        cluster_id="-"
        while [ "${cluster_id#-}" != "$cluster_id" ]; do
          cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c1-22)"
        done
        echo "$cluster_id" >"$kafka_dir/cluster.id"
      fi
      log "formatting KRaft storage in $kafka_dir/data (cluster id $cluster_id)"
      java -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$kafka_dir/logs" \
        -cp "$kafka_jars/*" kafka.tools.StorageTool format --standalone \
        -t "$cluster_id" -c "$kafka_dir/server.properties" \
        --add-scram "SCRAM-SHA-512=[name=$kafka_admin,password=$kafka_admin_password]" \
        >"$kafka_dir/logs/format.log" 2>&1 \
        || { cat "$kafka_dir/logs/format.log" >&2; die "formatting Kafka storage failed"; }
      touch "$kafka_dir/sasl"
    fi
    kafka_start
  fi
  kafka_wait_ready
  log "Kafka ready on $kafka_host:$kafka_port"
}

kafka_start() { # start the broker; a port still taken (bind failure) is retried
  local attempt=1
  while :; do
    log "starting Kafka $kafka_version on $kafka_host:$kafka_port (controller $kafka_controller_port)"
    # setsid: the broker must not die with the shell (or make) that started it
    setsid nohup java -Xms"$kafka_heap" -Xmx"$kafka_heap" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true \
      -Dkafka.logs.dir="$kafka_dir/logs" -Dlog4j2.configurationFile="$here/log4j2.properties" \
      -cp "$kafka_jars/*" kafka.Kafka "$kafka_dir/server.properties" \
      >"$kafka_dir/logs/stdout.log" 2>&1 </dev/null &
    echo $! >"$kafka_dir/kafka.pid"
    echo "$kafka_version" >"$kafka_dir/kafka.version"
    # a broker that cannot bind exits within seconds; one that runs is left to kafka_wait_ready
    local settle=$((SECONDS + 10))
    while [ $SECONDS -lt $settle ] && kafka_pid >/dev/null; do
      probe kafka --bootstrap "$kafka_host:$kafka_port" --username "$kafka_admin" --mechanism PLAIN --quiet && return 0
      sleep 1
    done
    kafka_pid >/dev/null && return 0
    if grep -qi "address already in use" "$kafka_dir/logs/stdout.log" "$kafka_dir/logs/server.log" 2>/dev/null \
      && [ $attempt -lt "$bind_retries" ]; then
      log "Kafka could not bind its port (address already in use); retrying in 2s ($attempt/$bind_retries)"
      attempt=$((attempt + 1))
      : >"$kafka_dir/logs/server.log" 2>/dev/null || true
      sleep 2
      continue
    fi
    return 0 # kafka_wait_ready reports the failure with the logs
  done
}

kafka_wait_ready() {
  local deadline=$((SECONDS + ready_timeout))
  # first the broker itself, through the admin's static PLAIN user (not in the metadata) ...
  until probe kafka --bootstrap "$kafka_host:$kafka_port" --username "$kafka_admin" --mechanism PLAIN --quiet; do
    if ! kafka_pid >/dev/null; then
      tail -n 40 "$kafka_dir/logs/server.log" "$kafka_dir/logs/stdout.log" >&2 2>/dev/null || true
      die "Kafka exited during start-up (logs in $kafka_dir/logs)"
    fi
    [ $SECONDS -lt $deadline ] || die "Kafka not ready after ${ready_timeout}s (logs in $kafka_dir/logs)"
    sleep 1
  done
  # ... then the SCRAM logins every client uses: a restart can lose them (deploy/local/kafka_users.py)
  if [ "$(SIGNAALPUNT_KAFKA_ADMIN_PASSWORD="$kafka_admin_password" "$python" "$here/kafka_users.py" \
        "$kafka_host:$kafka_port" "$kafka_admin")" = "restored" ]; then
    log "the broker came back without its SCRAM credentials: restoring the local users"
    if [ -x "$repo/.venv/bin/signaalpunt-topics" ]; then
      SIGNAALPUNT_KAFKA_BOOTSTRAP="$kafka_host:$kafka_port" "$repo/.venv/bin/signaalpunt-topics" acls \
        --apply --local-users --partners-file "$here/partners.yaml" >/dev/null \
        || log "restoring the local users failed: run make topics"
    fi
  fi
  until probe kafka --bootstrap "$kafka_host:$kafka_port" --username "$kafka_admin" --quiet; do
    [ $SECONDS -lt $deadline ] || die "Kafka's SCRAM logins not ready after ${ready_timeout}s (logs in $kafka_dir/logs)"
    sleep 1
  done
}

kafka_down() {
  local pid
  if ! pid="$(kafka_pid)"; then
    log "Kafka not running"
    rm -f "$kafka_dir/kafka.pid"
    return 0
  fi
  log "stopping Kafka (pid $pid): controlled shutdown"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      log "Kafka did not stop within 60s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.5
  done
  rm -f "$kafka_dir/kafka.pid"
  log "Kafka stopped"
}

kafka_crash() { # kill -9: no controlled shutdown, no flush
  local pid
  if ! pid="$(kafka_pid)"; then
    log "Kafka not running"
    return 0
  fi
  log "killing Kafka (pid $pid) with SIGKILL"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  rm -f "$kafka_dir/kafka.pid"
}

kafka_status() {
  local pid
  if pid="$(kafka_pid)"; then
    printf 'kafka     running  pid %-8s version %-8s %s:%s  data %s\n' \
      "$pid" "$(cat "$kafka_dir/kafka.version" 2>/dev/null || echo '?')" "$kafka_host" "$kafka_port" "$kafka_dir"
    probe kafka --bootstrap "$kafka_host:$kafka_port" --username "$kafka_admin"
  else
    printf 'kafka     stopped  (expected on %s:%s, data %s)\n' "$kafka_host" "$kafka_port" "$kafka_dir"
    return 1
  fi
}

# ---------------------------------------------------------------- PostgreSQL

pg_bin() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$bin" ] && [ -x "$bin/initdb" ] && echo "$bin"
}

pg_install() {
  if pg_bin >/dev/null; then return 0; fi
  log "PostgreSQL server binaries missing: installing Debian's postgresql package"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # policy-rc.d keeps apt from starting Debian's own cluster; ours runs on its own port
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  pg_bin >/dev/null || die "apt installed postgresql but no initdb was found under /usr/lib/postgresql"
}

# PostgreSQL refuses to run as root: as root we run it as the unprivileged 'postgres' user
# (created by Debian's package), otherwise as whoever we are.
pg_as() {
  if [ "$(id -u)" -eq 0 ]; then
    local owner="${SIGNAALPUNT_PG_OS_USER:-postgres}"
    id "$owner" >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$owner"
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

pg_os_user() {
  if [ "$(id -u)" -eq 0 ]; then echo "${SIGNAALPUNT_PG_OS_USER:-postgres}"; else id -un; fi
}

pg_running() {
  local bin
  bin="$(pg_bin)" || return 1
  [ -f "$pg_dir/PG_VERSION" ] && pg_as "$bin/pg_ctl" -D "$pg_dir" status >/dev/null 2>&1
}

pg_up() {
  pg_install
  local bin
  bin="$(pg_bin)"
  if pg_running; then
    log "PostgreSQL already running on $kafka_host:$pg_port"
  else
    if [ ! -f "$pg_dir/PG_VERSION" ]; then
      log "creating a PostgreSQL cluster in $pg_dir"
      mkdir -p "$pg_dir"
      chown "$(pg_os_user)" "$pg_dir"
      pg_as test -w "$pg_dir" || die "the $(pg_os_user) user cannot write $pg_dir: set SIGNAALPUNT_PG_DIR"
      chmod 700 "$pg_dir"
      local pwfile
      pwfile="$(mktemp)"
      echo "$pg_password" >"$pwfile"
      chown "$(pg_os_user)" "$pwfile"
      # local socket: trust (only the owner can reach it); TCP on loopback: password (scram), as in production
      pg_as "$bin/initdb" -D "$pg_dir" -U "$pg_user" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null \
        || { rm -f "$pwfile"; die "initdb failed"; }
      rm -f "$pwfile"
    fi
    local attempt=1
    while :; do
      log "starting PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"
      local mark
      mark="$( (wc -l <"$pg_dir/server.log") 2>/dev/null || echo 0)"
      # the server log holds no values: no DETAIL/CONTEXT (they quote rows, keys and JSON), no
      # statement text or bind parameters of a failed statement (docs/privacy.md)
      if pg_as "$bin/pg_ctl" -D "$pg_dir" -l "$pg_dir/server.log" -w -t 60 \
        -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on $pg_privacy_settings $(pg_statements_setting "$bin")" \
        start >/dev/null; then
        break
      fi
      # the port still taken (a client's ephemeral port, a server that is still going away):
      # wait and try again rather than leave the developer without a database
      if tail -n +"$((mark + 1))" "$pg_dir/server.log" 2>/dev/null | grep -qi "could not bind\|address already in use" \
        && [ $attempt -lt "$bind_retries" ]; then
        log "PostgreSQL could not bind 127.0.0.1:$pg_port (address already in use); retrying in 2s ($attempt/$bind_retries)"
        attempt=$((attempt + 1))
        sleep 2
        continue
      fi
      tail -n 30 "$pg_dir/server.log" >&2
      die "PostgreSQL did not start"
    done
  fi
  local deadline=$((SECONDS + ready_timeout))
  until probe postgres --dsn "$(pg_admin_dsn)" --database "$pg_database" --quiet; do
    [ $SECONDS -lt $deadline ] || die "PostgreSQL not ready after ${ready_timeout}s (log in $pg_dir/server.log)"
    sleep 1
  done
  log "PostgreSQL ready on 127.0.0.1:$pg_port (database $pg_database)"
}

pg_privacy_settings="-c log_error_verbosity=terse -c log_min_error_statement=panic -c log_parameter_max_length=0 -c log_parameter_max_length_on_error=0"

# pg_stat_statements where the server has it: which statements each service runs, for
# `make bench-e2e` (it keeps statements with their parameters as $1, $2: no values)
pg_statements_setting() {
  if [ -f "$("$1/pg_config" --pkglibdir 2>/dev/null || echo "$1/../lib")/pg_stat_statements.so" ]; then
    echo "-c shared_preload_libraries=pg_stat_statements"
  fi
}

pg_admin_dsn() { echo "postgresql://$pg_user:$pg_password@127.0.0.1:$pg_port/postgres"; }

pg_down() {
  if ! pg_running; then
    log "PostgreSQL not running"
    return 0
  fi
  log "stopping PostgreSQL"
  pg_as "$(pg_bin)/pg_ctl" -D "$pg_dir" -m fast -w -t 60 stop >/dev/null
  log "PostgreSQL stopped"
}

pg_crash() { # as after a power cut: no checkpoint, every connection dropped at once
  if ! pg_running; then
    log "PostgreSQL not running"
    return 0
  fi
  log "stopping PostgreSQL immediately (-m immediate)"
  pg_as "$(pg_bin)/pg_ctl" -D "$pg_dir" -m immediate -w -t 60 stop >/dev/null
}

pg_status() {
  if pg_running; then
    printf 'postgres  running  127.0.0.1:%s  data %s\n' "$pg_port" "$pg_dir"
    probe postgres --dsn "$(pg_admin_dsn)" --database "$pg_database"
  else
    printf 'postgres  stopped  (expected on 127.0.0.1:%s, data %s)\n' "$pg_port" "$pg_dir"
    return 1
  fi
}

# ---------------------------------------------------------------- main

print_env() {
  cat <<EOF
SIGNAALPUNT_KAFKA_BOOTSTRAP=$kafka_host:$kafka_port
SIGNAALPUNT_KAFKA_CONTROLLER_PORT=$kafka_controller_port
SIGNAALPUNT_KAFKA_TLS_BOOTSTRAP=$kafka_host:$kafka_tls_port
SIGNAALPUNT_KAFKA_TLS_CAFILE=$kafka_tls_dir/ca.pem
SIGNAALPUNT_DATABASE_URL=postgresql://$pg_user:$pg_password@127.0.0.1:$pg_port/$pg_database
SIGNAALPUNT_KAFKA_VERSION=$kafka_version
SIGNAALPUNT_KAFKA_DIR=$kafka_dir
SIGNAALPUNT_PG_DIR=$pg_dir
SIGNAALPUNT_CACHE_DIR=$cache_dir
EOF
}

cmd="${1:-status}"
what="${2:-all}"
case "$what" in kafka|postgres|all) ;; *) die "unknown component '$what' (kafka, postgres or all)" ;; esac

run() { # run <verb> for the selected components; status reports both even when the first fails
  local verb="$1" rc=0
  if [ "$what" = all ] || [ "$what" = postgres ]; then "pg_$verb" || rc=1; fi
  if [ "$what" = all ] || [ "$what" = kafka ]; then "kafka_$verb" || rc=1; fi
  return $rc
}

case "$cmd" in
  up) run up ;;
  down) run down ;;
  crash) run crash ;;
  status) run status ;;
  fetch) kafka_fetch ;;
  env) print_env ;;
  *) die "unknown command '$cmd' (up, down, crash, status, fetch, env)" ;;
esac
