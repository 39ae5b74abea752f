-- Runtime tables, created in each service's schema (search_path is set by the runner).

-- Transactional outbox: written in the use case's transaction, drained by the relay.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    topic           text        NOT NULL,
    key             bytea       NOT NULL,
    value           bytea       NOT NULL,
    event_type      text        NOT NULL,
    event_version   integer     NOT NULL,
    correlation_id  uuid        NOT NULL,
    traceparent     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Last sequence number per (stream, aggregate): gap-free because it is bumped in the
-- same transaction as the outbox rows, and its row lock orders writers of one aggregate.
CREATE TABLE aggregate_sequences (
    stream         text   NOT NULL,
    aggregate_id   text   NOT NULL,
    last_sequence  bigint NOT NULL,
    PRIMARY KEY (stream, aggregate_id)
);

-- Inbox: one row per event a consumer has applied, written with the handler's effects.
CREATE TABLE processed_events (
    consumer      text        NOT NULL,
    event_id      uuid        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
