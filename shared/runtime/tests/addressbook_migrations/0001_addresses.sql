-- The address book of test_tombstones.py: what a consumer of testapp.cards keeps of a
-- person, what its handlers did in order, and the legal holds that make it refuse.
CREATE TABLE addresses (card_id text PRIMARY KEY, email text NOT NULL);
CREATE TABLE address_log (
    id      bigserial PRIMARY KEY,
    action  text NOT NULL,
    card_id text NOT NULL
);
CREATE TABLE legal_holds (card_id text PRIMARY KEY);
