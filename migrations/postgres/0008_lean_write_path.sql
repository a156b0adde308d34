-- The audit log is read by sequence, organisation, person and time, never by case: its index
-- by case only cost every commit one more index entry per record.
DROP INDEX audit_by_case;

-- The outbox had two indexes led by a random key (the idempotency key's event id, and the case
-- id), so each row written touched two index pages no other row of the batch shared. One index
-- by case now serves both: an idempotency key names its event, which belongs to one case, so
-- (case_id, idempotency_key) is unique exactly when the key is.
CREATE UNIQUE INDEX outbox_by_case_and_key ON outbox (case_id, idempotency_key);
ALTER TABLE outbox DROP CONSTRAINT outbox_idempotency_key_key;
DROP INDEX outbox_by_case;
ALTER INDEX outbox_by_case_and_key RENAME TO outbox_by_case;
