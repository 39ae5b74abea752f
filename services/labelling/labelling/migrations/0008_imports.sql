-- The business date a candidature was filed in the programme (the civil date of its
-- submission for those filed here; the record's date for an imported one).
ALTER TABLE candidatures ADD COLUMN filed_on date;
UPDATE candidatures SET filed_on = (submitted_at AT TIME ZONE 'Europe/Paris')::date
 WHERE submitted_at IS NOT NULL;

-- The programme's records imported (service.import_cite): one row per cité, by the
-- programme's own reference, holding the record as it was applied. A second import of the
-- same record changes nothing; one that adds renewals applies them; one that says
-- otherwise about the past is refused.
CREATE TABLE imports (
    reference   text PRIMARY KEY,
    cite_id     text NOT NULL UNIQUE REFERENCES cites (cite_id),
    record      jsonb NOT NULL,
    imported_at timestamptz NOT NULL,
    imported_by text
);
