-- Each labelled cité's alliance éducative and its members with their roles.

CREATE TABLE alliances (
    cite_id         text        PRIMARY KEY,
    name            text        NOT NULL,
    departement     text        NOT NULL,
    wave_id         text        NOT NULL,
    candidature_id  uuid        NOT NULL,
    label_start     date        NOT NULL,
    label_end       date        NOT NULL,
    -- The schools of the perimeter as labelling last described them (uai, kind, name,
    -- education_priority): replaced on each PerimeterExtended.
    schools         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'open'
                                CHECK (status IN ('open', 'suspended', 'closed')),
    opened_at       timestamptz NOT NULL,
    suspended_at    timestamptz,
    closed_at       timestamptz,
    closure_reason  text        CHECK (closure_reason IN ('label_withdrawn', 'label_expired')),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL AND closure_reason IS NOT NULL))
);
CREATE INDEX alliances_by_departement ON alliances (departement, cite_id);

-- A membership row is never deleted: leaving sets left_at (the alliance's history).
CREATE TABLE memberships (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cite_id      text        NOT NULL REFERENCES alliances,
    partner_id   uuid        NOT NULL REFERENCES partners,
    -- May become empty: a former chef de file whose only role that was stays a member.
    roles        text[]      NOT NULL CHECK (roles <@ ARRAY['chef_de_file', 'coordinator',
                                 'steering_committee', 'funder', 'action_operator']),
    joined_at    timestamptz NOT NULL,
    left_at      timestamptz,
    left_motive  text
);
CREATE UNIQUE INDEX memberships_once_at_a_time ON memberships (cite_id, partner_id)
    WHERE left_at IS NULL;
-- Exactly one chef de file per alliance: the domain guarantees at least one, this index
-- makes a second one impossible whatever the code does.
CREATE UNIQUE INDEX memberships_one_chef_de_file ON memberships (cite_id)
    WHERE left_at IS NULL AND 'chef_de_file' = ANY (roles);
CREATE INDEX memberships_of_partner ON memberships (partner_id, joined_at);
