-- The partner registry: organisations of every kind, and their contacts.

CREATE TABLE partners (
    partner_id          uuid        PRIMARY KEY,
    kind                text        NOT NULL CHECK (kind IN (
                            'ecole', 'college', 'lycee', 'commune', 'epci', 'prefecture',
                            'rectorat_dasen', 'caf', 'association', 'entreprise',
                            'departement', 'region')),
    name                text        NOT NULL,
    departement         text,
    -- Identifiers, validated by the domain (cites_contracts.types); each names one partner.
    uai                 text        UNIQUE,
    siret               text        UNIQUE,
    siren               text,
    insee_code          text        UNIQUE,
    commune_insee_code  text,
    registered_at       timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
-- A SIREN names a legal unit whose establishments each have their own SIRET: it identifies
-- a partner only when that partner has no SIRET (an EPCI, a région…).
CREATE UNIQUE INDEX partners_siren_without_siret ON partners (siren) WHERE siret IS NULL;
-- "Partners by kind and commune", paginated by (name, partner_id).
CREATE INDEX partners_by_kind ON partners (kind, name, partner_id);
CREATE INDEX partners_by_commune ON partners (commune_insee_code, name, partner_id);
CREATE INDEX partners_by_name ON partners (name, partner_id);

-- Contacts are personal data: on erasure their personal columns are set to NULL for good
-- (the row keeps only ids and dates, so a repeated erasure is recognised).
CREATE TABLE contacts (
    contact_id          uuid        PRIMARY KEY,
    partner_id          uuid        NOT NULL REFERENCES partners,
    name                text,
    function            text,
    email               text,
    phone               text,
    consent             boolean     NOT NULL,
    consent_recorded_at timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    erased_at           timestamptz,
    CONSTRAINT contacts_erased_hold_no_personal_data CHECK (
        (erased_at IS NULL AND name IS NOT NULL AND email IS NOT NULL)
        OR (erased_at IS NOT NULL AND name IS NULL AND function IS NULL AND email IS NULL
            AND phone IS NULL AND NOT consent)
    )
);
CREATE INDEX contacts_of_partner ON contacts (partner_id, created_at);
