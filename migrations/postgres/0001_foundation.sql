-- brygga foundation schema (PostgreSQL). Times are milliseconds since the Unix epoch, UTC.

CREATE TABLE cases (
    id            TEXT PRIMARY KEY,
    person_system TEXT NOT NULL,
    person_value  TEXT NOT NULL,
    phase         TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX cases_by_person ON cases (person_system, person_value);

-- The append-only event log.
CREATE TABLE events (
    case_id     TEXT NOT NULL REFERENCES cases (id),
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE FUNCTION brygga_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION brygga_append_only();

-- Idempotency: a (source, message id) is processed once; the receipt is answered again.
CREATE TABLE received_messages (
    source      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    case_id     TEXT,
    received_at BIGINT NOT NULL,
    receipt     TEXT NOT NULL,
    PRIMARY KEY (source, message_id)
);

-- Deliveries to write, written in the same transaction as their event.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_seq       BIGINT NOT NULL,
    destination     TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_by_case ON outbox (case_id, event_seq);

-- Durable timers (deadline clocks).
CREATE TABLE timers (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    due_at        BIGINT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    claimed_by    TEXT,
    claimed_until BIGINT,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX timers_due ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_by_case ON timers (case_id, kind);

-- The hash-chained audit log and its head.
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    recorded_at  BIGINT NOT NULL,
    case_id      TEXT,
    actor        TEXT NOT NULL,
    organisation TEXT,
    action       TEXT NOT NULL,
    person       TEXT,
    purpose      TEXT NOT NULL,
    legal_basis  TEXT,
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_by_case ON audit_log (case_id);
CREATE INDEX audit_by_person ON audit_log (person);
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION brygga_append_only();

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
