CREATE TABLE things (thing_id text PRIMARY KEY, n integer NOT NULL);
CREATE TABLE tally (
    event_id uuid PRIMARY KEY,
    thing_id text NOT NULL,
    n integer NOT NULL,
    sequence bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE flags (name text PRIMARY KEY);
