-- Firehose delivery-error events polled from CloudWatch Logs, stored once per CloudWatch event id.
CREATE TABLE delivery_errors (
    event_id        TEXT PRIMARY KEY,   -- CloudWatch Logs event id
    log_group       TEXT NOT NULL,
    log_stream      TEXT NOT NULL,
    event_time      BIGINT NOT NULL,    -- unix milliseconds (the event's timestamp)
    ingestion_time  BIGINT,             -- unix milliseconds (when CloudWatch received it)
    stream          TEXT NOT NULL,      -- delivery stream name, from the ARN (or the log group)
    stream_arn      TEXT,
    destination     TEXT,
    version_id      BIGINT,
    error_code      TEXT,
    family          TEXT NOT NULL,      -- http_endpoint, lambda, s3, opensearch, splunk, redshift, http_status, internal, other, unknown
    error_type      TEXT,               -- OpenSearch error type embedded in the message
    http_status     BIGINT,             -- status the destination answered, when the message says
    processor       TEXT,
    message         TEXT,
    raw             TEXT NOT NULL,      -- the event message exactly as logged
    stored_at       BIGINT NOT NULL
);
CREATE INDEX delivery_errors_time ON delivery_errors (event_time, event_id);
CREATE INDEX delivery_errors_stream_time ON delivery_errors (stream, event_time);

-- Where polling of each log group stands: events before cursor_time are all stored, and seen_ids lists
-- the events at or after it that are stored too. pass_* hold an unfinished pagination.
CREATE TABLE cloudwatch_checkpoints (
    log_group       TEXT PRIMARY KEY,
    cursor_time     BIGINT NOT NULL,    -- unix milliseconds
    seen_ids        TEXT NOT NULL,      -- JSON [[event_id, unix_ms], ...]
    pass_token      TEXT,
    pass_started_at BIGINT,             -- unix milliseconds of the pass's first request
    pass_seen_ids   TEXT,
    updated_at      BIGINT NOT NULL
);

-- Which replica polls which log group, until when.
CREATE TABLE cloudwatch_leases (
    log_group       TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,      -- instances.id
    expires_at      BIGINT NOT NULL     -- unix milliseconds
);

-- firesight's own non-200 answers to Firehose, counted per minute, for correlation.
CREATE TABLE firehose_rejections (
    bucket_start    BIGINT NOT NULL,    -- unix milliseconds, start of the minute
    status          BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    count           BIGINT NOT NULL,
    PRIMARY KEY (bucket_start, status, reason)
);
