-- Claims take pending deliveries in (next_attempt_at, id) order: an index in that order hands
-- them over without a sort, so a claim reads about as many rows as it takes however long the
-- backlog (the claim sessions are told never to sort or hash for it: see the claimers in
-- store/connect.rs). With the index on next_attempt_at alone, a claim planned on a fresh
-- table's missing statistics fetched and sorted every pending row, 90 ms over 18,000.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
