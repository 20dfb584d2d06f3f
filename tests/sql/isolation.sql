-- pgTAP: two-tenant isolation over the whole catalog. Every module's fixture
-- (abtest.fixture_*) fills tenants A and B; then, for EVERY table of schema agentbase with
-- a tenant_id column (partitioned parents stand for their partitions), the service acting
-- in tenant A must see none of B's rows, change or delete none, and insert none into B.
-- Each property is one test listing the offending tables, so the plan is fixed.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(14);

\set ta '''a1500000-0000-7000-8000-00000000000a'''
\set tb '''b1500000-0000-7000-8000-00000000000b'''

-- Every fixture, in name order, for A and then for B (as superuser).
SELECT abtest.fill(:ta), abtest.fill(:tb);

CREATE TEMP TABLE iso_tables AS
SELECT c.oid::regclass AS rel, c.relname::text AS name,
       has_table_privilege('agentbase_app', c.oid, 'SELECT') AS can_select
  FROM pg_class c
 WHERE c.relnamespace = 'agentbase'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped);

-- One row per offence: (property, table, detail).
CREATE TEMP TABLE iso_offences (property text, name text, detail text);

SELECT cmp_ok((SELECT count(*)::int FROM iso_tables), '>=', 10, 'the walk covers the tenant tables of every module');
SELECT ok((SELECT count(*) = 5 FROM iso_tables
            WHERE name IN ('users', 'api_keys', 'audit_logs', 'messages', 'tool_executions')),
          'the walk includes the core tables and the partitioned logs');

-- Fixture coverage, as superuser: B (and A) have rows in every tenant table.
DO $$
DECLARE
    r record;
    n bigint;
    t uuid;
BEGIN
    FOR r IN SELECT * FROM iso_tables ORDER BY name LOOP
        FOREACH t IN ARRAY ARRAY['a1500000-0000-7000-8000-00000000000a', 'b1500000-0000-7000-8000-00000000000b']::uuid[] LOOP
            EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id = $1', r.rel) INTO n USING t;
            IF n = 0 THEN
                INSERT INTO iso_offences VALUES ('coverage', r.name, 'no row of ' || left(t::text, 1));
            END IF;
        END LOOP;
    END LOOP;
END
$$;

-- As the service in tenant A. Every statement runs in a subtransaction that is rolled
-- back (by raising 'AB999' when it succeeded), so no check changes what the next sees.
SELECT abtest.become(:ta);
DO $$
DECLARE
    v_a constant uuid := 'a1500000-0000-7000-8000-00000000000a';
    v_b constant uuid := 'b1500000-0000-7000-8000-00000000000b';
    r record;
    n bigint;
    v_offences text[] := '{}';
    v_sql text;
    v_check record;
BEGIN
    FOR r IN SELECT * FROM iso_tables ORDER BY name LOOP
        IF r.can_select THEN
            EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id <> $1', r.rel) INTO n USING v_a;
            IF n <> 0 THEN
                v_offences := v_offences || ARRAY['read', r.name, n || ' rows of other tenants visible'];
            END IF;
            EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id = $1', r.rel) INTO n USING v_a;
            IF n = 0 THEN
                v_offences := v_offences || ARRAY['own', r.name, 'own rows not visible'];
            END IF;
        END IF;

        -- property, statement, whether 42501 (privilege or policy) counts as refusal
        FOR v_check IN
            SELECT * FROM (VALUES
                ('update', format('UPDATE %s SET tenant_id = tenant_id WHERE tenant_id = %L', r.rel, v_b)),
                ('delete', format('DELETE FROM %s WHERE tenant_id = %L', r.rel, v_b)),
                ('move', format('UPDATE %s SET tenant_id = %L WHERE tenant_id = %L', r.rel, v_b, v_a)),
                ('insert', format('INSERT INTO %s (tenant_id) VALUES (%L)', r.rel, v_b))) AS s(property, stmt)
        LOOP
            BEGIN
                EXECUTE v_check.stmt;
                GET DIAGNOSTICS n = ROW_COUNT;
                IF v_check.property = 'insert' THEN
                    v_offences := v_offences || ARRAY['insert', r.name, 'a row was inserted into B'];
                ELSIF n <> 0 THEN
                    v_offences := v_offences || ARRAY[v_check.property, r.name, n || ' rows affected'];
                END IF;
                RAISE EXCEPTION 'roll back' USING ERRCODE = 'AB999';
            EXCEPTION
                WHEN SQLSTATE 'AB999' THEN
                    NULL;
                WHEN insufficient_privilege THEN
                    NULL; -- refused: not allowed (append-only) or by a policy
                WHEN OTHERS THEN
                    -- Moving a row may also be stopped by a trigger (immutable rows); an
                    -- insert into B must be refused by RLS itself.
                    IF v_check.property IN ('insert', 'update', 'delete') THEN
                        v_offences := v_offences || ARRAY[v_check.property, r.name, SQLSTATE || ' ' || SQLERRM];
                    END IF;
            END;
        END LOOP;
    END LOOP;
    PERFORM set_config('abtest.iso_offences', array_to_string(v_offences, chr(31)), true);
END
$$;
SELECT abtest.unbecome();

INSERT INTO iso_offences
SELECT a[i], a[i + 1], a[i + 2]
  FROM (SELECT string_to_array(current_setting('abtest.iso_offences'), chr(31)) AS a) s,
       generate_series(1, coalesce(cardinality(a), 0), 3) AS i;

CREATE FUNCTION pg_temp.offenders(p_property text) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(name || ': ' || detail ORDER BY name), '{}') FROM iso_offences WHERE property = p_property
$$;

SELECT is(pg_temp.offenders('coverage'), '{}', 'the fixtures give A and B rows in every tenant table');
SELECT is(pg_temp.offenders('own'), '{}', 'the service in A sees A''s rows in every tenant table');
SELECT is(pg_temp.offenders('read'), '{}', 'the service in A sees no row of another tenant in any table');
SELECT is(pg_temp.offenders('update'), '{}', 'the service in A updates no row of B in any table');
SELECT is(pg_temp.offenders('delete'), '{}', 'the service in A deletes no row of B in any table');
SELECT is(pg_temp.offenders('move'), '{}', 'the service in A cannot move a row of A into B in any table');
SELECT is(pg_temp.offenders('insert'), '{}', 'an insert into B by the service in A fails with 42501 in every table');

-- The tenants table itself (no tenant_id column): A sees and changes only itself.
SELECT abtest.become(:ta);
SELECT results_eq($$SELECT id FROM tenants$$, ARRAY[:ta::uuid], 'the service in A sees only tenant A');
SELECT is_empty(format($$UPDATE tenants SET name = 'taken over' WHERE id = %L RETURNING id$$, :tb),
                'the service in A cannot update tenant B');
SELECT is_empty(format($$DELETE FROM tenants WHERE id = %L RETURNING id$$, :tb),
                'the service in A cannot delete tenant B');
SELECT throws_ok($$INSERT INTO tenants (slug, name) VALUES ('intruder', 'Intruder')$$, '42501', NULL,
                 'the service in A cannot create a tenant');
SELECT abtest.unbecome();
SELECT is((SELECT name FROM tenants WHERE id = :tb), 'Fixture tenant b1500000', 'tenant B is unchanged');

SELECT * FROM finish();
ROLLBACK;
