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
