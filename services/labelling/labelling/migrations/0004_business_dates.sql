-- Business time (domain/label.py): a decision carries the date it takes effect in the
-- programme, apart from when the service recorded it.
--
-- Waves say how their labels' periods are drawn: whole calendar years for the 2019–2022
-- waves (the 2019 cités, announced on 5 September 2019, were labelled for 2020–2022; those
-- of January 2021 for 2021–2023, of January 2022 for 2022–2024), whole years from the
-- decision date otherwise.
ALTER TABLE waves ADD COLUMN label_calendar boolean NOT NULL DEFAULT false;
UPDATE waves SET label_calendar = true WHERE id IN ('2019', '2021', '2022');

-- A cité's decision date and the date its current status took effect. Cités labelled
-- before these were carried took effect on the day they were recorded (Paris dates, as
-- the service's clock reads them).
ALTER TABLE cites ADD COLUMN decided_on date, ADD COLUMN status_since date;
UPDATE cites
   SET decided_on = (labelled_at AT TIME ZONE 'Europe/Paris')::date,
       status_since = (status_changed_at AT TIME ZONE 'Europe/Paris')::date;
ALTER TABLE cites ALTER COLUMN decided_on SET NOT NULL,
                  ALTER COLUMN status_since SET NOT NULL;
