-- The relay no longer marks a published row in place (an UPDATE wrote a new ~2 KB version
-- of the row and three index entries: ~1.4 KB of WAL per event, EXPLAIN (ANALYZE, WAL)).
-- It deletes the row once Kafka acknowledged it (54 B of WAL), in the same statement moving
-- it here when the service keeps published events (<SERVICE>_RELAY_RETENTION_HOURS > 0),
-- where the purge finds them by published_at. `outbox` now holds only what is still to be
-- published, and parked rows: the primary key serves the relay's fetch, and writers no
-- longer maintain the two partial indexes.
DROP INDEX outbox_pending;
DROP INDEX outbox_published;

CREATE TABLE outbox_published (LIKE outbox);
ALTER TABLE outbox_published ALTER COLUMN published_at SET NOT NULL;
-- Rows arrive in publication order: a block range index finds the expired ones for the
-- purge at almost no cost per row (a b-tree would add an entry per row).
CREATE INDEX outbox_published_at ON outbox_published USING brin (published_at);

INSERT INTO outbox_published SELECT * FROM outbox WHERE published_at IS NOT NULL;
DELETE FROM outbox WHERE published_at IS NOT NULL;

-- Every event the service wrote and still keeps, published or not: what tests and
-- operators read as "the outbox" (published_at says which).
CREATE VIEW outbox_history AS
    SELECT * FROM outbox UNION ALL SELECT * FROM outbox_published;

-- When the relay last published (health: a relay stalls when events wait and nothing was
-- published for <SERVICE>_RELAY_STALL_S); one row, updated once per acknowledged batch.
CREATE TABLE outbox_relay (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    published_at  timestamptz,
    published     bigint NOT NULL DEFAULT 0
);
INSERT INTO outbox_relay (published_at) SELECT max(published_at) FROM outbox_published;
