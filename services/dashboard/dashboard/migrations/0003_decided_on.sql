-- The date each cité's label was decided in the programme (TerritoryLabelled.decided_on;
-- for events written before it was carried, the Paris date of labelled_at): the page
-- counts cités by the year they were labelled, as the programme dates them.
ALTER TABLE cites ADD COLUMN decided_on date;
UPDATE cites SET decided_on = (labelled_at AT TIME ZONE 'Europe/Paris')::date;
ALTER TABLE cites ALTER COLUMN decided_on SET NOT NULL;
