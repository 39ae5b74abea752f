-- What the collège chef de file used each year's fonds de la cité for
-- (service.use_fonds). What a grant has left is its ledger account's balance (kind
-- 'fonds'); each use moves its amount to the grant's 'fonds_spent' account, and keeps
-- here what it paid, for what, to whom, and what the grant had left after it.
CREATE TABLE fonds_uses (
    id          bigserial   UNIQUE,  -- the order they were recorded (a grant's, one by one)
    use_id      uuid        PRIMARY KEY,
    grant_id    uuid        NOT NULL REFERENCES fonds_grants,
    amount      bigint      NOT NULL CHECK (amount > 0),
    purpose     text        NOT NULL,
    payee       text,
    paid_on     date        NOT NULL,
    left_after  bigint      NOT NULL CHECK (left_after >= 0),
    recorded_by text        NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX fonds_uses_of_grant ON fonds_uses (grant_id, id);
