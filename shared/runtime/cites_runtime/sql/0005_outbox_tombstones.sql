-- A tombstone (null value) erases a key of a compacted topic: right to erasure. Its row
-- has no event: event_type 'tombstone', event_version 0 (see uow.tombstone).
ALTER TABLE outbox ALTER COLUMN value DROP NOT NULL;
