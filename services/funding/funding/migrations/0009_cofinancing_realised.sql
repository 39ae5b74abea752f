-- Co-financing as the funder declares it: planned (the declaration's amount), then what it
-- actually gave, once; and the funder as a partner of the alliance when it declared itself.
ALTER TABLE cofinancing ADD COLUMN funder_partner_id uuid;
ALTER TABLE cofinancing ADD COLUMN actual bigint CHECK (actual >= 0);
ALTER TABLE cofinancing ADD COLUMN realised_at timestamptz;
