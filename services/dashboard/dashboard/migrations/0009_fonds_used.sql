-- What the collèges used of their fonds de la cité (FondsUsed), by the programme each part
-- was drawn from and the grant's year, as funding's ledger counts it.
ALTER TABLE movements DROP CONSTRAINT movements_movement_check;
ALTER TABLE movements ADD CONSTRAINT movements_movement_check CHECK (movement IN (
    'allocate', 'grant', 'use', 'commit', 'cancel', 'pay', 'freeze', 'unfreeze', 'release',
    'refused', 'spend', 'order', 'recover'));
