-- The annual revue de projet (domain/review.py): a year's campaign and its deadline, one
-- review per cité and year, and the money of each cité's budget years as funding's events
-- told it (consumers.py), prefilled in the reviews.
CREATE TABLE review_campaigns (
    year      integer PRIMARY KEY CHECK (year >= 2019),
    due_on    date        NOT NULL,
    opened_at timestamptz NOT NULL
);

CREATE TABLE reviews (
    review_id            uuid        PRIMARY KEY,
    cite_id              text        NOT NULL REFERENCES cites (cite_id),
    departement          text        NOT NULL,
    year                 integer     NOT NULL REFERENCES review_campaigns (year),
    due_on               date        NOT NULL,
    status               text        NOT NULL CHECK (status IN ('open', 'validated', 'submitted')),
    content              jsonb,
    validations          jsonb       NOT NULL DEFAULT '[]',
    submitted_on         date,
    money                jsonb,
    opened_at            timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    overdue_noted_at     timestamptz,
    UNIQUE (cite_id, year),
    CHECK ((status = 'submitted') = (submitted_on IS NOT NULL AND money IS NOT NULL))
);
CREATE INDEX reviews_by_year ON reviews (year, cite_id);
-- The daily check's scan: reviews not submitted and not yet noted overdue.
CREATE INDEX reviews_due ON reviews (due_on) WHERE status <> 'submitted' AND overdue_noted_at IS NULL;

-- Money of a cité's budget year (cents), summed from funding.allocations.
CREATE TABLE cite_money (
    cite_id      text    NOT NULL,
    year         integer NOT NULL,
    allocated    bigint  NOT NULL DEFAULT 0,
    fonds        bigint  NOT NULL DEFAULT 0,
    committed    bigint  NOT NULL DEFAULT 0,
    paid         bigint  NOT NULL DEFAULT 0,
    ordered_back bigint  NOT NULL DEFAULT 0,
    cofinancing  bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (cite_id, year)
);
-- The budget year of each allocation and commitment: what a commitment, a payment, a
-- release or a recovery names, to count it in its year.
CREATE TABLE money_years (
    id      uuid    PRIMARY KEY,
    cite_id text    NOT NULL,
    year    integer NOT NULL
);
