-- Subscriptions created through the API as FHIR `Subscription` resources (the R4
-- Subscriptions backport). Each belongs to the organisation of the client that created it; the
-- resource is kept as last written (JSON), with the gateway's status and, after a failed
-- handshake, the reason.
CREATE TABLE fhir_subscriptions (
    id           TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    status       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    error        TEXT,
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX fhir_subscriptions_by_organisation ON fhir_subscriptions (organisation);

-- How many events each subscription has been sent (its notifications' event numbers): counted
-- in the commit that writes the outbox rows, so an event keeps its number through every retry.
CREATE TABLE subscription_events (
    subscription TEXT PRIMARY KEY,
    events       BIGINT NOT NULL
);
ALTER TABLE outbox ADD COLUMN event_number BIGINT;

-- When the receiving party acknowledged the delivered message (a kvittens naming it): the
-- receipt beside the HTTP answer. An acknowledged delivery is done even if no 2xx was seen.
ALTER TABLE outbox ADD COLUMN acknowledged_at BIGINT;

-- Closed cases are deleted after their retention (`retention.closed_cases_days`): the one
-- deletion of events allowed, made by a transaction that holds the marker row below (and
-- removes it before it commits, so no other transaction ever sees it).
CREATE TABLE retention_pruning (id INTEGER PRIMARY KEY CHECK (id = 1));
DROP TRIGGER events_append_only_delete;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM retention_pruning)
BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;
CREATE INDEX cases_closed ON cases (updated_at) WHERE phase IN ('discharged', 'cancelled');

-- The audit log's retention (`retention.audit_days`): the oldest records may be deleted, in
-- order, by a pruning transaction; the anchor keeps the last deleted record's seq and hash, so
-- the chain of the records kept still verifies from it.
CREATE TABLE audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
DROP TRIGGER audit_append_only_delete;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM retention_pruning)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
