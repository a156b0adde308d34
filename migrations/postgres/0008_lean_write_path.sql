-- The audit log is read by sequence, organisation, person and time, never by case: its index
-- by case only cost every commit one more index entry per record.
DROP INDEX audit_by_case;
