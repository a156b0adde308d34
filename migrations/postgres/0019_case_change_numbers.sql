-- Each case's change number: the audit head's turn (0012) of the transaction that last wrote
-- it. Every writer holds the head's lock, so the numbers follow the order of the commits, and
-- a reader that keeps the cases' statistics facts in memory catches up by reading the cases
-- changed after the last number it saw (`Store::case_versions`). An expansion: an older
-- build leaves the number as it was, and the reader's periodic reconciliation (by version)
-- catches its changes.
ALTER TABLE cases ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX cases_by_change ON cases (change_seq);
