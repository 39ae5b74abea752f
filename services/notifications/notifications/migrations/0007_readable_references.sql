-- What the mails refer to by name rather than by id: when a candidature was filed, each
-- partner's name and kind (partners.registry), each commitment's action, amount and day
-- (funding's FundsCommitted), so that a payment's mail names the commitment it settles.
-- Null or absent for facts projected before: the mails then say less, never an id.
ALTER TABLE candidatures ADD COLUMN submitted_at timestamptz;

CREATE TABLE partners (
    partner_id uuid PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL
);

CREATE TABLE commitments (
    commitment_id uuid        PRIMARY KEY,
    cite_id       text        NOT NULL,
    action_title  text        NOT NULL,
    amount        bigint      NOT NULL,
    committed_at  timestamptz NOT NULL
);
