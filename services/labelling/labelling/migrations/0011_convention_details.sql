-- A period's convention-cadre: who signed it (parties and institutions, never persons) and
-- its amendments (avenants), numbered in order.
ALTER TABLE label_periods ADD COLUMN signatories jsonb NOT NULL DEFAULT '[]',
                          ADD COLUMN amendments  jsonb NOT NULL DEFAULT '[]';
