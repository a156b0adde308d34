-- A claim takes, per subscription, only a case's earliest unfinished delivery: for each row it
-- considers, it asks whether an earlier one of the same case and subscription is pending. This
-- index answers that with one probe. Without it the question was a filter over the case's rows
-- (or, planned on a fresh table's missing statistics, a scan of every pending row per row
-- considered: a claim over a backlog of thousands then ran for minutes and deliveries stopped).
CREATE INDEX outbox_pending_by_destination ON outbox (destination, case_id, event_seq, id)
    WHERE status = 'pending';
