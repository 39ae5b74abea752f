-- The relay's leadership: the active relay holds this table locked (EXCLUSIVE mode) in a
-- transaction left open on a session of its own. A table lock, not an advisory lock: only
-- this schema's role can take it (no other role has USAGE on the schema), so another
-- service cannot hold this service's relay back. It never holds a row.
CREATE TABLE relay_leader ();
