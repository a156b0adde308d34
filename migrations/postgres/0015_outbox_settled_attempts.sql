-- How many of a delivery's attempts have a recorded outcome. A claim counts an attempt before
-- it is made; when an attempt is claimed again with more attempts counted than settled, an
-- earlier one may have reached the receiver unrecorded (the gateway stopped in between), and
-- the delivery says so (`X-Brygga-Possibly-Delivered`).
ALTER TABLE outbox ADD COLUMN attempts_settled BIGINT NOT NULL DEFAULT 0;
