-- A delivery's message body moves to a table of its own. The outbox row is updated when it is
-- claimed and again when it is settled; with the body in it, each update rewrote (and sent to
-- the write-ahead log) a page per row or two. Without it, the rows a claim takes share a page.
-- The batch that writes an outbox row gives it its id (the sequence's next), so that its body
-- can be written beside it in the same statement group.
CREATE TABLE outbox_payloads (
    id      INTEGER PRIMARY KEY,
    payload TEXT NOT NULL
);
INSERT INTO outbox_payloads (id, payload) SELECT id, payload FROM outbox;
ALTER TABLE outbox DROP COLUMN payload;

-- Whoever deletes an outbox row (retention, a case's deletion) deletes its body.
CREATE TRIGGER outbox_payload_delete AFTER DELETE ON outbox
BEGIN DELETE FROM outbox_payloads WHERE id = old.id; END;
