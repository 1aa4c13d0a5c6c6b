-- Alert hooks: webhook endpoints, rules, the incidents rules open, and the outbox of signed events.
-- Booleans are BIGINT 0/1 and times unix milliseconds, so one set of queries serves both dialects.

CREATE TABLE alert_webhooks (
    id              TEXT PRIMARY KEY,   -- hook_<uuid v7>
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    enabled         BIGINT NOT NULL,
    events          TEXT NOT NULL,      -- JSON array of event types
    format          TEXT NOT NULL,      -- json | slack
    secret          TEXT NOT NULL,      -- whsec_<base64>; returned once, at creation
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE alert_rules (
    id              TEXT PRIMARY KEY,   -- rule_<uuid v7>
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,      -- delivery_errors | ingest_silence | error_rate
    threshold       REAL NOT NULL,
    window_secs     BIGINT NOT NULL,
    cooldown_secs   BIGINT NOT NULL,
    filters         TEXT NOT NULL,      -- JSON: streams, codes, families, min_requests
    enabled         BIGINT NOT NULL,
    last_fired_at   BIGINT,             -- the cooldown gate, set in the transaction that opens an incident
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE alert_incidents (
    id              TEXT PRIMARY KEY,   -- inc_<uuid v7>
    rule_id         TEXT NOT NULL,
    rule_name       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,      -- open | resolved
    opened_at       BIGINT NOT NULL,
    resolved_at     BIGINT,
    last_evaluated_at BIGINT NOT NULL,
    opened_value    REAL NOT NULL,
    peak_value      REAL NOT NULL,
    last_value      REAL NOT NULL,
    details         TEXT NOT NULL       -- JSON: the latest evaluation (window, counts, top codes)
);
-- At most one open incident per rule, whichever replica evaluates it.
CREATE UNIQUE INDEX alert_incidents_one_open ON alert_incidents (rule_id) WHERE status = 'open';
CREATE INDEX alert_incidents_opened ON alert_incidents (opened_at, id);

CREATE TABLE alert_events (
    id              TEXT PRIMARY KEY,   -- msg_<uuid v7>: the webhook-id header, the same on every attempt
    type            TEXT NOT NULL,      -- alert.firing | alert.resolved | alert.test
    incident_id     TEXT,
    payload         TEXT NOT NULL,      -- the JSON body of the generic format
    created_at      BIGINT NOT NULL
);

-- The outbox: one row per event and webhook, claimed by one dispatcher at a time.
CREATE TABLE alert_deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    webhook_id      TEXT NOT NULL,
    status          TEXT NOT NULL,      -- pending | sending | delivered | failed
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_by       TEXT,               -- instances.id of the dispatcher sending it
    locked_until    BIGINT,             -- after this a crashed sender's claim lapses
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);
CREATE INDEX alert_deliveries_event ON alert_deliveries (event_id);
CREATE INDEX alert_deliveries_webhook ON alert_deliveries (webhook_id);

CREATE TABLE alert_attempts (
    id              TEXT PRIMARY KEY,   -- uuid v7, so ids order by time
    delivery_id     TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    webhook_id      TEXT NOT NULL,
    attempt         BIGINT NOT NULL,    -- 1 for the first try of this delivery
    started_at      BIGINT NOT NULL,
    latency_ms      BIGINT NOT NULL,
    status_code     BIGINT,             -- the receiver's HTTP status, when it answered
    error           TEXT,               -- why the attempt failed
    success         BIGINT NOT NULL,
    instance_id     TEXT NOT NULL       -- which replica sent it
);
CREATE INDEX alert_attempts_webhook ON alert_attempts (webhook_id, id);
