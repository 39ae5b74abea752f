-- Exclusive perimeters (domain/holdings.py): a QPV belongs to at most one active cité
-- (labelled, suspended) or pending candidature (submitted, under review), and a collège is
-- chef de file of at most one of them. The primary key is what is held: of two transactions
-- claiming the same QPV, the second waits for the first on the key and then sees its row
-- (INSERT … ON CONFLICT DO NOTHING), so "exactly one wins" holds under concurrency without
-- locking any other table. Rows are written in the transaction of the command that claims
-- or frees them (submission, decision, withdrawal, extension, label withdrawn or expired).
CREATE TABLE holdings (
    kind            text        NOT NULL CHECK (kind IN ('qpv', 'lead_college')),
    -- The QPV code or the lead collège's UAI.
    code            text        NOT NULL,
    candidature_id  uuid        REFERENCES candidatures (id),
    cite_id         text        REFERENCES cites (cite_id),
    held_since      timestamptz NOT NULL,
    PRIMARY KEY (kind, code),
    CHECK ((candidature_id IS NULL) <> (cite_id IS NULL))
);
CREATE INDEX holdings_by_candidature ON holdings (candidature_id)
    WHERE candidature_id IS NOT NULL;
CREATE INDEX holdings_by_cite ON holdings (cite_id) WHERE cite_id IS NOT NULL;

-- What existing cités and candidatures hold (0002 seeds waves only; a database that ran
-- before this rule may hold cités and candidatures). Active cités first, in labelling
-- order, then pending candidatures in submission order: where earlier data already
-- overlaps, the earliest keeps the QPV or the collège and the later ones stay as they are
-- without holding it (nothing is withdrawn by a migration).
INSERT INTO holdings (kind, code, cite_id, held_since)
SELECT DISTINCT ON (kind, code) kind, code, cite_id, labelled_at
  FROM (SELECT 'qpv' AS kind, q ->> 'code' AS code, c.cite_id, c.labelled_at
          FROM cites c, jsonb_array_elements(c.perimeter -> 'qpvs') q
         WHERE c.status IN ('labelled', 'suspended')
        UNION ALL
        SELECT 'lead_college', c.lead_college_uai, c.cite_id, c.labelled_at
          FROM cites c
         WHERE c.status IN ('labelled', 'suspended')) held
 ORDER BY kind, code, labelled_at, cite_id;

INSERT INTO holdings (kind, code, candidature_id, held_since)
SELECT DISTINCT ON (kind, code) kind, code, id, submitted_at
  FROM (SELECT 'qpv' AS kind, q ->> 'code' AS code, c.id, c.submitted_at
          FROM candidatures c, jsonb_array_elements(c.dossier -> 'qpvs') q
         WHERE c.status IN ('submitted', 'under_review')
        UNION ALL
        SELECT 'lead_college', c.dossier ->> 'lead_college_uai', c.id, c.submitted_at
          FROM candidatures c
         WHERE c.status IN ('submitted', 'under_review')
           AND c.dossier ->> 'lead_college_uai' IS NOT NULL) claimed
 ORDER BY kind, code, submitted_at, id
    ON CONFLICT (kind, code) DO NOTHING;

-- Every period a cité's label was granted, each with its convention (domain/label.py): a
-- renewal adds the next period while the current one stays in force, and the cité and open
-- data show both. cites.period_start/period_end/convention_signed_on keep repeating the
-- latest period (what the expiry check scans).
CREATE TABLE label_periods (
    cite_id               text NOT NULL REFERENCES cites (cite_id),
    period_start          date NOT NULL,
    period_end            date NOT NULL CHECK (period_end > period_start),
    convention_signed_on  date,
    PRIMARY KEY (cite_id, period_start)
);

-- The periods of existing cités, from their history (the first period and each renewal's),
-- with the conventions recorded for them afterwards; then the cité's own latest period,
-- whose convention is the one the cité row holds.
INSERT INTO label_periods (cite_id, period_start, period_end, convention_signed_on)
SELECT DISTINCT ON (cite_id, period_start) cite_id, period_start, period_end, signed_on
  FROM cite_history
 WHERE kind IN ('TerritoryLabelled', 'LabelRenewed') AND period_start IS NOT NULL
 ORDER BY cite_id, period_start, id DESC;

UPDATE label_periods p
   SET convention_signed_on = h.signed_on
  FROM cite_history h
 WHERE h.kind = 'ConventionSigned' AND h.cite_id = p.cite_id
   AND h.period_start = p.period_start;

INSERT INTO label_periods (cite_id, period_start, period_end, convention_signed_on)
SELECT cite_id, period_start, period_end, convention_signed_on FROM cites
    ON CONFLICT (cite_id, period_start) DO UPDATE
   SET period_end = EXCLUDED.period_end,
       convention_signed_on = EXCLUDED.convention_signed_on;
