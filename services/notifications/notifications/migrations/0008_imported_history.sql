-- Events of the programme's imported history (Envelope.imported) are not news: their mails
-- are not written when they come. Each is kept here, by its payload as its contract says,
-- until the national coordination asks for it to be announced
-- (POST /notifications/imported/announce): then it is mailed as it would have been.
CREATE TABLE imported_causes (
    cause_id    uuid        PRIMARY KEY,
    cause_type  text        NOT NULL,
    version     integer     NOT NULL,
    facts       jsonb       NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX imported_causes_in_order ON imported_causes (received_at, cause_id);
