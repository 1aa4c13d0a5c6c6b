#!/usr/bin/env bash
# The seed pipeline, end to end, on one machine: the pipeline our users run on AWS, with every box real
# except Firehose itself, and firesight on top in both of its places.
#
#   nginx (Debian's, a small site; access log = combined + $request_time, client from X-Forwarded-For)
#     <- a client replaying the real sample log's requests (paths, user agents, client addresses)
#   agent (dev/pipeline/agent.py: tails the log as the Kinesis Agent does, through a rotation)
#     -> Kinesis data streams in moto: one SINGLELINE flow, one LOGTOJSON COMBINEDAPACHELOG flow
#   Firehose (dev/pipeline/firehose_sim.py, written from AWS's documentation) reading each stream,
#     buffering, invoking firesight-lambda in `cargo lambda watch` with the real transformation event,
#     (a) -> OpenSearch (a node of its own): _bulk into weblogs-YYYY-MM-DD, read by firesight (a)
#     (b) -> firesight (b)'s HTTP endpoint (embedded store)
#     failures -> S3 (moto) in Firehose's error formats, errors -> CloudWatch Logs (moto)
#   firesight (a) and (b) follow their stream's CloudWatch errors and replay its S3 failures.
# Faults: the log rotated and a shard split after the first third of the traffic; then OpenSearch and
# firesight (b) stopped for longer than the delivery streams' retry duration while the second third and
# a burst of lines that are not requests arrive; then the last third and a few timed probe requests.
# At the end every request nginx logged must be in each firesight's answers exactly once (documents,
# counts by path, status and country), the outage must be one delivery-error incident covering its
# errors, and every record the delivery streams gave up on must be back. Prints a one-screen summary;
# exits non-zero when a check fails.
#
# Usage: dev/seed-pipeline.sh [--requests N] [--rate R] [--outage-seconds S] [--retry-seconds S]
#                             [--garbage N] [--work DIR] [--json FILE]
#        dev/seed-pipeline.sh --install    (only what it needs: nginx, moto, the fixture, cargo-lambda)
# Defaults: 3000 requests at 150/s, retry 8 s, outage 25 s. It starts moto (dev/services.sh up, which
# also fetches the OpenSearch jars), installs nginx from Debian and cargo-lambda from PyPI when missing,
# fetches the GeoLite2 fixture, and builds firesight unless FIRESIGHT_SEED_BIN names a binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
STATE=${FIRESIGHT_DEV_DIR:-$REPO/.dev}

log() { printf '[seed-pipeline] %s\n' "$*" >&2; }

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    log "installing nginx (Debian)"
    if [[ $(id -u) -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >&2; }
    else
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >&2
    fi
    # The package starts a system nginx on port 80; the pipeline runs its own.
    (systemctl stop nginx || service nginx stop || nginx -s quit) >/dev/null 2>&1 || true
fi
export PATH=$PATH:/usr/sbin

if [[ -z ${FIRESIGHT_TEST_MOTO_URL:-} ]]; then
    dev/services.sh up >&2
    eval "$(dev/services.sh env)"
fi
dev/fixtures.sh >/dev/null
dev/lambda.sh install
[[ ${1:-} == --install ]] && exit 0

if [[ -z ${FIRESIGHT_SEED_BIN:-} ]]; then
    cargo build --locked --bin firesight >&2
    FIRESIGHT_SEED_BIN=$REPO/target/debug/firesight
fi

export FIRESIGHT_SEED_BIN
export FIRESIGHT_SEED_MOTO_URL=$FIRESIGHT_TEST_MOTO_URL
export FIRESIGHT_SEED_GEOIP=${FIRESIGHT_TEST_GEOLITE2_CITY:-$STATE/fixtures/GeoLite2-City.mmdb}
export FIRESIGHT_SEED_OPENSEARCH_LIB=$STATE/opensearch/lib
export FIRESIGHT_SEED_CARGO_LAMBDA=$STATE/lambda-venv/bin/cargo-lambda
PYTHON=${FIRESIGHT_TEST_PYTHON:-$STATE/venv/bin/python}
[[ -f $FIRESIGHT_SEED_OPENSEARCH_LIB/.complete ]] || { log "no OpenSearch jars: run dev/services.sh up"; exit 1; }
# cargo-lambda finds zig as `python3 -m ziglang` with its venv first on PATH.
export PATH=$STATE/lambda-venv/bin:$PATH
exec "$PYTHON" dev/pipeline/run.py "$@"
