-- Signed checkpoints of the audit log's head (`crate::anchor`): made by the gateway at
-- intervals and by `brygga audit anchor`, signed with a key the database does not hold. The
-- audit log's retention deletes records only below a checkpoint whose signature verifies;
-- exported copies let `brygga audit verify --checkpoint` find a truncated, rewound or
-- recomputed log.
CREATE TABLE audit_checkpoints (
    head_seq    BIGINT PRIMARY KEY,
    made_at     BIGINT NOT NULL,
    checkpoint  TEXT NOT NULL
);
