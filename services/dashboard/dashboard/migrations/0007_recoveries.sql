-- Orders to repay a subsidy and their receipts, counted in the money lines of the
-- commitment's allocation (as funding's ledger counts them): each commitment's allocation
-- is kept when it is committed (recovery events name the commitment only).
CREATE TABLE commitment_allocations (
    commitment_id uuid PRIMARY KEY,
    allocation_id uuid NOT NULL
);

ALTER TABLE movements DROP CONSTRAINT movements_movement_check;
ALTER TABLE movements ADD CONSTRAINT movements_movement_check CHECK (movement IN (
    'allocate', 'grant', 'commit', 'cancel', 'pay', 'freeze', 'unfreeze', 'release',
    'refused', 'spend', 'order', 'recover'));
