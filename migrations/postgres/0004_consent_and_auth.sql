-- The consent registry: every directive of a person (consent, objection, withdrawal), from case
-- events, FHIR Consent resources and the API. Directives recorded by case events are written in
-- the transaction that appends the events. The directive is JSON (`ConsentDirective`); the
-- FHIR resource as received is kept beside it.
CREATE TABLE consents (
    person       TEXT NOT NULL,
    source       TEXT NOT NULL,
    consent_id   TEXT NOT NULL,
    -- The id of its FHIR Consent (`/fhir/Consent/{resource_id}`).
    resource_id  TEXT NOT NULL,
    directive    TEXT NOT NULL,
    resource     TEXT,
    recorded_at  BIGINT NOT NULL,
    withdrawn_at BIGINT,
    PRIMARY KEY (person, source, consent_id)
);
CREATE UNIQUE INDEX consents_by_resource ON consents (resource_id);

-- Client assertions already used (their `jti`), kept until they expire: a replayed assertion
-- finds its row and is refused, on every gateway instance sharing the database.
CREATE TABLE used_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX used_assertions_expiry ON used_assertions (expires_at);
