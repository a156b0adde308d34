-- Claims take pending timers in (due_at, id) order: an index in that order avoids sorting.
DROP INDEX timers_due;
CREATE INDEX timers_due ON timers (due_at, id) WHERE status = 'pending';

-- Follow-up statistics select the cases with events in a period.
CREATE INDEX events_by_time ON events (occurred_at);
