-- What a submitted revue de projet reports (ProjectReviewSubmitted): the year's money as
-- funding's events told labelling, the commune's contribution, the action plan and the
-- indicators — what the national synthesis adds up per year.
ALTER TABLE reviews ADD COLUMN money                jsonb,
                    ADD COLUMN commune_contribution bigint,
                    ADD COLUMN actions              jsonb,
                    ADD COLUMN indicators           jsonb;
