-- One lease per Kinesis shard, after the Kinesis Client Library's lease table: who reads the shard
-- (owner), the tenure (counter, raised whenever the lease changes hands, so a replica that lost it
-- cannot checkpoint), until when (expires_at), and how far it is durably read (checkpoint).
CREATE TABLE kinesis_leases (
    stream_arn      TEXT NOT NULL,
    shard_id        TEXT NOT NULL,
    parent_ids      TEXT NOT NULL,      -- comma-separated parent shard ids ('' for none)
    owner           TEXT,               -- instances.id; NULL when free
    counter         BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,    -- unix milliseconds
    checkpoint      TEXT,               -- last durable sequence number, 'SHARD_END' when read to its end
    sub_checkpoint  BIGINT,             -- last user record of an aggregated record at the checkpoint
    checkpoint_at   BIGINT,             -- unix milliseconds
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (stream_arn, shard_id)
);
