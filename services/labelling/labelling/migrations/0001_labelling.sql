-- Labelling: waves, candidatures and their review, cités (labels) and their history.
-- The runtime's outbox/inbox tables come first (runtime/0001); events are never written
-- here by hand.

-- Waves are data: the rule-set version selects the eligibility rules in domain/rules.py.
CREATE TABLE waves (
    id                text        PRIMARY KEY,
    year              integer     NOT NULL CHECK (year BETWEEN 2019 AND 2100),
    title             text        NOT NULL,
    rule_set          text        NOT NULL,
    -- Both NULL: rolling filing, no deadline.
    filing_opens_on   date,
    filing_closes_on  date,
    review_criteria   text[]      NOT NULL CHECK (cardinality(review_criteria) > 0),
    target_count      integer     NOT NULL CHECK (target_count > 0),
    status            text        NOT NULL CHECK (status IN ('planned', 'open', 'closed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((filing_opens_on IS NULL) = (filing_closes_on IS NULL)),
    CHECK (filing_closes_on >= filing_opens_on)
);

CREATE TABLE candidatures (
    id                 uuid        PRIMARY KEY,
    wave_id            text        NOT NULL REFERENCES waves (id),
    departement        text        NOT NULL,
    territory_name     text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('draft', 'submitted',
                                       'under_review', 'labelled', 'rejected', 'withdrawn')),
    -- The dossier as filed (domain.dossier.Dossier): perimeter, troïka, texts, contribution.
    dossier            jsonb       NOT NULL,
    created_at         timestamptz NOT NULL,
    created_by         text        NOT NULL,
    updated_at         timestamptz NOT NULL,
    submitted_at       timestamptz,
    review_started_at  timestamptz,
    decision           text        CHECK (decision IN ('label', 'reject')),
    decision_motive    text,
    decided_at         timestamptz,
    decided_by         text,
    cite_id            text        UNIQUE,
    withdrawn_at       timestamptz,
    withdrawal_motive  text,
    CHECK ((decision IS NULL) = (decided_at IS NULL))
);
CREATE INDEX candidatures_by_wave ON candidatures (wave_id, status);
CREATE INDEX candidatures_by_departement ON candidatures (departement, status);
CREATE INDEX candidatures_by_creation ON candidatures (created_at DESC, id);

CREATE TABLE review_scores (
    candidature_id  uuid        NOT NULL REFERENCES candidatures (id),
    criterion       text        NOT NULL,
    score           smallint    NOT NULL CHECK (score BETWEEN 0 AND 5),
    comment         text        NOT NULL DEFAULT '',
    scored_at       timestamptz NOT NULL,
    scored_by       text        NOT NULL,
    PRIMARY KEY (candidature_id, criterion)
);

-- Cité numbers: cite-001, cite-002… drawn when a candidature is labelled. A rolled-back
-- labelling leaves a gap (sequences are not transactional); ids stay unique and stable.
CREATE SEQUENCE cite_number;

CREATE TABLE cites (
    cite_id                        text        PRIMARY KEY CHECK (cite_id ~ '^cite-[0-9]{3,6}$'),
    candidature_id                 uuid        NOT NULL UNIQUE REFERENCES candidatures (id),
    name                           text        NOT NULL,
    wave_id                        text        NOT NULL REFERENCES waves (id),
    wave_year                      integer     NOT NULL,
    departement                    text        NOT NULL,
    status                         text        NOT NULL CHECK (status IN ('labelled',
                                                   'suspended', 'withdrawn', 'expired')),
    -- The latest period (after a renewal, the new one); both ends included.
    period_start                   date        NOT NULL,
    period_end                     date        NOT NULL CHECK (period_end > period_start),
    convention_signed_on           date,
    lead_college_uai               text        NOT NULL,
    perimeter                      jsonb       NOT NULL,
    requested_annual_contribution  bigint      NOT NULL CHECK (requested_annual_contribution >= 0),
    labelled_at                    timestamptz NOT NULL,
    status_changed_at              timestamptz NOT NULL
);
-- What the expiry check scans: living labels by end of period.
CREATE INDEX cites_due ON cites (period_end) WHERE status IN ('labelled', 'suspended');
CREATE INDEX cites_by_wave ON cites (wave_id, status);
CREATE INDEX cites_by_departement ON cites (departement, status);

-- A cité's history: one row per label event, written in the event's transaction.
CREATE TABLE cite_history (
    id            bigserial   PRIMARY KEY,
    cite_id       text        NOT NULL REFERENCES cites (cite_id),
    kind          text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor_role    text,
    actor         text,
    motive        text,
    period_start  date,
    period_end    date,
    signed_on     date,
    effective_on  date,
    added         jsonb
);
CREATE INDEX cite_history_by_cite ON cite_history (cite_id, id);
