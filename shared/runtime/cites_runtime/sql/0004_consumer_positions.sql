-- The last sequence each consumer applied per aggregate stream: an event whose sequence
-- is not above it is stale (a replayed dead letter older than what was applied since, or
-- a redelivery whose inbox row is gone) and changes nothing.
CREATE TABLE consumer_positions (
    consumer       text   NOT NULL,
    stream         text   NOT NULL,
    aggregate_id   text   NOT NULL,
    last_sequence  bigint NOT NULL,
    PRIMARY KEY (consumer, stream, aggregate_id)
);
CREATE INDEX processed_events_by_age ON processed_events (processed_at);
