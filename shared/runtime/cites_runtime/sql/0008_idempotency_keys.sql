-- Idempotency keys (cites_runtime.idempotency): a command sent again with the key its
-- caller gave it finds its first result instead of acting twice. A row is written in the
-- command's own transaction (a refused command leaves none); the primary key makes a
-- duplicate sent at the same time wait for the first, then find it.
CREATE TABLE idempotency_keys (
    scope       text        NOT NULL,  -- what the command makes, and where (a route's ids)
    caller      text        NOT NULL,  -- role, département and subject: a key is its caller's
    key         text        NOT NULL,
    fingerprint text        NOT NULL,  -- sha256 of the command's values
    result_id   uuid        NOT NULL,  -- what the command made
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, caller, key)
);
