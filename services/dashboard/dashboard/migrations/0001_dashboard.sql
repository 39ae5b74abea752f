-- The dashboard: a projection of the programme built from events only (nothing here is
-- decided; every row says what an event said), and the last probe of the platform's health.

-- Candidatures (labelling.candidatures, and labelling.labels for their labelling). Events of
-- two topics may come in either order: a status only moves forward (rank).
CREATE TABLE candidatures (
    candidature_id uuid     PRIMARY KEY,
    wave_id        text     NOT NULL,
    departement    text,
    status         text     NOT NULL CHECK (status IN ('submitted', 'under_review', 'labelled',
                                                       'rejected', 'withdrawn')),
    rank           smallint NOT NULL
);

-- Cités (labelling.labels), their label's status as labelling names it.
CREATE TABLE cites (
    cite_id     text        PRIMARY KEY,
    name        text        NOT NULL,
    wave_id     text        NOT NULL,
    wave_year   integer     NOT NULL,
    departement text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('labelled', 'suspended', 'withdrawn',
                                                       'expired')),
    labelled_at timestamptz NOT NULL
);
CREATE INDEX cites_by_departement ON cites (departement);

-- Alliances (partners.alliances) and their current members.
CREATE TABLE alliances (
    cite_id text PRIMARY KEY,
    status  text NOT NULL CHECK (status IN ('open', 'closed'))
);
CREATE TABLE alliance_members (
    cite_id      text NOT NULL,
    partner_id   uuid NOT NULL,
    partner_kind text NOT NULL,
    PRIMARY KEY (cite_id, partner_id)
);

-- Money (funding.envelopes, funding.allocations): envelopes, each allocation's programme
-- and year (commitments, payments and freezes name only the allocation), and every
-- movement an event told, signed as funding's ledger moves it.
CREATE TABLE envelopes (
    envelope_id  uuid      PRIMARY KEY,
    name         text      NOT NULL,
    programme    text      NOT NULL,
    budget_years integer[] NOT NULL,
    wave_ids     text[]    NOT NULL,
    amount       bigint    NOT NULL
);
CREATE TABLE allocations (
    allocation_id uuid    PRIMARY KEY,
    cite_id       text    NOT NULL,
    programme     text    NOT NULL,
    year          integer NOT NULL
);
CREATE TABLE movements (
    id        bigserial PRIMARY KEY,
    cite_id   text      NOT NULL,
    programme text      NOT NULL,
    year      integer   NOT NULL,
    movement  text      NOT NULL CHECK (movement IN ('allocate', 'grant', 'commit', 'cancel',
                                                     'pay', 'freeze', 'unfreeze', 'release',
                                                     'refused')),
    amount    bigint    NOT NULL
);
CREATE INDEX movements_by_cite ON movements (cite_id);

-- Notification outcomes (notifications.deliveries): the last one told per notification.
CREATE TABLE deliveries (
    notification_id uuid        PRIMARY KEY,
    status          text        NOT NULL CHECK (status IN ('sent', 'failed')),
    template        text        NOT NULL,
    at              timestamptz NOT NULL
);

-- The last probe of the platform's health (one row): what the page shows under "santé".
CREATE TABLE platform_health (
    id       integer     PRIMARY KEY CHECK (id = 1),
    taken_at timestamptz NOT NULL,
    body     jsonb       NOT NULL
);
