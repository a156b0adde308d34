-- Claims take pending deliveries in (next_attempt_at, id) order: an index in that order hands
-- them over without sorting the backlog.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
