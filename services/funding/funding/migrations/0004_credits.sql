-- The State's credits by programme and budget year (domain/credits.py): AE and CP voted,
-- delegated to each département, closed at year end. What each holds now is its ledger
-- accounts' balance (ae_open, cp_open, ae_delegated, cp_delegated…); these rows keep the
-- totals voted and delegated and whether the year is closed.
CREATE TABLE credits (
    programme text        NOT NULL,
    year      integer     NOT NULL,
    ae        bigint      NOT NULL CHECK (ae >= 0),
    cp        bigint      NOT NULL CHECK (cp >= 0),
    voted_at  timestamptz NOT NULL,
    closed_at timestamptz,
    PRIMARY KEY (programme, year)
);

CREATE TABLE delegations (
    programme   text    NOT NULL,
    year        integer NOT NULL,
    departement text    NOT NULL,
    ae          bigint  NOT NULL CHECK (ae >= 0),
    cp          bigint  NOT NULL CHECK (cp >= 0),
    PRIMARY KEY (programme, year, departement),
    FOREIGN KEY (programme, year) REFERENCES credits
);

-- Credits' movements concern no envelope; the programme's AE and CP as voted, like its
-- budget, are where the State's money comes from (negative: what was voted).
ALTER TABLE ledger ALTER COLUMN envelope_id DROP NOT NULL;
ALTER TABLE accounts DROP CONSTRAINT no_account_but_a_budget_below_zero;
ALTER TABLE accounts ADD CONSTRAINT no_account_but_a_source_below_zero
    CHECK (kind IN ('budget', 'ae_source', 'cp_source') OR balance >= 0);
