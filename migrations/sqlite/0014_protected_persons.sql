-- Protected identity (skyddad folkbokföring, sekretessmarkering) is a property of the person,
-- not of a case: once any message marks a person protected, no address or other locating
-- data leaves for any case of theirs until a principal with the right lifts it (audited).
CREATE TABLE protected_persons (
    person     TEXT PRIMARY KEY,
    since      BIGINT NOT NULL,
    marked_by  TEXT NOT NULL,
    lifted_at  BIGINT,
    lifted_by  TEXT
);
