-- Local authorities' co-financing of each cité's year (funding's CoFinancingDeclared), and
-- what it actually gave once recorded (CoFinancingRealised): per year, planned and given.
CREATE TABLE cofinancing (
    cofinancing_id uuid    PRIMARY KEY,
    cite_id        text    NOT NULL,
    year           integer NOT NULL,
    planned        bigint  NOT NULL,
    actual         bigint
);
CREATE INDEX cofinancing_by_year ON cofinancing (year);
