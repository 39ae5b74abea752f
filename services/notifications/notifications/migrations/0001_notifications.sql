-- Notifications: who may be written to (a projection built only from events), and every
-- notification (one message to one recipient, caused by one event) with its delivery.

-- Addresses, from the compacted per-person topics (labelling.contacts, partners.contacts).
-- The only table holding personal data: a tombstone or a ContactErased deletes the row.
CREATE TABLE contacts (
    contact_id     uuid        PRIMARY KEY,
    email          text        NOT NULL,
    source         text        NOT NULL CHECK (source IN ('troika', 'partner')),
    candidature_id uuid,
    troika_role    text,
    partner_id     uuid,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX contacts_of_partner ON contacts (partner_id) WHERE partner_id IS NOT NULL;

-- Candidatures and their troïka seats (labelling.candidatures), cités (labelling.labels).
CREATE TABLE candidatures (
    candidature_id uuid PRIMARY KEY,
    territory_name text NOT NULL,
    departement    text NOT NULL,
    troika         jsonb NOT NULL     -- [{"role": …, "contact_id": …}]
);

CREATE TABLE cites (
    cite_id          text PRIMARY KEY,
    candidature_id   uuid NOT NULL,
    name             text NOT NULL,
    departement      text NOT NULL,
    lead_college_uai text NOT NULL,
    label_end        date NOT NULL,
    status           text NOT NULL
);
CREATE INDEX cites_by_candidature ON cites (candidature_id);

-- Alliances (partners.alliances) and which contacts of a partner consent (registry).
CREATE TABLE alliances (
    cite_id                 text PRIMARY KEY,
    chef_de_file_partner_id uuid
);

CREATE TABLE members (
    cite_id    text    NOT NULL,
    partner_id uuid    NOT NULL,
    current    boolean NOT NULL,
    PRIMARY KEY (cite_id, partner_id)
);

CREATE TABLE partner_contacts (
    partner_id uuid NOT NULL,
    contact_id uuid NOT NULL,
    PRIMARY KEY (partner_id, contact_id)
);

-- Notifications: written in the transaction that consumes their cause (once per cause
-- event and recipient: the id is derived from both), rendered then; sent by the sender,
-- which claims a row ('sending', attempts + 1) and commits before the SMTP transaction,
-- so a crash between the server's acceptance and the 'sent' commit is seen (a claim older
-- than the lease) and resent with the same Message-ID. No address here: it is read from
-- ``contacts`` at send time, and an erased contact's pending mail fails unsent.
CREATE TABLE notifications (
    notification_id uuid        PRIMARY KEY,
    cause_event_id  uuid        NOT NULL,
    cause_type      text        NOT NULL,
    template        text        NOT NULL,
    recipient       jsonb       NOT NULL,  -- contracts' Recipient: by reference only
    contact_id      uuid,                  -- whose address to use (NULL once erased)
    candidature_id  uuid,
    cite_id         text,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_at      timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX notifications_due ON notifications (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_of_cite ON notifications (cite_id, created_at);
CREATE INDEX notifications_of_contact ON notifications (contact_id) WHERE contact_id IS NOT NULL;
