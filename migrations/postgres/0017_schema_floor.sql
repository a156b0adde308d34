-- The oldest migration a brygga build must know to run on this schema. Migrations expand the
-- schema (new tables, new columns with defaults or nullable, new indexes), so the previous
-- build keeps working on it during a rolling upgrade; a migration that removes or changes
-- what an older build uses (contract) comes one release after the code stopped using it, and
-- raises `needs` to the first migration of the release that stopped, so that older builds
-- refuse to start instead of failing on a missing column. Builds before this migration do
-- not read the floor and stop at migrations they do not know.
CREATE TABLE schema_floor (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    needs BIGINT NOT NULL
);
INSERT INTO schema_floor (id, needs) VALUES (1, 17);
