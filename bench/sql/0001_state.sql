-- The benchmark consumer's state: one row written per event, like an alliance opening.
CREATE TABLE alliances (
    cite_id         text PRIMARY KEY,
    name            text NOT NULL,
    lead_college    text NOT NULL,
    opened_at       timestamptz NOT NULL DEFAULT now()
);
