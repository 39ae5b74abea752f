-- A wave may be a test wave (training, acceptance): it runs like any other, every event
-- naming it says so, and its cités are never published as open data. The programme's
-- waves are real ones.
ALTER TABLE waves ADD COLUMN test boolean NOT NULL DEFAULT false;
