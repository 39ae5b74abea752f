-- Notifications joins facts from several topics (contacts, candidatures, labels, alliances,
-- registry), and a consumer gets no order between topics: an event may come before the
-- fact its recipients depend on (a label before its candidature's troïka, before its
-- alliance's chef de file). Such a cause waits here, keyed by the fact it waits for, and
-- is written when that fact is projected (then once per recipient, as ever).
CREATE TABLE awaiting (
    cause_id   uuid        NOT NULL,
    cause_type text        NOT NULL,
    version    integer     NOT NULL,
    facts      jsonb       NOT NULL,  -- the event's payload, as its contract says
    waits_for  text        NOT NULL,  -- 'candidature:<uuid>', 'cite:<id>', 'alliance:<cite>'
    created_at timestamptz NOT NULL,
    PRIMARY KEY (cause_id, waits_for)
);
CREATE INDEX awaiting_by_fact ON awaiting (waits_for);

-- Erased contacts, by id only (no personal data): a card of one that comes late, from
-- another topic than the erasure (ContactErased on partners.registry, its card on
-- partners.contacts), is not stored again.
CREATE TABLE erased_contacts (
    contact_id uuid        PRIMARY KEY,
    erased_at  timestamptz NOT NULL
);
