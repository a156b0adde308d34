-- The audit log is read by sequence, organisation, person and time, never by case: its index
-- by case only cost every commit one more index entry per record.
DROP INDEX audit_by_case;

-- The outbox had two indexes led by a random key (the idempotency key's event id, and the case
-- id), so each row written touched two index pages no other row of the batch shared. One index
-- by case now serves both: an idempotency key names its event, which belongs to one case, so
-- (case_id, idempotency_key) is unique exactly when the key is. SQLite cannot drop a column's
-- UNIQUE constraint, so the table is rebuilt, keeping its ids and its id sequence.
CREATE TEMP TABLE outbox_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'outbox';
CREATE TABLE outbox_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_seq       BIGINT NOT NULL,
    destination     TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    event_number    BIGINT,
    acknowledged_at BIGINT
);
INSERT INTO outbox_rebuilt (id, case_id, event_id, event_seq, destination, idempotency_key,
    payload, status, attempts, next_attempt_at, claimed_by, claimed_until, last_error,
    created_at, finished_at, event_number, acknowledged_at)
SELECT id, case_id, event_id, event_seq, destination, idempotency_key, payload, status,
    attempts, next_attempt_at, claimed_by, claimed_until, last_error, created_at, finished_at,
    event_number, acknowledged_at
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
DELETE FROM sqlite_sequence WHERE name = 'outbox';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'outbox', MAX(seq) FROM (
    SELECT seq FROM temp.outbox_sequence
    UNION ALL SELECT MAX(id) FROM outbox
) WHERE seq IS NOT NULL HAVING COUNT(*) > 0;
DROP TABLE temp.outbox_sequence;
CREATE UNIQUE INDEX outbox_by_case ON outbox (case_id, idempotency_key);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
