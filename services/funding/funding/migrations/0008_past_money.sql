-- Taking over the money of the years before the platform: a cité imported by labelling is
-- known by the programme's reference (TerritoryLabelled.reference), and each dotation of a
-- past year holds at most one record of what it committed and paid then.
ALTER TABLE cites ADD COLUMN reference text UNIQUE;
CREATE TABLE past_spending (
    allocation_id uuid        PRIMARY KEY REFERENCES allocations,
    cite_id       text        NOT NULL,
    programme     text        NOT NULL,
    year          integer     NOT NULL,
    committed     bigint      NOT NULL CHECK (committed >= 0),
    paid          bigint      NOT NULL CHECK (paid >= 0 AND paid <= committed),
    from_frozen   bigint      NOT NULL CHECK (from_frozen >= 0 AND from_frozen <= committed),
    recorded_at   timestamptz NOT NULL
);
CREATE INDEX past_spending_of_cite ON past_spending (cite_id);
