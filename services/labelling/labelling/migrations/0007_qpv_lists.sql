-- A wave's perimeters refer to one QPV list: the 2015 list (codes QP…) for the 2019,
-- 2021 and 2022 waves, the 2024 list (codes QN…) for the généralisation and the waves
-- planned since. A cité's perimeter says which list it refers to; the perimeters stored
-- so far hold codes of the 2024 list only (the only one accepted when they were filed).
ALTER TABLE waves ADD COLUMN qpv_list text NOT NULL DEFAULT '2024'
    CHECK (qpv_list IN ('2015', '2024'));
UPDATE waves SET qpv_list = '2015' WHERE id IN ('2019', '2021', '2022');
ALTER TABLE waves ALTER COLUMN qpv_list DROP DEFAULT;

UPDATE cites SET perimeter = perimeter || '{"qpv_list": "2024"}'
 WHERE NOT perimeter ? 'qpv_list';
