-- A re-application for a cité's label (domain/label.py): the business date it was filed,
-- while no renewal or refusal has decided it. Pending, it keeps the label from expiring.
ALTER TABLE cites ADD COLUMN renewal_applied_on date;
