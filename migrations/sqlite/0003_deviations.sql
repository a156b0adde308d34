-- Deviations by state, kept in the transaction that appends their events, so that coordinators
-- can list the open ones without reading every case. The events stay the record.
CREATE TABLE deviations (
    case_id         TEXT NOT NULL,
    deviation_id    TEXT NOT NULL,
    principal       TEXT NOT NULL,
    unit            TEXT NOT NULL,
    cause           TEXT NOT NULL,
    raised_at       BIGINT NOT NULL,
    acknowledged_at BIGINT,
    answered_at     BIGINT,
    reminders       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (case_id, deviation_id)
);
CREATE INDEX deviations_unanswered ON deviations (raised_at) WHERE answered_at IS NULL;
CREATE INDEX deviations_by_time ON deviations (raised_at);
