-- One database (`cites`), one LOGIN role and one schema per service.
--
-- Used by BOTH ways of running the platform:
--   * Docker: mounted in /docker-entrypoint-initdb.d/ of the postgres image, run by psql
--     against POSTGRES_DB=cites on the first start of an empty volume;
--   * no Docker: applied by deploy/local/launcher.py to the `cites` database on every `up`.
-- It is therefore idempotent: running it twice changes nothing.
--
-- DEV ONLY: each role's password is its own name (labelling/labelling, ...). A real
-- deployment creates the roles with secret passwords and skips this file.
--
-- Isolation: each role owns its schema and has no privilege on any other schema
-- (not even USAGE), nor on `public`; it cannot create schemas. Its search_path is its
-- own schema, so unqualified names land there.

-- Applied as one transaction by the launcher: take turns with the runtime's schema
-- provisioning (cites_runtime.db, the same lock), or two sessions changing the same
-- catalog rows at once fail one with "tuple concurrently updated".
SELECT pg_advisory_xact_lock(hashtext('cites:provision'));

-- Nobody but the owner (postgres) may use or create in `public`.
REVOKE ALL ON SCHEMA public FROM PUBLIC;

DO $init$
DECLARE
    services CONSTANT text[] := ARRAY['labelling', 'partners', 'funding', 'notifications',
                                           'dashboard'];
    svc text;
    other text;
BEGIN
    FOREACH svc IN ARRAY services LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = svc) THEN
            EXECUTE format(
                'CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L',
                svc, svc);
        ELSE
            EXECUTE format(
                'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L',
                svc, svc);
        END IF;

        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', svc, svc);
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', svc, svc);
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', svc);
        EXECUTE format('ALTER ROLE %I SET search_path = %I', svc, svc);
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), svc);
        -- No CREATE on the database: the role cannot add schemas of its own.
        EXECUTE format('REVOKE CREATE ON DATABASE %I FROM %I', current_database(), svc);
        EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', svc);
    END LOOP;

    -- Belt and braces: no role holds any privilege on another service's schema.
    FOREACH svc IN ARRAY services LOOP
        FOREACH other IN ARRAY services LOOP
            IF other <> svc THEN
                EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', other, svc);
            END IF;
        END LOOP;
    END LOOP;
END
$init$;
