-- A webhook that fails every attempt for FIRESIGHT_ALERTS__DISABLE_AFTER_SECS is disabled: since when
-- its attempts have failed, when it was disabled and why.
ALTER TABLE alert_webhooks ADD COLUMN failing_since BIGINT;
ALTER TABLE alert_webhooks ADD COLUMN disabled_at BIGINT;
ALTER TABLE alert_webhooks ADD COLUMN disabled_reason TEXT;
