-- The people who run a cité besides its collège: the collectivité cheffe de file and the
-- chef de projet opérationnel's post.

-- At most one member commune or EPCI per alliance (the domain checks kind and membership).
ALTER TABLE alliances ADD COLUMN collectivite_cheffe_de_file_partner_id uuid REFERENCES partners;

-- The CPO post's tenures, from starts_on to ends_on (both included; NULL: held now). The
-- person is named by contact id only: their personal data stays in contacts, where an
-- erasure overwrites it, and nothing here needs erasing.
CREATE TABLE cpo_tenures (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cite_id             text        NOT NULL REFERENCES alliances,
    contact_id          uuid        NOT NULL REFERENCES contacts,
    employer_partner_id uuid        NOT NULL REFERENCES partners,
    starts_on           date        NOT NULL,
    ends_on             date,
    motive              text,
    appointed_at        timestamptz NOT NULL,
    ended_at            timestamptz,
    CHECK (ends_on IS NULL OR ends_on >= starts_on)
);
-- Tenures never overlap: the domain checks each new one against the latest; these make a
-- second current holder, or two tenures starting the same day, impossible whatever runs.
CREATE UNIQUE INDEX cpo_tenures_one_current ON cpo_tenures (cite_id) WHERE ends_on IS NULL;
CREATE UNIQUE INDEX cpo_tenures_by_start ON cpo_tenures (cite_id, starts_on);
