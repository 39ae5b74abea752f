-- Who prepared a candidature (the role: prefecture, rectorat or commune; every candidature
-- before this one was a préfecture's), when a rectorat or a commune filed its draft with the
-- préfecture and which of them did, and the préfecture's last return of it, with its motive.
ALTER TABLE candidatures ADD COLUMN prepared_by   text NOT NULL DEFAULT 'prefecture'
                             CHECK (prepared_by IN ('prefecture', 'rectorat', 'commune')),
                         ADD COLUMN filed_at      timestamptz,
                         ADD COLUMN filed_by      text
                             CHECK (filed_by IN ('rectorat', 'commune')),
                         ADD COLUMN returned_at   timestamptz,
                         ADD COLUMN return_motive text,
                         ADD CONSTRAINT filed_with_its_filer
                             CHECK ((filed_at IS NULL) = (filed_by IS NULL));
