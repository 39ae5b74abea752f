-- The same state for the consumer whose handler writes one event at a time (handles), read
-- from the same topic as the set-based one: the two are compared in one run.
CREATE TABLE alliances_one_by_one (LIKE alliances INCLUDING ALL);
