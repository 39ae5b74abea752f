-- The start of a cité's label, for the label-expiry reminders' period (NULL for cités
-- projected before this column: they get no reminder until labelled again).
ALTER TABLE cites ADD COLUMN label_start date;
