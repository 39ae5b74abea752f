-- One chef de file per collège: a collège leads at most one alliance not closed (open or
-- suspended: a suspended alliance keeps its chef de file until reinstated). The service
-- checks it first, to refuse with the collège's UAI and the cité it leads; this index
-- makes a second one impossible whatever runs concurrently.
--
-- The alliance row keeps its chef de file (the role is still held in memberships.roles,
-- written with it by the same statement) because a unique index covers one table only.
ALTER TABLE alliances ADD COLUMN chef_de_file_partner_id uuid REFERENCES partners;

-- Alliances of a collège that already led an older alliance not closed (possible before
-- this rule) are left NULL here, so the index can be built on a database holding them:
-- they are listed by the view below until each designates another chef de file (which
-- fills the column) or closes. The service's check reads memberships, so it refuses a
-- new designation of such a collège all the same.
WITH chefs AS (
    SELECT a.cite_id, m.partner_id, a.status,
           row_number() OVER (PARTITION BY m.partner_id, a.status = 'closed'
                              ORDER BY a.opened_at, a.cite_id) AS nth
    FROM alliances a
    JOIN memberships m ON m.cite_id = a.cite_id AND m.left_at IS NULL
                      AND 'chef_de_file' = ANY (m.roles))
UPDATE alliances a SET chef_de_file_partner_id = chefs.partner_id
FROM chefs
WHERE chefs.cite_id = a.cite_id AND (chefs.status = 'closed' OR chefs.nth = 1);

CREATE UNIQUE INDEX alliances_one_open_per_chef_de_file ON alliances (chef_de_file_partner_id)
    WHERE status <> 'closed';

-- Collèges chef de file of more than one alliance not closed (only from before this rule):
-- `SELECT * FROM colleges_leading_several_alliances` tells an operator which alliances
-- should designate another chef de file.
CREATE VIEW colleges_leading_several_alliances AS
    SELECT p.partner_id, p.uai, p.name,
           array_agg(a.cite_id ORDER BY a.opened_at, a.cite_id) AS cites
    FROM alliances a
    JOIN memberships m ON m.cite_id = a.cite_id AND m.left_at IS NULL
                      AND 'chef_de_file' = ANY (m.roles)
    JOIN partners p ON p.partner_id = m.partner_id
    WHERE a.status <> 'closed'
    GROUP BY p.partner_id, p.uai, p.name
    HAVING count(*) > 1;

-- Said too when this file is run with psql (the runtime's migrator shows no server warning).
DO $$
DECLARE
    shared record;
BEGIN
    FOR shared IN SELECT * FROM colleges_leading_several_alliances LOOP
        RAISE WARNING 'collège % (UAI %) is chef de file of several alliances not closed: %; '
                      'designate another chef de file in all but one',
                      shared.name, shared.uai, array_to_string(shared.cites, ', ');
    END LOOP;
END
$$;
