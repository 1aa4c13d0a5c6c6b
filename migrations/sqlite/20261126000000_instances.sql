-- Every process that starts against this database registers itself; later issues use it for leases
-- and to tell which replica did what.
CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    hostname    TEXT NOT NULL,
    version     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,   -- unix milliseconds
    last_seen   BIGINT NOT NULL    -- unix milliseconds
);
