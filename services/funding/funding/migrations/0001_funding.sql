-- Funding: envelopes, what funding knows of cités and alliances, allocations, fonds de la
-- cité, commitments, payments, co-financing — and the append-only double-entry ledger
-- every balance is recomputed from. Amounts are integer euro cents (bigint), never floats.

CREATE TABLE envelopes (
    envelope_id   uuid        PRIMARY KEY,
    name          text        NOT NULL,
    programme     text        NOT NULL CHECK (programme IN ('P147', 'P230')),
    budget_years  integer[]   NOT NULL CHECK (cardinality(budget_years) > 0),
    wave_ids      text[]      NOT NULL CHECK (cardinality(wave_ids) > 0),
    amount        bigint      NOT NULL CHECK (amount >= 0),
    dotation_rule jsonb       NOT NULL,          -- domain.envelope.DotationRule
    fonds_share   bigint      NOT NULL CHECK (fonds_share >= 0),
    opened_at     timestamptz NOT NULL
);

-- One envelope per programme, wave and budget year: which envelope pays is never a choice.
CREATE TABLE envelope_coverage (
    programme   text    NOT NULL,
    wave_id     text    NOT NULL,
    year        integer NOT NULL,
    envelope_id uuid    NOT NULL REFERENCES envelopes,
    PRIMARY KEY (programme, wave_id, year)
);

-- Cités, from labelling's label events.
CREATE TABLE cites (
    cite_id                text        PRIMARY KEY,
    name                   text        NOT NULL,
    wave_id                text        NOT NULL,
    departement            text        NOT NULL,
    label_start            date        NOT NULL,
    label_end              date        NOT NULL,
    status                 text        NOT NULL
                           CHECK (status IN ('active', 'suspended', 'withdrawn', 'expired')),
    requested_contribution bigint,
    population             integer     NOT NULL,
    lead_college_uai       text        NOT NULL,
    labelled_at            timestamptz NOT NULL
);
CREATE INDEX cites_active ON cites (cite_id) WHERE status = 'active';

-- Alliances and their members, from partners' events (they may arrive before the label).
CREATE TABLE alliances (
    cite_id                 text    PRIMARY KEY,
    chef_de_file_partner_id uuid,
    chef_de_file_uai        text,
    closed                  boolean NOT NULL DEFAULT false
);

CREATE TABLE members (
    cite_id    text    NOT NULL,
    partner_id uuid    NOT NULL,
    kind       text    NOT NULL,
    current    boolean NOT NULL,
    PRIMARY KEY (cite_id, partner_id)
);

-- Allocations: a cité's yearly dotation from an envelope (once per cité, envelope and
-- year), or one made by hand by the national coordination.
CREATE TABLE allocations (
    allocation_id uuid        PRIMARY KEY,
    cite_id       text        NOT NULL REFERENCES cites,
    envelope_id   uuid        NOT NULL REFERENCES envelopes,
    programme     text        NOT NULL,
    year          integer     NOT NULL,
    amount        bigint      NOT NULL CHECK (amount > 0),
    rule          text        NOT NULL,
    basis         text        NOT NULL,
    allocated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX one_dotation_per_cite_envelope_year ON allocations (cite_id, envelope_id, year)
    WHERE rule <> 'manual';
CREATE INDEX allocations_of_cite ON allocations (cite_id);

CREATE TABLE fonds_grants (
    grant_id   uuid        PRIMARY KEY,
    cite_id    text        NOT NULL REFERENCES cites,
    year       integer     NOT NULL,
    uai        text        NOT NULL,
    partner_id uuid,
    granted_at timestamptz NOT NULL,
    UNIQUE (cite_id, year)
);

CREATE TABLE commitments (
    commitment_id       uuid        PRIMARY KEY,
    cite_id             text        NOT NULL REFERENCES cites,
    allocation_id       uuid        NOT NULL REFERENCES allocations,
    operator_partner_id uuid        NOT NULL,
    action_title        text        NOT NULL,
    amount              bigint      NOT NULL CHECK (amount > 0),
    committed_at        timestamptz NOT NULL,
    cancelled_at        timestamptz,
    cancel_motive       text
);
CREATE INDEX commitments_of_cite ON commitments (cite_id);

CREATE TABLE payments (
    payment_id    uuid        PRIMARY KEY,
    commitment_id uuid        NOT NULL REFERENCES commitments,
    amount        bigint      NOT NULL CHECK (amount > 0),
    paid_at       timestamptz NOT NULL
);
CREATE INDEX payments_of_commitment ON payments (commitment_id);

CREATE TABLE cofinancing (
    cofinancing_id uuid        PRIMARY KEY,
    cite_id        text        NOT NULL REFERENCES cites,
    year           integer     NOT NULL,
    funder         text        NOT NULL,
    amount         bigint      NOT NULL CHECK (amount > 0),
    declared_at    timestamptz NOT NULL
);
CREATE INDEX cofinancing_of_cite ON cofinancing (cite_id);

-- A refusal is emitted once per cité, year, programme and reason (the yearly check runs
-- again and again; it tells once).
CREATE TABLE refusals (
    cite_id    text        NOT NULL,
    year       integer     NOT NULL,
    programme  text        NOT NULL,
    reason     text        NOT NULL,
    refused_at timestamptz NOT NULL,
    PRIMARY KEY (cite_id, year, programme, reason)
);

-- The ledger: every movement, in double entry (one account debited, one credited, by
-- the same positive amount), so the sum of all balances is zero. Append-only: the
-- trigger below refuses UPDATE and DELETE (and TRUNCATE) to everyone, owner included.
-- ``accounts`` keeps each balance for locking and reading; it is checked against the
-- ledger (store.ledger_check) and no account but a budget may go below zero.
CREATE TABLE ledger (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL,
    movement    text        NOT NULL,
    debit_kind  text        NOT NULL,
    debit_ref   text        NOT NULL,
    credit_kind text        NOT NULL,
    credit_ref  text        NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    -- What the movement concerns, for the reports (NULL where it concerns no cité).
    envelope_id uuid        NOT NULL,
    programme   text        NOT NULL,
    cite_id     text,
    year        integer,
    CHECK ((debit_kind, debit_ref) <> (credit_kind, credit_ref))
);
CREATE INDEX ledger_of_cite ON ledger (cite_id, year) WHERE cite_id IS NOT NULL;
CREATE INDEX ledger_of_envelope ON ledger (envelope_id);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % refused (a correction is a new movement)',
        TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();

CREATE TABLE accounts (
    kind    text   NOT NULL,
    ref     text   NOT NULL,
    balance bigint NOT NULL,
    PRIMARY KEY (kind, ref),
    CONSTRAINT no_account_but_a_budget_below_zero CHECK (kind = 'budget' OR balance >= 0)
);
