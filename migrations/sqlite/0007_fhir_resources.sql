-- FHIR resources a client keeps at the gateway that are no process document: a Task with no
-- process step, a CarePlan outside a case, a Patient it records. Every version as received
-- (JSON, with the gateway's id and meta), the current one marked; each belongs to the
-- organisation of the client that created it, and only that organisation sees it.
-- `subject` is the person (`system|value`) or the reference the resource is about, for
-- searches.
CREATE TABLE fhir_resources (
    kind         TEXT NOT NULL,
    id           TEXT NOT NULL,
    version      BIGINT NOT NULL,
    is_current   BIGINT NOT NULL,
    organisation TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    subject      TEXT,
    last_updated BIGINT NOT NULL,
    resource     TEXT NOT NULL,
    PRIMARY KEY (kind, id, version)
);
CREATE INDEX fhir_resources_current ON fhir_resources (organisation, kind) WHERE is_current = 1;

-- The id of each case's person as a FHIR Patient (`/fhir/Patient/{patient_id}`), so that a
-- Patient is read by its id. Cases stored before it are filled in at start-up.
ALTER TABLE cases ADD COLUMN patient_id TEXT;
CREATE INDEX cases_by_patient_id ON cases (patient_id);

-- Cases by their last change, for worklist searches over a window of time
-- (`GET /fhir/Task?owner=…&_lastUpdated=ge…`).
CREATE INDEX cases_by_update ON cases (updated_at);
