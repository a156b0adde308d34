-- Claims take pending timers in (due_at, id) order: an index in that order avoids sorting.
DROP INDEX timers_due;
CREATE INDEX timers_due ON timers (due_at, id) WHERE status = 'pending';
