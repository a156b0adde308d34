-- The recipient of each delivery in a column of its own (as `recipient_key` writes it), so
-- that a kvittens finds the deliveries it acknowledges without taking the idempotency key
-- apart. A key is `<event id>:<subscription>:<recipient>`.
ALTER TABLE outbox ADD COLUMN recipient TEXT NOT NULL DEFAULT '';
UPDATE outbox SET recipient = substr(idempotency_key, length(event_id) + length(destination) + 3);
