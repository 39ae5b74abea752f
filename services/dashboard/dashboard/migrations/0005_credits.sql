-- The State's credits as funding's events tell them (funding.credits): each programme's
-- AE and CP of a year, what was delegated to each département, the year's close. What was
-- committed (AE) and paid (CP) comes from the movements: commitments at their
-- allocation's year, payments ('spend') at the year they were made.
CREATE TABLE credits (
    programme      text    NOT NULL,
    year           integer NOT NULL,
    ae             bigint  NOT NULL DEFAULT 0,
    cp             bigint  NOT NULL DEFAULT 0,
    closed         boolean NOT NULL DEFAULT false,
    lapsed_ae      bigint  NOT NULL DEFAULT 0,
    lapsed_cp      bigint  NOT NULL DEFAULT 0,
    restes_a_payer bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (programme, year)
);

CREATE TABLE credit_delegations (
    programme   text    NOT NULL,
    year        integer NOT NULL,
    departement text    NOT NULL,
    ae          bigint  NOT NULL,
    cp          bigint  NOT NULL,
    PRIMARY KEY (programme, year, departement)
);

ALTER TABLE movements DROP CONSTRAINT movements_movement_check;
ALTER TABLE movements ADD CONSTRAINT movements_movement_check CHECK (movement IN (
    'allocate', 'grant', 'commit', 'cancel', 'pay', 'freeze', 'unfreeze', 'release',
    'refused', 'spend'));
