-- A row the broker refuses for good is parked (with the broker's error) instead of
-- blocking every row after it; `python -m <service> outbox parked|unpark` lists and
-- replays them.
ALTER TABLE outbox ADD COLUMN parked_at timestamptz, ADD COLUMN park_error text;
CREATE INDEX outbox_parked ON outbox (id) WHERE parked_at IS NOT NULL;
