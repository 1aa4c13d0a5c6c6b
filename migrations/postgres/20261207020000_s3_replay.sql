-- Replays of the records Firehose backed up to S3 after giving up on them.
-- One row per replay (a `firesight replay` run, a POST /v1/delivery-errors/replays, or a pass of the
-- background job that found new objects), with its counts; `codes` holds them per error code as JSON.
CREATE TABLE replays (
    id              TEXT PRIMARY KEY,
    origin          TEXT NOT NULL,      -- cli, api or job
    location        TEXT NOT NULL,      -- s3://bucket/prefix
    since_ms        BIGINT,             -- attemptEndingTimestamp bounds, unix milliseconds
    until_ms        BIGINT,
    dry_run         BIGINT NOT NULL,    -- 0 or 1
    status          TEXT NOT NULL,      -- running, completed or failed
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    objects         BIGINT NOT NULL,
    records         BIGINT NOT NULL,    -- failed records read
    lines_found     BIGINT NOT NULL,    -- access-log lines in them (recoverable or not)
    indexed         BIGINT NOT NULL,
    duplicates      BIGINT NOT NULL,    -- already present
    dead_lettered   BIGINT NOT NULL,    -- still unparseable
    codes           TEXT NOT NULL,      -- JSON: per error code, the same counts
    error           TEXT
);
CREATE INDEX replays_started ON replays (started_at);

-- The objects the background job replayed, so that a restart does not read them again. A row in
-- state 'running' is claimed by `owner` until `lease_until`; after it, another replica may take it.
CREATE TABLE replay_objects (
    bucket          TEXT NOT NULL,
    object_key      TEXT NOT NULL,
    size            BIGINT NOT NULL,
    state           TEXT NOT NULL,      -- running or done
    owner           TEXT,
    lease_until     BIGINT NOT NULL,
    replay_id       TEXT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (bucket, object_key)
);

-- What each object held, per delivery stream, error code and minute of attemptEndingTimestamp: how the
-- delivery-error incidents covering that minute learn the records found in S3 and replayed. A later
-- replay of the same object replaces its rows.
CREATE TABLE replay_counts (
    bucket          TEXT NOT NULL,
    object_key      TEXT NOT NULL,
    stream          TEXT NOT NULL,      -- '' when the object's name does not tell
    error_code      TEXT NOT NULL,
    minute_ms       BIGINT NOT NULL,
    found           BIGINT NOT NULL,    -- lines found in the failed records
    replayed        BIGINT NOT NULL,    -- lines now in the log store (indexed or already present)
    dead_lettered   BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (bucket, object_key, stream, error_code, minute_ms)
);
CREATE INDEX replay_counts_time ON replay_counts (minute_ms);
