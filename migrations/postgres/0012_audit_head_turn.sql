-- Every transaction that holds the audit head's lock counts its turn: the lock is taken by
-- adding one to `turn`, so each committed holder leaves the next number. The group committer
-- reads a batch while the batch before it still holds the lock, and tells from the turns
-- whether anyone but that batch committed since its reads' snapshot (see store/commit.rs).
ALTER TABLE audit_head ADD COLUMN turn BIGINT NOT NULL DEFAULT 0;
