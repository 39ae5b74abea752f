-- Revues de projet (labelling.reviews): each cité's review of a year, its deadline, and its
-- submission (late or not, as labelling said) or labelling's note that it is overdue. Each
-- event carries the review's cité, year and deadline, so any of them makes the row. Whether
-- a review not submitted is overdue depends on the day: the summary decides it, no column.
CREATE TABLE reviews (
    review_id        uuid        PRIMARY KEY,
    cite_id          text        NOT NULL,
    departement      text        NOT NULL,
    year             integer     NOT NULL,
    due_on           date        NOT NULL,
    submitted_on     date,
    late             boolean,
    overdue_noted_at timestamptz,
    CHECK ((submitted_on IS NULL) = (late IS NULL))
);
CREATE INDEX reviews_by_year ON reviews (year);
