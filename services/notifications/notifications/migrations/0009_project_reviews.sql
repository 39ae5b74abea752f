-- The cités' revues de projet (labelling.reviews), for their deadline reminders: the year,
-- the deadline, when it was opened (NULL when only its submission was consumed: no
-- reminder) and the day it was submitted (then never reminded).
CREATE TABLE reviews (
    review_id    uuid    PRIMARY KEY,
    cite_id      text    NOT NULL,
    departement  text    NOT NULL,
    year         integer NOT NULL,
    due_on       date    NOT NULL,
    opened_at    timestamptz,
    submitted_on date
);
CREATE INDEX reviews_to_remind ON reviews (due_on) WHERE submitted_on IS NULL;

-- A reminder still waiting to be sent when what it reminded of was done is cancelled:
-- never sent, kept in the log with why.
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled'));
