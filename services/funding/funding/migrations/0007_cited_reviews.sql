-- The revues de projet submitted to the coordination (labelling.reviews), so that a
-- revision of a cité's dotation may cite one of its own; and the revision's citation.
CREATE TABLE submitted_reviews (
    review_id uuid    PRIMARY KEY,
    cite_id   text    NOT NULL,
    year      integer NOT NULL
);
ALTER TABLE allocation_revisions ADD COLUMN review_id uuid;
