-- Signed webhooks for outside systems that do not read Kafka: subscriptions (a URL, the
-- event types it wants, the secret that signs) managed by the national coordination, and
-- one delivery per (subscription, event), sent by the webhook sender like mail: claimed
-- ('sending', attempts + 1) and committed before the HTTP request, marked after.

CREATE TABLE webhook_subscriptions (
    subscription_id        uuid        PRIMARY KEY,
    url                    text        NOT NULL,
    event_types            text[]      NOT NULL CHECK (cardinality(event_types) > 0),
    description            text        NOT NULL DEFAULT '',
    secret                 text        NOT NULL,  -- whsec_<base64 key>: shown once, at creation
    previous_secret        text,                  -- still signs until previous_expires_at
    previous_expires_at    timestamptz,
    active                 boolean     NOT NULL DEFAULT true,
    deleted_at             timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
-- One live subscription per URL: the same one created twice would deliver twice.
CREATE UNIQUE INDEX webhook_subscriptions_live_url ON webhook_subscriptions (url)
    WHERE deleted_at IS NULL;
CREATE INDEX webhook_subscriptions_by_type ON webhook_subscriptions USING gin (event_types)
    WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    delivery_id     uuid        PRIMARY KEY,  -- derived from (subscription, event): once each
    subscription_id uuid        NOT NULL REFERENCES webhook_subscriptions,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    cite_id         text,
    body            text        NOT NULL,     -- the exact bytes sent (and signed) every attempt
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_at      timestamptz,
    last_status     integer,                  -- the receiver's last HTTP status, if it answered
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    failed_at       timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_of_subscription
    ON webhook_deliveries (subscription_id, created_at, delivery_id);
