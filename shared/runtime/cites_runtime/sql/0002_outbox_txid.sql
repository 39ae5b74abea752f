-- The transaction that wrote each outbox row: the relay publishes a row only once every
-- transaction that could still add an earlier row has finished (see relay.py).
ALTER TABLE outbox ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
