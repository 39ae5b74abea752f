-- A subsidy's paperwork (domain/cite.py, Commitment): its legal act, the operator's
-- Dauphin request, the day its report is due, and the report once recorded. NULL for the
-- commitments recorded before funding kept them.
ALTER TABLE commitments
    ADD COLUMN legal_act_kind      text CHECK (legal_act_kind IN ('convention', 'arrete')),
    ADD COLUMN legal_act_reference text,
    ADD COLUMN legal_act_signed_on date,
    ADD COLUMN subsidy_request     text,
    ADD COLUMN justification_due   date,
    ADD COLUMN reported_spent      bigint CHECK (reported_spent >= 0),
    ADD COLUMN report_submitted_on date,
    ADD COLUMN reported_at         timestamptz,
    ADD CONSTRAINT paperwork_whole CHECK (
        (legal_act_kind IS NULL) = (legal_act_reference IS NULL)
        AND (legal_act_kind IS NULL) = (legal_act_signed_on IS NULL)
        AND (legal_act_kind IS NULL) = (justification_due IS NULL)),
    ADD CONSTRAINT report_whole CHECK (
        (reported_spent IS NULL) = (report_submitted_on IS NULL)
        AND (reported_spent IS NULL) = (reported_at IS NULL));

-- Orders to repay (titres de perception) and their receipts. What is still to be received
-- on an order is its ledger account's balance (kind 'receivable').
CREATE TABLE recoveries (
    recovery_id      uuid        PRIMARY KEY,
    commitment_id    uuid        NOT NULL REFERENCES commitments,
    cite_id          text        NOT NULL REFERENCES cites,
    payee_partner_id uuid        NOT NULL,
    programme        text        NOT NULL,
    amount           bigint      NOT NULL CHECK (amount > 0),
    order_reference  text        NOT NULL,
    ordered_on       date        NOT NULL,
    motive           text        NOT NULL,
    ordered_at       timestamptz NOT NULL
);
CREATE INDEX recoveries_of_commitment ON recoveries (commitment_id);

CREATE TABLE recovery_receipts (
    receipt_id  uuid        PRIMARY KEY,
    recovery_id uuid        NOT NULL REFERENCES recoveries,
    amount      bigint      NOT NULL CHECK (amount > 0),
    received_on date        NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX receipts_of_recovery ON recovery_receipts (recovery_id);
