-- What the open data publishes of each cité, kept from labelling's and partners' events:
-- its perimeter (communes, QPVs, schools) as the last event told it, its lead collège
-- (the chef de file partners designated last), its label periods, oldest first (the
-- latest is in force), and the waves as events name them: title and whether a test wave
-- (its cités are never published). Cités of a projection built before this migration
-- have none of it (their open data lists no commune, no collège, no period) until the
-- projection is built again from the topics: a fresh schema, a new consumer group.
CREATE TABLE waves (
    wave_id text    PRIMARY KEY,
    year    integer NOT NULL,
    title   text,
    test    boolean NOT NULL DEFAULT false
);
INSERT INTO waves (wave_id, year)
SELECT wave_id, min(wave_year) FROM cites GROUP BY wave_id
ON CONFLICT (wave_id) DO NOTHING;

ALTER TABLE cites ADD COLUMN perimeter jsonb,
                  ADD COLUMN lead_college_uai text,
                  ADD COLUMN periods jsonb NOT NULL DEFAULT '[]';

-- The chef de file partners designated last (partners.alliances; the lead collège the
-- label named until then).
ALTER TABLE alliances ADD COLUMN chef_de_file_uai text;
