-- Subscriptions an operator paused: their deliveries stay queued, unclaimed, until resumed.
-- Every instance's worker leaves them alone (an expansion: older builds ignore the table).
CREATE TABLE paused_subscriptions (
    subscription TEXT PRIMARY KEY,
    paused_by    TEXT NOT NULL,
    paused_at    BIGINT NOT NULL
);
