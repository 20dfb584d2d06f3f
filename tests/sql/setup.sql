-- Installed by the test harness (never by a migration) into the database that pg_prove
-- runs tests/sql/*.sql against: pgTAP, and helpers for acting as the service role.
CREATE EXTENSION IF NOT EXISTS pgtap SCHEMA public;
CREATE SCHEMA IF NOT EXISTS abtest;

-- Acts as p_role (default agentbase_app) inside p_tenant for the rest of the transaction,
-- or until abtest.unbecome(). pgTAP keeps its state in temporary tables owned by the
-- connecting user; the role we become must be able to write them.
CREATE OR REPLACE FUNCTION abtest.become(p_tenant uuid, p_role text DEFAULT 'agentbase_app')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel, c.relkind
               FROM pg_class c
              WHERE c.relnamespace = pg_my_temp_schema() LOOP
        IF r.relkind = 'S' THEN
            EXECUTE format('GRANT USAGE, SELECT, UPDATE ON SEQUENCE %s TO %I', r.rel, p_role);
        ELSIF r.relkind IN ('r', 'p') THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', r.rel, p_role);
        END IF;
    END LOOP;
    PERFORM agentbase.set_request_context(p_tenant, 'system', 'abtest');
    EXECUTE format('SET LOCAL ROLE %I', p_role);
END
$$;

CREATE OR REPLACE FUNCTION abtest.unbecome() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RESET ROLE;
    PERFORM agentbase.set_request_context(NULL);
END
$$;
GRANT USAGE ON SCHEMA abtest TO PUBLIC;

-- Every module's fixture (abtest.fixture_*, installed after this file), in name order, for
-- tenant p_tenant: rows in every tenant table, all of them the fixtures' admin's. As the
-- superuser.
CREATE OR REPLACE FUNCTION abtest.fill(p_tenant uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    f name;
BEGIN
    FOR f IN SELECT proname FROM pg_proc
              WHERE pronamespace = 'abtest'::regnamespace AND proname LIKE 'fixture\_%'
              ORDER BY proname LOOP
        EXECUTE format('SELECT abtest.%I($1)', f) USING p_tenant;
    END LOOP;
END
$$;

-- The plan PostgreSQL chooses for a statement, as one text (EXPLAIN's lines joined).
CREATE OR REPLACE FUNCTION abtest.plan(p_statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_line text;
    v_plan text := '';
BEGIN
    FOR v_line IN EXECUTE 'EXPLAIN ' || p_statement LOOP
        v_plan := v_plan || v_line || E'\n';
    END LOOP;
    RETURN v_plan;
END
$$;
