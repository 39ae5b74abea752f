-- A decision of the coordination (suspension, withdrawal, renewal or its refusal) may cite
-- the cité's revue de projet it rests on: the cité's history keeps which.
ALTER TABLE cite_history ADD COLUMN review_id uuid;
