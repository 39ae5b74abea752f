-- Revisions of allocations by the national coordination (service.revise_allocation): the
-- allocation's amount is its current one; each revision is kept here, with its motive.
CREATE TABLE allocation_revisions (
    id              bigserial   PRIMARY KEY,
    allocation_id   uuid        NOT NULL REFERENCES allocations,
    previous_amount bigint      NOT NULL,
    amount          bigint      NOT NULL CHECK (amount > 0),
    motive          text        NOT NULL,
    revised_at      timestamptz NOT NULL
);
CREATE INDEX revisions_of_allocation ON allocation_revisions (allocation_id);
