-- A cité's perimeter says which QPV list it refers to (2015: codes QP…, 2024: codes QN…).
-- The perimeters kept so far were told by events whose QPVs were all of the 2024 list.
UPDATE cites SET perimeter = perimeter || '{"qpv_list": "2024"}'
 WHERE perimeter IS NOT NULL AND NOT perimeter ? 'qpv_list';
