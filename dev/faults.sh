#!/usr/bin/env bash
# Fault injection at scale-out: real log lines through the Firehose endpoint of two firesight processes
# while an OpenSearch node, a firesight process and PostgreSQL fail in turn; then every document is
# checked by id and every alert webhook delivery by webhook-id.
#
# What it starts, all its own, on loopback, in a fresh temporary directory:
#   - OpenSearch 2.19: three nodes as three JVMs joined into one cluster (each node holds data and may
#     be elected cluster manager), real server jars from Maven Central run by codelibs'
#     OpenSearchRunner (the jars are fetched with the same pom and Maven command as dev/services.sh,
#     into the same <repo>/.dev/opensearch/lib, so either script reuses the other's download);
#   - PostgreSQL 15: its own cluster (initdb) on another port; the system cluster is not touched;
#   - two firesight processes (release build) sharing that PostgreSQL state database and the
#     OpenSearch cluster (index prefix `faults`, replicas 1), alerts enabled in both;
#   - a webhook receiver (dev/load/faults.py webhook) that records every request's webhook-id and
#     checks its Standard Webhooks signature, subscribed with one error_rate rule (any 5xx response in
#     the last minute; the real log has 3 in every 10,000 lines), which fires soon after the load
#     starts and resolves a minute after it ends.
# The load (dev/load/faults.py send, on dev/load/firehose.py): LINES lines of
# tests/fixtures/access_logs/elastic_examples_apache_logs.log replicated, each stamped with the time it
# is sent, one line per record, RECORDS records per delivery, CONCURRENCY deliveries at a time. A failed
# attempt (non-200, reset, timeout) is retried with the same request id and records, as Firehose does,
# and each attempt goes to the other firesight process than the one before.
# The faults, in turn, each when a share of the lines has been acknowledged (FAULT_AT); deliveries past
# the next fault's share wait until the previous fault has recovered, so each fault meets load:
#   1. SIGKILL of one OpenSearch data node (one holding a copy of the index being written, never the
#      node firesight talks to: FIRESIGHT_OPENSEARCH__URL takes one URL), restarted after OS_DOWN s;
#      recovered when it has rejoined and the cluster is green again;
#   2. SIGKILL of the second firesight process, restarted after APP_DOWN s; recovered when it is ready;
#   3. PostgreSQL stopped in immediate mode (as a crash: recovery on start), started after PG_DOWN s;
#      recovered when both firesight processes report ready.
# Then it checks: every line sent was acknowledged; the indices hold exactly the ids firesight derives
# for them (count and ids, computed here from the request ids), no id twice, no dead letters, both
# copies of each shard with the same count; the rule's events were each delivered once (one successful
# attempt in firesight, one request at the receiver, signature valid) and at least one alert.firing.
#
# Usage: dev/faults.sh [LINES]        (default 1000000; e.g. dev/faults.sh 100000 in CI)
#
# Output: progress on stderr; on stdout the load and fault timings, then
#   sent N / acknowledged N / indexed N / duplicates N   (and what is missing or unexpected)
#   alerts: ... webhook deliveries received, ... distinct webhook-ids
#   PASS or FAIL. Exit status 0 only if nothing was lost, duplicated or delivered twice.
#
# Settings (environment):
#   BIN                  firesight binary (default target/release/firesight, built first)
#   NO_BUILD=1           skip `cargo build --release --locked --bin firesight`
#   KEEP=1               keep the run directory (logs, data) even when everything passed; a failed run
#                        always keeps it and prints its path
#   FAULTS_DIR           run directory (default a new fsfaults.XXXXXX in the temporary directory)
#   RECORDS              records per delivery (default 2000; Firehose sends up to 10,000)
#   CONCURRENCY          deliveries in flight (default 4)
#   FAULT_AT             acknowledged shares that trigger the three faults (default "0.2 0.45 0.7")
#   OS_DOWN, APP_DOWN, PG_DOWN   seconds each victim stays down (default 15, 5, 10)
#   OS_JAVA_OPTS         JVM options per OpenSearch node (default -Xms384m -Xmx512m)
#   OS_HTTP_PORT         HTTP port of node 1; nodes 2 and 3 take the next two (default 9241; the runner
#                        accepts HTTP ports up to 9299 only)
#   OS_TRANSPORT_PORT    transport port of node 1, likewise (default 9371)
#   PG_PORT              PostgreSQL port (default 55432)
#   APP_PORT             firesight A's port; B takes the next (default 18471)
#   HOOK_PORT            webhook receiver port (default 18479)
#   ALERT_WINDOW         the rule's window (default 1m)
#   WAIT_TIMEOUT         seconds to wait for a service to start (default 300)
#   RECOVERY_TIMEOUT     seconds to wait for recovery after a fault (default 1200: a replica of a shard
#                        that keeps growing under load took 5 minutes to recover on a busy 2-core machine)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
cd "$REPO_ROOT"

LINES=${1:-${LINES:-1000000}}
[[ $LINES =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [LINES]" >&2; exit 2; }
RECORDS=${RECORDS:-2000}
CONCURRENCY=${CONCURRENCY:-4}
read -r -a FAULT_AT <<<"${FAULT_AT:-0.2 0.45 0.7}"
((${#FAULT_AT[@]} == 3)) || { echo "FAULT_AT needs three shares" >&2; exit 2; }
OS_DOWN=${OS_DOWN:-15}
APP_DOWN=${APP_DOWN:-5}
PG_DOWN=${PG_DOWN:-10}
OS_JAVA_OPTS=${OS_JAVA_OPTS:--Xms384m -Xmx512m}
OS_HTTP_PORT=${OS_HTTP_PORT:-9241}
OS_TRANSPORT_PORT=${OS_TRANSPORT_PORT:-9371}
PG_PORT=${PG_PORT:-55432}
APP_PORT=${APP_PORT:-18471}
HOOK_PORT=${HOOK_PORT:-18479}
ALERT_WINDOW=${ALERT_WINDOW:-1m}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-300}
RECOVERY_TIMEOUT=${RECOVERY_TIMEOUT:-1200}

PG_VERSION=15
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
OS_POM=$SCRIPT_DIR/opensearch/pom.xml
OS_LIB=$REPO_ROOT/.dev/opensearch/lib
OS_CLUSTER=firesight-faults
PREFIX=faults
API_KEY=faults-api-key
ACCESS_KEY=faults-access-key
FIXTURE=$REPO_ROOT/tests/fixtures/access_logs/elastic_examples_apache_logs.log
LOADPY=$SCRIPT_DIR/load/faults.py
T_START=$SECONDS

log() { printf '[faults %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now() { date +%s.%N; }
# Seconds since the load started (the driver writes its start time), three decimals.
rel() { awk -v s="$LOAD_T0" -v n="${1:-$(now)}" 'BEGIN { printf "%.3f", n - s }'; }

ensure_cmd() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null && return 0
    [[ $(id -u) -eq 0 ]] || die "'$cmd' is missing; install Debian package $pkg"
    log "installing $pkg (for '$cmd')"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg"; } >>"$WORK/apt.log" 2>&1 ||
        die "apt-get install $pkg failed; see $WORK/apt.log"
}

# --- run directory and cleanup -------------------------------------------------------------------------

WORK=${FAULTS_DIR:-$(mktemp -d -t fsfaults.XXXXXX)}
mkdir -p "$WORK"/{logs,run}
# PostgreSQL runs as the postgres user when we are root: it must reach its data directory.
chmod 755 "$WORK"
declare -A PIDS=()
RESULT=fail

stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local name
    trap - EXIT INT TERM
    for name in "${!PIDS[@]}"; do
        stop_pid "${PIDS[$name]}" &
    done
    wait 2>/dev/null || true
    if [[ -f $WORK/pg/data/postmaster.pid ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [[ $RESULT == pass && -z ${KEEP:-} ]]; then
        rm -rf -- "$WORK"
    else
        log "run directory kept: $WORK (logs in $WORK/logs)"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start "$@" in the background with its output in logs/$name.log and remember its pid.
launch() {
    local name=$1
    shift
    printf '=== %s started at %s ===\n' "$name" "$(date -Is)" >>"$WORK/logs/$name.log"
    "$@" >>"$WORK/logs/$name.log" 2>&1 </dev/null &
    PIDS[$name]=$!
}

# SIGKILL a process we started and reap it (quietly: bash would report "Killed").
sigkill() {
    kill -KILL "${PIDS[$1]}"
    wait "${PIDS[$1]}" 2>/dev/null || true
}

# wait_until WHAT NAME CMD...: polls CMD until it succeeds; dies if process NAME exits or after
# WAIT_TIMEOUT s. recover_until: the same with RECOVERY_TIMEOUT, and a timeout is recorded as a failed
# check rather than ending the run, so the other faults and the checks still run.
wait_until() {
    local what=$1 name=$2
    shift 2
    local deadline=$((SECONDS + ${TIMEOUT:-$WAIT_TIMEOUT}))
    until "$@" >/dev/null 2>&1; do
        if [[ -n $name ]] && ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
            tail -n 30 "$WORK/logs/$name.log" >&2 || true
            die "$name exited before $what"
        fi
        if ((SECONDS >= deadline)); then
            [[ -n ${SOFT:-} ]] || die "no $what within ${TIMEOUT:-$WAIT_TIMEOUT}s"
            log "FAILED: no $what within ${TIMEOUT}s"
            NOT_RECOVERED+=("$what")
            return 1
        fi
        sleep 0.5
    done
}
NOT_RECOVERED=()
recover_until() { SOFT=1 TIMEOUT=$RECOVERY_TIMEOUT wait_until "$@" || true; }

# --- binary ----------------------------------------------------------------------------------------------

BIN=${BIN:-target/release/firesight}
if [[ -z ${NO_BUILD:-} ]]; then
    log "building firesight (cargo build --release --locked)"
    cargo build --release --locked --bin firesight >&2
fi
[[ -x $BIN ]] || die "no firesight binary at $BIN"
BIN=$(cd -- "$(dirname -- "$BIN")" && pwd)/$(basename -- "$BIN")
# The two processes run as $WORK/bin/fs-a and fs-b (symlinks to BIN): ps and the logs tell them apart,
# and a `pkill firesight` meant for another developer's server on the same machine leaves them alone.
mkdir -p "$WORK/bin"
ln -sf "$BIN" "$WORK/bin/fs-a"
ln -sf "$BIN" "$WORK/bin/fs-b"

for port in "$OS_HTTP_PORT" $((OS_HTTP_PORT + 1)) $((OS_HTTP_PORT + 2)) "$OS_TRANSPORT_PORT" $((OS_TRANSPORT_PORT + 1)) \
    $((OS_TRANSPORT_PORT + 2)) "$PG_PORT" "$APP_PORT" $((APP_PORT + 1)) "$HOOK_PORT"; do
    port_busy "$port" && die "port $port is in use; choose other ports (see the settings in $0)"
done
((OS_HTTP_PORT + 2 <= 9299)) || die "OS_HTTP_PORT must leave room for three ports up to 9299"

ensure_cmd curl curl
ensure_cmd python3 python3
ensure_cmd java openjdk-17-jre-headless
ensure_cmd mvn maven
[[ -x $PG_BIN/initdb ]] || ensure_cmd "$PG_BIN/initdb" "postgresql-$PG_VERSION"

# --- OpenSearch: three nodes, three JVMs -------------------------------------------------------------------

os_install() {
    # Same stamp as dev/services.sh: the pom's hash; editing the pom fetches the jars again.
    local want have=""
    want=$(sha256sum <"$OS_POM" | cut -d' ' -f1)
    [[ -f $OS_LIB/.complete ]] && have=$(<"$OS_LIB/.complete")
    [[ $have == "$want" ]] && return 0
    log "fetching OpenSearch jars from Maven Central"
    mkdir -p -- "$(dirname -- "$OS_LIB")"
    rm -rf -- "$OS_LIB.tmp"
    mvn -B -q -f "$OS_POM" dependency:copy-dependencies -DoutputDirectory="$OS_LIB.tmp" \
        >"$WORK/logs/opensearch-install.log" 2>&1 || die "maven fetch failed; see $WORK/logs/opensearch-install.log"
    printf '%s\n' "$want" >"$OS_LIB.tmp/.complete"
    rm -rf -- "$OS_LIB"
    mv -- "$OS_LIB.tmp" "$OS_LIB"
}

os_url() { printf 'http://127.0.0.1:%s' $((OS_HTTP_PORT + $1 - 1)); }

os_write_config() {
    local i=$1 dir=$WORK/os/n$1 seeds
    seeds="\"127.0.0.1:$OS_TRANSPORT_PORT\", \"127.0.0.1:$((OS_TRANSPORT_PORT + 1))\", \"127.0.0.1:$((OS_TRANSPORT_PORT + 2))\""
    mkdir -p "$dir/config" "$dir/tmp"
    # The runner names every node "Node 1" (it numbers nodes within one JVM), so the nodes are told
    # apart by transport address (bootstrap) and by the attribute faults_node.
    cat >"$dir/config/opensearch.yml" <<EOF
network.host: 127.0.0.1
transport.port: $((OS_TRANSPORT_PORT + i - 1))
discovery.seed_hosts: [$seeds]
cluster.initial_cluster_manager_nodes: [$seeds]
node.attr.faults_node: n$i
cluster.routing.allocation.disk.threshold_enabled: false
EOF
}

os_start() {
    local i=$1 dir=$WORK/os/n$1 opts
    read -r -a opts <<<"$OS_JAVA_OPTS"
    # -baseHttpPort is one below the node's port: the runner gives its node i the port base+i.
    launch "opensearch-n$i" java "${opts[@]}" -Djava.io.tmpdir="$dir/tmp" -Dlog4j2.formatMsgNoLookups=true \
        -cp "$OS_LIB/*" org.codelibs.opensearch.runner.OpenSearchRunner \
        -basePath "$dir/cluster" -confPath "$dir/config" -numOfNode 1 \
        -baseHttpPort $((OS_HTTP_PORT + i - 2)) -clusterName "$OS_CLUSTER"
}

os_nodes() { curl -sf --max-time 5 "$(os_url 1)/_cat/nodes?h=id&full_id=true" | wc -l; }
os_has_nodes() { [[ $(os_nodes) -eq $1 ]]; }
os_green() { curl -sf --max-time 35 "$(os_url 1)/_cluster/health?wait_for_status=green&wait_for_nodes=3&timeout=30s" | grep -q '"status":"green"'; }

# The node to kill: one holding a copy of the logs indices, not node 1 (firesight's only URL); a
# primary before a replica, so its promotion is part of the fault.
os_victim() {
    python3 - "$(os_url 1)" "$PREFIX" "$OS_TRANSPORT_PORT" <<'EOF'
import json, sys, urllib.request
base, prefix, tport = sys.argv[1], sys.argv[2], int(sys.argv[3])
get = lambda p: json.load(urllib.request.urlopen(base + p, timeout=10))
nodes = {n["id"]: int(n["port"]) - tport + 1 for n in get("/_cat/nodes?format=json&h=id,port&full_id=true")}
shards = get(f"/_cat/shards/{prefix}-*?format=json&h=index,prirep,state,id")
for kind in ("p", "r"):
    for s in shards:
        n = nodes.get(s.get("id"))
        if s["prirep"] == kind and n and n != 1:
            print(n, "primary" if kind == "p" else "replica", s["index"])
            sys.exit(0)
print(3, "no-copy", "-")
EOF
}

# --- PostgreSQL: a cluster of our own ----------------------------------------------------------------------

as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

pg_start() {
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/logs/postgres.log" -w -t "$WAIT_TIMEOUT" \
        -o "-c port=$PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK/pg" start >/dev/null
}

pg_up() {
    mkdir -p "$WORK/pg"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$WORK/pg" && touch "$WORK/logs/postgres.log" && chown postgres: "$WORK/logs/postgres.log"
    as_pg "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 >"$WORK/logs/initdb.log" 2>&1 ||
        die "initdb failed; see $WORK/logs/initdb.log"
    pg_start || die "PostgreSQL did not start; see $WORK/logs/postgres.log"
    psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE firesight LOGIN PASSWORD 'firesight'" -c "CREATE DATABASE firesight OWNER firesight" >/dev/null ||
        die "could not create the firesight role and database"
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

# --- firesight ---------------------------------------------------------------------------------------------

app_url() { printf 'http://127.0.0.1:%s' $((APP_PORT + $1)); }
app_name() { [[ $1 -eq 0 ]] && echo firesight-a || echo firesight-b; }

app_start() {
    local i=$1 name
    name=$(app_name "$i")
    mkdir -p "$WORK/$name"
    # A clean environment: only these settings, whatever FIRESIGHT_* the caller has exported.
    launch "$name" env -i PATH="$PATH" HOME="${HOME:-/root}" \
        FIRESIGHT_LISTEN="127.0.0.1:$((APP_PORT + i))" \
        FIRESIGHT_DATA_DIR="$WORK/$name" \
        FIRESIGHT_DATABASE_URL="postgres://firesight:firesight@127.0.0.1:$PG_PORT/firesight" \
        FIRESIGHT_STORE=opensearch \
        FIRESIGHT_OPENSEARCH__URL="$(os_url 1)" \
        FIRESIGHT_OPENSEARCH__INDEX_PREFIX="$PREFIX" \
        FIRESIGHT_OPENSEARCH__REPLICAS=1 \
        FIRESIGHT_API_KEYS="$API_KEY" \
        FIRESIGHT_FIREHOSE__ACCESS_KEYS="$ACCESS_KEY" \
        FIRESIGHT_ALERTS__ALLOW_PRIVATE_TARGETS=127.0.0.0/8 \
        FIRESIGHT_ALERTS__EVALUATION_INTERVAL_SECS=5 \
        FIRESIGHT_ALERTS__RETRY_SCHEDULE=1s,2s,5s,10s,30s,1m,2m,5m \
        FIRESIGHT_ALERTS__TIMEOUT_SECS=5 \
        FIRESIGHT_LOG__LEVEL=info \
        "$WORK/bin/fs-$([[ $i -eq 0 ]] && echo a || echo b)" serve
}

app_ready() { curl -sf --max-time 5 -o /dev/null "$(app_url "$1")/health/ready"; }
apps_ready() { app_ready 0 && app_ready 1; }

# --- bring everything up -----------------------------------------------------------------------------------

log "run directory $WORK; $LINES lines"
os_install
for i in 1 2 3; do
    os_write_config "$i"
    os_start "$i"
done
pg_up
wait_until "3-node OpenSearch cluster" opensearch-n1 os_has_nodes 3
wait_until "green OpenSearch cluster" opensearch-n1 os_green
log "OpenSearch: 3 nodes on $(os_url 1) $(os_url 2) $(os_url 3); PostgreSQL on $PG_PORT"

# One after the other, so the first runs the state database migrations alone.
app_start 0
wait_until "firesight A ready" firesight-a app_ready 0
app_start 1
wait_until "firesight B ready" firesight-b app_ready 1
log "firesight: $(app_url 0) and $(app_url 1)"

launch webhook python3 "$LOADPY" webhook --port "$HOOK_PORT" --log "$WORK/webhook.jsonl" --secret-file "$WORK/run/hook-secret"
wait_until "webhook receiver" webhook port_busy "$HOOK_PORT"
python3 "$LOADPY" alerts-setup --api "$(app_url 0)" --key "$API_KEY" --out "$WORK" \
    --hook-url "http://127.0.0.1:$HOOK_PORT/hook" --secret-file "$WORK/run/hook-secret" --window "$ALERT_WINDOW" ||
    die "could not create the webhook and rule"
T_READY=$SECONDS
log "everything up in $((T_READY - T_START))s"

# --- load and faults ---------------------------------------------------------------------------------------

launch load python3 "$LOADPY" send --lines "$LINES" --endpoint "$(app_url 0)" --endpoint "$(app_url 1)" \
    --access-key "$ACCESS_KEY" --fixture "$FIXTURE" --records "$RECORDS" --concurrency "$CONCURRENCY" \
    --gate "${FAULT_AT[1]}:$WORK/run/fault1.done" --gate "${FAULT_AT[2]}:$WORK/run/fault2.done" \
    --gate "0.95:$WORK/run/fault3.done" --out "$WORK"
wait_until "load start" load test -s "$WORK/progress.json"
LOAD_T0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["started_epoch"])' "$WORK/progress.json")

acked() { python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["acked_lines"], int(p["finished"]))' "$WORK/progress.json" 2>/dev/null || echo "0 0"; }

# Waits until SHARE of the lines are acknowledged; false if the load ended first.
wait_share() {
    local target a f
    target=$(awk -v n="$LINES" -v s="$1" 'BEGIN { printf "%d", n * s }')
    while :; do
        read -r a f < <(acked)
        ((a >= target)) && { ACKED_AT=$a; return 0; }
        { ((f)) || ! kill -0 "${PIDS[load]}" 2>/dev/null; } && return 1
        sleep 0.1
    done
}

record_fault() { # name what at acked restarted recovered recovery
    printf '{"name":"%s","what":"%s","at":%s,"acked_at_fault":%s,"restarted":%s,"recovered":%s,"recovery":"%s"}\n' \
        "$@" >>"$WORK/faults.jsonl"
}

FAULTS_DONE=0
fault_opensearch() {
    local victim role index t_kill t_back t_joined t_green
    read -r victim role index < <(os_victim)
    t_kill=$(now)
    sigkill "opensearch-n$victim"
    log "fault 1: SIGKILL OpenSearch node n$victim ($role of $index) at $ACKED_AT acknowledged lines"
    sleep "$OS_DOWN"
    os_start "$victim"
    t_back=$(now)
    recover_until "OpenSearch node n$victim rejoining" "opensearch-n$victim" os_has_nodes 3
    t_joined=$(now)
    recover_until "green OpenSearch cluster after the restart" "opensearch-n$victim" os_green
    t_green=$(now)
    log "fault 1: n$victim rejoined $(awk -v a="$t_joined" -v b="$t_back" 'BEGIN{printf "%.1f", a-b}')s after its restart, green after $(awk -v a="$t_green" -v b="$t_back" 'BEGIN{printf "%.1f", a-b}')s"
    record_fault opensearch-node "SIGKILL OpenSearch node n$victim ($role of $index), down ${OS_DOWN}s" \
        "$(rel "$t_kill")" "$ACKED_AT" "$(rel "$t_back")" "$(rel "$t_green")" \
        "rejoined $(awk -v a="$t_joined" -v b="$t_back" 'BEGIN{printf "%.1f", a-b}')s and green $(awk -v a="$t_green" -v b="$t_back" 'BEGIN{printf "%.1f", a-b}')s after restart"
}

fault_firesight() {
    local t_kill t_back t_ready
    t_kill=$(now)
    sigkill firesight-b
    log "fault 2: SIGKILL firesight B at $ACKED_AT acknowledged lines"
    sleep "$APP_DOWN"
    app_start 1
    t_back=$(now)
    recover_until "firesight B ready after the restart" firesight-b app_ready 1
    t_ready=$(now)
    log "fault 2: firesight B ready $(awk -v a="$t_ready" -v b="$t_back" 'BEGIN{printf "%.1f", a-b}')s after its restart"
    record_fault firesight-process "SIGKILL firesight B, down ${APP_DOWN}s" "$(rel "$t_kill")" "$ACKED_AT" \
        "$(rel "$t_back")" "$(rel "$t_ready")" "ready $(awk -v a="$t_ready" -v b="$t_back" 'BEGIN{printf "%.1f", a-b}')s after restart"
}

fault_postgres() {
    local t_kill t_back t_ready
    t_kill=$(now)
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null
    log "fault 3: PostgreSQL stopped (immediate) at $ACKED_AT acknowledged lines"
    sleep "$PG_DOWN"
    pg_start || die "PostgreSQL did not start again; see $WORK/logs/postgres.log"
    t_back=$(now)
    recover_until "PostgreSQL accepting connections" "" pg_ready
    recover_until "both firesight processes ready after the PostgreSQL restart" "" apps_ready
    t_ready=$(now)
    log "fault 3: both firesight processes ready $(awk -v a="$t_ready" -v b="$t_back" 'BEGIN{printf "%.1f", a-b}')s after PostgreSQL started"
    record_fault postgres-restart "PostgreSQL immediate stop, down ${PG_DOWN}s" "$(rel "$t_kill")" "$ACKED_AT" \
        "$(rel "$t_back")" "$(rel "$t_ready")" "both firesight ready $(awk -v a="$t_ready" -v b="$t_back" 'BEGIN{printf "%.1f", a-b}')s after start"
}

n=0
for fault in fault_opensearch fault_firesight fault_postgres; do
    n=$((n + 1))
    if ! wait_share "${FAULT_AT[$((n - 1))]}"; then
        log "the load ended before fault $n; use more LINES"
        break
    fi
    "$fault"
    touch "$WORK/run/fault$n.done"
    FAULTS_DONE=$n
done
touch "$WORK/run/fault1.done" "$WORK/run/fault2.done" "$WORK/run/fault3.done"

load_status=0
wait "${PIDS[load]}" || load_status=$?
unset 'PIDS[load]'
T_LOADED=$SECONDS

# --- checks ------------------------------------------------------------------------------------------------

status=0
((FAULTS_DONE == 3)) || { log "only $FAULTS_DONE of 3 faults happened during the load"; status=1; }
((${#NOT_RECOVERED[@]} == 0)) || { log "not recovered in time: ${NOT_RECOVERED[*]}"; status=1; }
((load_status == 0)) || { log "the load left deliveries unacknowledged"; status=1; }
echo "== load and faults"
python3 "$LOADPY" summary --out "$WORK" || status=1
echo "== documents"
python3 "$LOADPY" verify-docs --opensearch "$(os_url 1)" --prefix "$PREFIX" --lines "$LINES" --fixture "$FIXTURE" --out "$WORK" || status=1
T_VERIFIED=$SECONDS
log "waiting for the alert to resolve (its window, $ALERT_WINDOW, must pass without 5xx lines)"
python3 "$LOADPY" wait-alert --api "$(app_url 0)" --key "$API_KEY" --out "$WORK" --state resolved --timeout "$WAIT_TIMEOUT" || status=1
# Anything sent twice would arrive within a few dispatch intervals.
sleep 5
echo "== alerts"
python3 "$LOADPY" verify-alerts --api "$(app_url 0)" --key "$API_KEY" --out "$WORK" --hook-log "$WORK/webhook.jsonl" || status=1
grep -hE '(ERROR|WARN)' "$WORK/logs/firesight-a.log" "$WORK/logs/firesight-b.log" 2>/dev/null |
    sed -E 's/\x1b\[[0-9;]*m//g; s/^[^ ]+ +//' | awk '{ $1 = $1 } 1' | cut -c1-160 | sort | uniq -c | sort -rn | head -n 12 >"$WORK/firesight-warnings.txt" || true
if [[ -s $WORK/firesight-warnings.txt ]]; then
    echo "== most frequent firesight warnings and errors (count, message start)"
    cat "$WORK/firesight-warnings.txt"
fi
echo "== time: start $((T_READY - T_START))s, load $((T_LOADED - T_READY))s, documents check $((T_VERIFIED - T_LOADED))s, total $((SECONDS - T_START))s"
if ((status == 0)); then
    RESULT=pass
    echo "PASS"
else
    echo "FAIL"
fi
exit "$status"
