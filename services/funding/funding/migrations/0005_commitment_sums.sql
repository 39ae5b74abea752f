-- What a commitment paid and what recovery orders asked back from it, kept on its row
-- (store.insert_payment and store.insert_recovery add to them in the statement that
-- inserts the payment or the order) rather than summed from payments and recoveries on
-- every read of a commitment, the payment's path included.
ALTER TABLE commitments
    ADD COLUMN paid    bigint NOT NULL DEFAULT 0,
    ADD COLUMN ordered bigint NOT NULL DEFAULT 0;

UPDATE commitments c
SET paid = coalesce((SELECT sum(p.amount) FROM payments p
                     WHERE p.commitment_id = c.commitment_id), 0),
    ordered = coalesce((SELECT sum(r.amount) FROM recoveries r
                        WHERE r.commitment_id = c.commitment_id), 0);
